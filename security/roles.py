"""The roles and what each may open: FAB builtin roles, as (view regex, permission regex) pairs.

Which rows a role sees inside a view is decided by ``security.scope``; this table only says
which views and actions a role reaches at all. Anything not listed answers 403.
"""

PROVINCE = "省级卫生行政"
CITY = "市级卫生行政"
DISTRICT = "区县卫生行政"
INSTITUTION = "医疗卫生机构"
ASSESSMENT = "考核机构"
PHYSICIAN = "医师"
OPERATOR = "系统运维"
SYSADMIN = "系统管理员"

ADMINISTRATION_ROLES = (PROVINCE, CITY, DISTRICT)
STAFF_ROLES = ADMINISTRATION_ROLES + (INSTITUTION, ASSESSMENT, OPERATOR, SYSADMIN)

READ = "can_list|can_show|menu_access"
# FAB names an action's permission after the action itself ("reset_password", no "can_").
WRITE = "can_list|can_show|can_add|can_edit|can_delete|menu_access"

# 监考管理: who may mark, remove a mark or decide is the scope's (security.scope).
_PROCTORING = ("can_index|can_detail|can_picture|can_mark|can_revoke|can_decide|can_export|"
               "menu_access")

# Every logged-in staff member: the home page, account settings, the subject catalogue.
_COMMON_STAFF = [
    ["HomeView", "can_index|can_confirm_cycle"],
    ["FileView", "can_open"],
    ["ExportView", "can_index|can_rows|can_download|menu_access"],
    ["Reports", "menu_access"],
    ["AccountView", "can_.*"],
    ["SubjectView", READ],
    ["Home", "menu_access"],
    # The read API's OpenAPI description and its Swagger UI (/swagger/v1): staff only.
    ["SwaggerView", "can_show"],
    ["OpenApi", "can_get"],
]
# 历史考核结果查询, 打印 / 批量打印 / 导出 certificates (views.certificate).
_CERTIFICATES = "can_index|can_export|can_print|can_pdf|can_batch|can_job|menu_access"
_ADMINISTRATION = _COMMON_STAFF + [
    ["OverviewView", "can_index|menu_access"],
    ["EnrollmentView", "reject_by_administration|can_reject_form|can_export"],
    ["EnrollmentView|PaperResultView", "can_export|print_certificates"],
    ["AdministrationView", READ + "|reset_password"],
    ["InstitutionView", WRITE + "|reset_password|open_application|close_application"],
    ["DepartmentView", READ],
    ["PhysicianView", READ],
    ["CycleView", READ],
    ["ScheduleWindowView", READ],
    ["EnrollmentView", READ],
    ["ExemptionView", READ],
    ["ExamAttemptView", READ],
    ["PaperResultView", READ],
    ["SnapshotView", READ],
    ["ProctoringView", _PROCTORING],
    ["AuditLogView", READ],
    ["AssessmentApplicationView", READ + "|approve|reject|can_reject"],
    # 管辖关系导入: the administrations and institutions below, with their accounts.
    ["TreeImportView", "can_upload|can_template|menu_access"],
    ["Institutions|Physicians|Assessment|Administration|Exams", "menu_access"],
    ["PhysicianApi|InstitutionApi|EnrollmentApi", "can_get|can_info"],
    ["CertificateView", _CERTIFICATES + "|can_revoke"],
]
_INSTITUTION = _COMMON_STAFF + [
    ["EnrollmentView|PaperResultView", "can_export|print_certificates"],
    ["ExemptionView", "approve|reject|can_reject_form"],
    ["DepartmentView", WRITE + "|disable|enable"],
    ["PhysicianView", WRITE + "|allow_enrollment|reset_password|cancel_enrollment"
     "|can_cancel_enrollment|transfer_out|can_transfer_out"],
    ["TransferInView", "can_search|menu_access"],
    ["RosterImportView", "can_upload|can_template|menu_access"],
    ["MyInstitutionView", "can_edit|menu_access"],
    ["ApplicationView", "can_page|can_upload|can_submit|menu_access"],
    ["ReviewView", "can_index|can_detail|can_institution|menu_access"],
    ["EnrollmentView", READ],
    ["ExemptionView", READ],
    ["ExamAttemptView", READ],
    ["PaperResultView", READ],
    ["SnapshotView", READ],
    ["ProctoringView", _PROCTORING],
    ["CycleView", READ],
    ["AssessmentApplicationView", READ],
    ["InstitutionView", "can_list|can_show"],
    ["Institutions|Physicians|Assessment|Exams", "menu_access"],
    ["PhysicianApi|InstitutionApi|EnrollmentApi", "can_get|can_info"],
    ["CertificateView", _CERTIFICATES],
]

ROLE_PERMISSIONS = {
    PROVINCE: _ADMINISTRATION
    + [
        ["CycleView", WRITE],
        ["ScheduleWindowView", WRITE],
        ["AdministrationView", WRITE],
        ["PaperView", WRITE],
        ["QuestionView", WRITE],
        ["QuestionImportView", "can_upload|can_template|can_export|menu_access"],
        # 补考管理: the province confirms or declines the make-up.
        ["MakeupView", READ + "|confirm_makeup|decline_makeup|can_decline|can_export"],
    ],
    CITY: _ADMINISTRATION + [["AdministrationView", WRITE]],
    DISTRICT: list(_ADMINISTRATION),
    INSTITUTION: _INSTITUTION,
    # An assessment institution is also a medical institution; its account holds both roles.
    ASSESSMENT: _INSTITUTION + [["ReviewView", "can_assessment"]],
    PHYSICIAN: [
        ["SelfServiceView", "can_.*"],
        ["ExamView", "can_.*"],
        ["StudyView", "can_.*"],
        ["CertificateView", "can_print|can_pdf"],
        ["FileView", "can_open"],
        ["AccountView", "can_.*"],
    ],
    SYSADMIN: [[".*", ".*"]],
    OPERATOR: _COMMON_STAFF
    + [
        ["AdministrationView|InstitutionView|PhysicianView|EnrollmentView", READ],
        ["EnrollmentView|PaperResultView", "can_export"],
        ["PaperResultView", READ],
        ["OverviewView", "can_index|menu_access"],
        # 运维: queues, workers, jobs (with retry), the SMS outbox, Redis and database in use.
        ["OpsView", "can_index|can_retry|menu_access"],
        ["SmsOutboxView", READ],
        ["AuditLogView", READ],
        ["Institutions|Physicians|Assessment|Administration|System|Exams", "menu_access"],
    ],
}


def _anchored(pairs):
    # FAB matches these with re.match, which anchors only the start: "PhysicianView" would
    # also grant "PhysicianViewExport". Anchor both ends.
    return [[f"(?:{view})$", f"(?:{perm})$"] for view, perm in pairs]


ROLE_PERMISSIONS = {role: _anchored(pairs) for role, pairs in ROLE_PERMISSIONS.items()}

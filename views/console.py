"""The staff console: ModelViews generated from the models, scoped through ``views.base``.

Menus follow the manuals: 首页, 机构信息, 医师管理, 考核管理, 行政管理, 系统管理.
"""
from flask import flash, redirect, request
from flask_appbuilder import action
from flask_appbuilder.models.sqla.filters import FilterEqual, FilterStartsWith
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models import (
    Administration,
    AssessmentApplication,
    AuditLog,
    Cycle,
    Department,
    Enrollment,
    ExamAttempt,
    Exemption,
    Institution,
    Paper,
    Physician,
    Question,
    ScheduleWindow,
    SmsMessage,
    Snapshot,
    Subject,
)
from models.account import AppUser
from models.audit import record as audit
from security import accounts, scope
from views.base import ScopedModelView, scoped

_LABELS = {
    "name": _l("Name"),
    "level_label": _l("Level"),
    "level": _l("Level"),
    "parent": _l("Parent"),
    "region_code": _l("Region code"),
    "contact": _l("Contact"),
    "phone": _l("Phone"),
    "mobile": _l("Mobile"),
    "account": _l("Institution account"),
    "administration": _l("Administration"),
    "type": _l("Institution type"),
    "type_label": _l("Institution type"),
    "grade": _l("Institution grade"),
    "grade_label": _l("Institution grade"),
    "beds": _l("Approved beds"),
    "legal_representative": _l("Legal representative"),
    "address_province": _l("Province"),
    "address_city": _l("City"),
    "address_district": _l("District"),
    "address_street": _l("Street address"),
    "is_assessment": _l("Assessment institution"),
    "assessment_institution": _l("Assigned assessment institution"),
    "application_open": _l("May apply as assessment institution"),
    "institution": _l("Institution"),
    "subjects": _l("Linked subjects"),
    "enabled": _l("Status"),
    "status_label": _l("Status"),
    "code": _l("Code"),
    "id_number": _l("ID number"),
    "masked_id_number": _l("ID number"),
    "id_type": _l("ID type"),
    "gender": _l("Gender"),
    "gender_label": _l("Gender"),
    "birth_date": _l("Birth date"),
    "department": _l("Department"),
    "practice_category": _l("Practice category"),
    "practice_category_label": _l("Practice category"),
    "physician_level": _l("Physician level"),
    "certificate_date": _l("Practice certificate date"),
    "certificate_no": _l("Practice certificate number"),
    "qualification_no": _l("Qualification certificate number"),
    "first_registration_date": _l("First registration date"),
    "roster_status_label": _l("Roster status"),
    "roster_status": _l("Roster status"),
    "start_date": _l("Start date"),
    "end_date": _l("End date"),
    "cutoff_date": _l("Cut-off date"),
    "is_current": _l("Current cycle"),
    "cycle": _l("Cycle"),
    "kind": _l("Kind"),
    "kind_label": _l("Kind"),
    "physician": _l("Physician"),
    "state": _l("State"),
    "state_label": _l("State"),
    "procedure_label": _l("Procedure"),
    "submitted_at": _l("Submitted at"),
    "condition": _l("Exemption condition"),
    "paper": _l("Paper"),
    "score": _l("Score"),
    "passed": _l("Passed"),
    "started_at": _l("Started at"),
    "similarity": _l("Similarity"),
    "suspected": _l("Suspected cheating"),
    "taken_at": _l("Taken at"),
    "at": _l("Time"),
    "username": _l("Operator"),
    "entity": _l("Record"),
    "entity_id": _l("Record id"),
    "action": _l("Action"),
    "from_state": _l("From"),
    "to_state": _l("To"),
    "reason": _l("Reason"),
    "body": _l("Message"),
    "created_at": _l("Created at"),
    "expires_at": _l("Expires at"),
    "used_at": _l("Used at"),
    "duration_minutes": _l("Duration (minutes)"),
    "pass_mark": _l("Pass mark"),
    "max_attempts": _l("Attempts allowed"),
    "stem": _l("Question"),
    "answer": _l("Answer"),
}


def _labels(*columns):
    return {column: _LABELS[column] for column in columns if column in _LABELS}


class ConsoleView(ScopedModelView):
    """Labels come from one table so that a column reads the same in every view."""

    def __init__(self, *args, **kwargs):
        columns = set(self.list_columns or []) | set(self.show_columns or [])
        columns |= set(self.add_columns or []) | set(self.edit_columns or [])
        columns |= set(self.search_columns or [])
        self.label_columns = {**_labels(*columns), **(self.label_columns or {})}
        super().__init__(*args, **kwargs)


class ResetPasswordMixin:
    """重置密码 by the level above: the accounts linked to the selected records go back to
    666666 with a forced change (a physician's mobile is unbound too, in accounts)."""

    account_link = None  # name of the AppUser column pointing at this view's model
    reset_message = _l("Password reset to 666666")

    def audit_place(self, item):
        return {"institution": getattr(item, "institution", None)}

    def may_reset(self, item):
        return True

    @action("reset_password", _l("Reset password"), _l("Reset the password to 666666?"),
            "fa-key", single=True, multiple=True)
    def reset_password(self, items):
        if not all(self.may_reset(item) for item in items):
            flash("只能重置下级账号的密码，本级账号请在【账户设置】中修改密码", "danger")
            return redirect(self.get_redirect())
        link = getattr(AppUser, self.account_link)
        users = db.session.query(AppUser).filter(link.in_([i.id for i in items]))
        for user in users:
            accounts.reset_password(user)
        for item in items:
            audit(self.datamodel.obj.__tablename__, item.id, "reset_password",
                  **self.audit_place(item))
        db.session.commit()
        flash(str(self.reset_message), "success")
        return redirect(self.get_redirect())


class AdministrationView(ResetPasswordMixin, ConsoleView):
    datamodel = scoped(Administration)
    list_title = show_title = _l("Administrations")
    list_columns = ["name", "level_label", "parent", "contact", "phone"]
    show_columns = ["name", "level_label", "region_code", "parent", "contact", "phone"]
    add_columns = edit_columns = ["name", "level", "region_code", "parent", "contact", "phone"]
    search_columns = ["name", "level"]

    account_link = "administration_id"

    def audit_place(self, item):
        return {"admin_path": item.path}

    def may_reset(self, item):
        # An administration resets the levels below it, never its own account.
        return item.path != scope.current_actor().admin_path

    def post_add(self, item):
        item.assign_path()
        db.session.commit()


class InstitutionView(ResetPasswordMixin, ConsoleView):
    datamodel = scoped(Institution)
    list_title = show_title = _l("Institutions")
    list_columns = [
        "name", "account", "administration", "type_label", "level_label", "grade_label",
        "is_assessment", "assessment_institution",
    ]
    show_columns = [
        "name", "account", "administration", "address_province", "address_city",
        "address_district", "address_street", "type_label", "level_label", "grade_label",
        "beds", "legal_representative", "contact", "phone", "mobile", "is_assessment",
        "assessment_institution", "application_open",
    ]
    add_columns = edit_columns = [
        "name", "account", "administration", "address_province", "address_city",
        "address_district", "address_street", "type", "level", "grade", "beds",
        "legal_representative", "contact", "phone", "mobile", "assessment_institution",
    ]
    search_columns = ["name", "account", "type", "level", "is_assessment", "administration"]
    account_link = "institution_id"

    def audit_place(self, item):
        return {"institution": item}

    def before_save(self, item):
        if item.administration is not None:
            item.admin_path = item.administration.path



class DepartmentView(ConsoleView):
    datamodel = scoped(Department)
    list_title = show_title = _l("Departments")
    list_columns = ["name", "subjects", "status_label", "institution"]
    show_columns = ["name", "subjects", "status_label", "institution"]
    add_columns = edit_columns = ["name", "subjects", "enabled"]
    search_columns = ["name", "enabled"]

    def before_save(self, item):
        actor = scope.current_actor()
        if actor.kind == scope.INSTITUTION:
            item.institution_id = actor.institution_id
        if item.institution_id is None:
            raise ValueError("请选择所属机构")


class SubjectView(ConsoleView):
    datamodel = scoped(Subject)
    list_title = show_title = _l("Diagnosis and treatment subjects")
    list_columns = ["code", "name", "parent"]
    search_columns = ["code", "name"]
    base_permissions = ["can_list", "can_show"]


class PhysicianView(ResetPasswordMixin, ConsoleView):
    datamodel = scoped(Physician)
    list_title = show_title = _l("Physician list")
    list_columns = [
        "name", "masked_id_number", "department", "practice_category_label", "level_label",
        "certificate_date", "first_registration_date", "roster_status_label",
    ]
    show_columns = [
        "name", "id_number", "gender_label", "birth_date", "institution", "department",
        "practice_category_label", "level_label", "certificate_no", "certificate_date",
        "qualification_no", "first_registration_date", "roster_status_label", "mobile",
    ]
    add_columns = edit_columns = [
        "name", "id_number", "gender", "birth_date", "department", "practice_category",
        "level", "certificate_no", "certificate_date", "qualification_no",
        "first_registration_date",
    ]
    search_columns = [
        "name", "id_number", "department", "practice_category", "level",
        "first_registration_date", "roster_status",
    ]
    label_columns = {"level": _l("Physician level")}
    base_order = ("id", "asc")
    account_link = "physician_id"
    reset_message = _l("Password reset to 666666; the mobile number is unbound")

    def before_save(self, item):
        from security import idcard

        try:
            item.id_number = idcard.normalize(item.id_number)
        except idcard.InvalidIdNumber as error:
            raise ValueError(str(error)) from None
        actor = scope.current_actor()
        if actor.kind == scope.INSTITUTION and item.institution_id is None:
            item.institution_id = actor.institution_id



class CycleView(ConsoleView):
    datamodel = scoped(Cycle)
    list_title = show_title = _l("Assessment cycles")
    list_columns = ["name", "start_date", "end_date", "cutoff_date", "is_current"]
    add_columns = edit_columns = ["name", "start_date", "end_date", "cutoff_date", "is_current"]

    def before_save(self, item):
        actor = scope.current_actor()
        if item.administration_id is None and actor.admin_path:
            root_id = int(actor.admin_path.strip("/").split("/")[0])
            item.administration_id = root_id


class ScheduleWindowView(ConsoleView):
    datamodel = scoped(ScheduleWindow)
    list_title = show_title = _l("Schedule")
    list_columns = ["cycle", "kind_label", "start_date", "end_date"]
    add_columns = edit_columns = ["cycle", "kind", "start_date", "end_date"]


class EnrollmentView(ConsoleView):
    datamodel = scoped(Enrollment)
    list_title = show_title = _l("Enrollment progress")
    list_columns = ["physician", "institution", "cycle", "procedure_label", "state_label",
                    "submitted_at"]
    search_columns = ["state", "procedure", "cycle", "institution"]
    base_permissions = ["can_list", "can_show"]


class ExemptionView(ConsoleView):
    datamodel = scoped(Exemption)
    list_title = show_title = _l("Exemptions")
    list_columns = ["enrollment", "condition", "state_label", "created_at"]
    search_columns = ["state"]
    base_permissions = ["can_list", "can_show"]
    label_columns = {"enrollment": _l("Enrollment")}


class PaperView(ConsoleView):
    datamodel = scoped(Paper)
    list_title = show_title = _l("Papers")
    list_columns = ["name", "cycle", "kind_label", "procedure", "duration_minutes", "pass_mark",
                    "max_attempts"]
    add_columns = edit_columns = ["name", "cycle", "kind", "procedure", "practice_category",
                                  "level", "is_mock", "opens_at", "closes_at",
                                  "duration_minutes", "pass_mark", "max_attempts"]


class QuestionView(ConsoleView):
    datamodel = scoped(Question)
    list_title = show_title = _l("Questions")
    list_columns = ["paper", "type", "stem", "answer"]
    add_columns = edit_columns = ["paper", "type", "stem", "options", "answer", "score"]


class ExamAttemptView(ConsoleView):
    datamodel = scoped(ExamAttempt)
    list_title = show_title = _l("Exam progress")
    list_columns = ["enrollment", "paper", "started_at", "submitted_at", "score", "passed"]
    base_permissions = ["can_list", "can_show"]
    label_columns = {"enrollment": _l("Enrollment")}


class SnapshotView(ConsoleView):
    datamodel = scoped(Snapshot)
    list_title = show_title = _l("Proctoring")
    list_columns = ["attempt", "taken_at", "similarity", "suspected"]
    search_columns = ["similarity", "suspected"]
    base_permissions = ["can_list", "can_show"]
    label_columns = {"attempt": _l("Exam attempt")}


class AuditLogView(ConsoleView):
    datamodel = scoped(AuditLog)
    list_title = show_title = _l("Audit log")
    list_columns = ["at", "username", "entity", "entity_id", "action", "from_state", "to_state",
                    "reason"]
    search_columns = ["entity", "action", "username", "at"]
    base_order = ("id", "desc")
    base_permissions = ["can_list", "can_show"]


class SmsOutboxView(ConsoleView):
    datamodel = scoped(SmsMessage)
    list_title = show_title = _l("SMS outbox")
    list_columns = ["mobile", "body", "created_at", "expires_at", "used_at"]
    search_columns = ["mobile"]
    base_order = ("id", "desc")
    base_permissions = ["can_list", "can_show"]


class AssessmentApplicationView(ConsoleView):
    datamodel = scoped(AssessmentApplication)
    list_title = show_title = _l("Assessment institution applications")
    list_columns = ["institution", "cycle", "state_label", "submitted_at"]
    base_permissions = ["can_list", "can_show"]


def register(appbuilder):
    add = appbuilder.add_view
    add(InstitutionView, "InstitutionView", label=_l("Institution management"),
        icon="fa-hospital", category="Institutions", category_label=_l("Institution info"))
    add(DepartmentView, "DepartmentView", label=_l("Departments"), icon="fa-sitemap",
        category="Institutions")
    add(AssessmentApplicationView, "AssessmentApplicationView",
        label=_l("Apply as assessment institution"), icon="fa-file", category="Institutions")
    add(SubjectView, "SubjectView", label=_l("Diagnosis and treatment subjects"),
        icon="fa-list", category="Institutions")
    add(PhysicianView, "PhysicianView", label=_l("Physician list"), icon="fa-user-md",
        category="Physicians", category_label=_l("Physician management"))
    add(EnrollmentView, "EnrollmentView", label=_l("Enrollment progress"), icon="fa-tasks",
        category="Assessment", category_label=_l("Assessment management"))
    add(ExemptionView, "ExemptionView", label=_l("Exemption review"), icon="fa-check",
        category="Assessment")
    add(ExamAttemptView, "ExamAttemptView", label=_l("Exam progress"), icon="fa-pencil",
        category="Exams", category_label=_l("Exams"))
    add(SnapshotView, "SnapshotView", label=_l("Proctoring"), icon="fa-camera",
        category="Exams")
    add(PaperView, "PaperView", label=_l("Papers"), icon="fa-book", category="Exams")
    add(QuestionView, "QuestionView", label=_l("Questions"), icon="fa-question",
        category="Exams")
    add(AdministrationView, "AdministrationView", label=_l("Administrations"),
        icon="fa-university", category="Administration",
        category_label=_l("Administration"))
    add(CycleView, "CycleView", label=_l("Assessment cycles"), icon="fa-calendar",
        category="Administration")
    add(ScheduleWindowView, "ScheduleWindowView", label=_l("Schedule"), icon="fa-clock",
        category="Administration")
    add(AuditLogView, "AuditLogView", label=_l("Audit log"), icon="fa-history",
        category="Administration")
    add(SmsOutboxView, "SmsOutboxView", label=_l("SMS outbox"), icon="fa-envelope",
        category="System", category_label=_l("System"))

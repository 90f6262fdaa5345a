"""Column labels of the console, one table so that a column reads the same in every view."""
from flask_babel import lazy_gettext as _l

LABELS = {
    "name": _l("Name"),
    "level_label": _l("Level"),
    "level": _l("Level"),
    "parent": _l("Parent"),
    "region_code": _l("Region code"),
    "contact": _l("Contact"),
    "phone": _l("Phone"),
    "mobile": _l("Mobile"),
    "account": _l("Institution account"),
    "administration": _l("Competent administration"),
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
    "decided_at": _l("Decided at"),
    "deadline": _l("Deadline"),
    "submitted": _l("Submitted"),
    "enrollment": _l("Physician"),
    "attempt": _l("Physician"),
    "proof": _l("Proof"),
    "waived_paper": _l("Waived paper"),
    "reject_reason": _l("Rejection reason"),
    "procedure": _l("Assessment procedure"),
}



def _choice_columns():
    from models.physician import PRACTICE_CATEGORY

    return {"practice_category": PRACTICE_CATEGORY}


# Columns that hold a ChoiceSet constant wherever they appear (a paper's, a question's): shown
# by their display names.
CHOICE_COLUMNS = _choice_columns()

# 操作日志: what the audit rows name, in the manuals' words (the rows keep English constants).
AUDIT_ENTITY = {
    "enrollment": _l("Enrollment"),
    "exemption": _l("Exemption application"),
    "assessment_application": _l("Assessment institution application"),
    "exam_attempt": _l("Exam"),
    "physician": _l("Physician"),
    "institution": _l("Institution"),
    "administration": _l("Administrations"),
    "department": _l("Department"),
    "question": _l("Question"),
    "ab_user": _l("Account"),
    "sms_message": _l("SMS"),
}
AUDIT_ACTION = {
    "submit": _l("Submit"),
    "resubmit": _l("Resubmit"),
    "cancel": _l("Cancel enrollment"),
    "reinclude": _l("Allow enrollment"),
    "allow_enrollment": _l("Allow enrollment"),
    "institution_approve": _l("Institution review: submitted"),
    "institution_reject": _l("Institution review: rejected"),
    "assessment_approve": _l("Assessment institution re-review: confirmed"),
    "assessment_confirm": _l("Assessment institution re-review: confirmed"),
    "assessment_reject": _l("Assessment institution re-review: rejected"),
    "administration_reject": _l("Rejected by the administration"),
    "rated_unqualified": _l("Rated unqualified"),
    "exam_passed": _l("Exam passed"),
    "exam_failed": _l("Exam failed"),
    "makeup_confirmed": _l("Make-up confirmed"),
    "makeup_declined": _l("Make-up declined"),
    "makeup_failed": _l("Make-up failed"),
    "expire": _l("Handed in at the deadline"),
    "approve": _l("Approve"),
    "reject": _l("Reject"),
    "apply": _l("Apply"),
    "start": _l("Start the exam"),
    "force": _l("Set by the system"),
    "add": _l("Add"),
    "create": _l("Add"),
    "update": _l("Edit"),
    "delete": _l("Delete"),
    "enable": _l("Enable"),
    "disable": _l("Disable"),
    "transfer_in": _l("Transfer in"),
    "transfer_out": _l("Transfer out"),
    "open_application": _l("Open application"),
    "close_application": _l("Close application"),
    "reset_password": _l("Reset password"),
    "import": _l("Import"),
    "sms_code_sent": _l("Verification code sent"),
    "sms_code_accepted": _l("Verification code accepted"),
    "sms_code_wrong": _l("Wrong verification code"),
    "sms_code_refused": _l("Verification code refused"),
    "sms_code_voided": _l("Verification code voided"),
    "sms_send_refused": _l("Verification code not sent"),
}


def audit_state(row, state):
    """A state in the audit log, by the kind of record it belongs to."""
    from models.enrollment import ENROLLMENT_STATE, EXEMPTION_STATE
    from models.exam import ATTEMPT_STATE
    from models.institution import APPLICATION_STATE

    # 允许报名 is recorded on the physician, with the enrollment's first state.
    states = {"enrollment": ENROLLMENT_STATE, "physician": ENROLLMENT_STATE,
              "exemption": EXEMPTION_STATE,
              "assessment_application": APPLICATION_STATE, "exam_attempt": ATTEMPT_STATE}
    choice_set = states.get(row.entity)
    return choice_set.label(state) if choice_set and state else (state or "")


def audit_user(row):
    """Who did it: the account, or 系统 for what the system did by itself."""
    return str(_l("The system")) if row.username == "system" else (row.username or "")


# Texts of Flask-AppBuilder's own pages that its catalogue leaves in English; listed here so
# that they are extracted into ours and read in Chinese.
FAB_TEXTS = [
    _l("Show"), _l("Edit"), _l("Delete"), _l("Cancel"), _l("OK"),
    _l("Are you sure you want to delete this item?"), _l("No row selected"),
    _l("User confirmation needed"), _l("List Groups"),
]

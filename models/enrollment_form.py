"""我要报名: the five steps' rules — what each step needs, the years-of-practice and 简易程序
eligibility computation, the frozen copy of a submission and what changed since the last one.

Plain functions over the models so that tests call them without a request; the self-service
views translate forms to these calls."""
import datetime

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext

from sqlalchemy import func

from app.extensions import db
from models.base import Refused
from models import workflow
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import PROCEDURE, Submission
from models.institution import Department
from models.physician import (
    EMPLOYMENT,
    EXPERIENCE_KIND,
    GENDER,
    LICENCE_KIND,
    PHYSICIAN_LEVEL,
    PRACTICE_CATEGORY,
    TITLE,
)

STEPS = {
    1: _l("Basic information"),
    2: _l("Practice information"),
    3: _l("Related experience"),
    4: _l("Work performance and professional ethics"),
    5: _l("Assessment procedure"),
}
EDITABLE_STATES = workflow.EDITABLE
STATEMENT_LIMIT = 2000

# The physician sees the manual's own words for where they are (DOMAIN §7, manual 001).
PHYSICIAN_STATE_TEXT = {
    S.PENDING_ENROLLMENT: _l("Enrollment open"),
    S.REJECTED_BY_INSTITUTION: _l("Awaiting enrollment (rejected by institution)"),
    S.REJECTED_BY_ADMINISTRATION: _l("Awaiting enrollment (rejected by administration)"),
    S.PENDING_INSTITUTION_REVIEW: _l("Enrolled - awaiting medical institution review"),
    S.RETURNED_BY_ASSESSMENT: _l("Enrolled - awaiting medical institution review"),
    S.PENDING_ASSESSMENT_REVIEW: _l("Enrolled - awaiting assessment institution re-review"),
    S.AWAITING_EXAM: _l("Enrollment complete - awaiting assessment"),
    S.AWAITING_MAKEUP_CONFIRMATION: _l("Awaiting make-up confirmation"),
    S.AWAITING_MAKEUP: _l("Awaiting make-up exam"),
    S.PASSED: _l("Passed"),
    S.FAILED: _l("Failed"),
    S.CANCELLED: _l("Enrollment not open"),
}

# Keyed by a stable code (stored in Enrollment.simple_condition); the texts are translated.
SIMPLE_CONDITIONS = {
    "1": _l("More than 5 years of practice and a good practice record in this cycle"),
    "2": _l("More than 12 years of practice and no bad practice record in this cycle"),
    "3": _l("Passed the exam for the next professional title in this cycle"),
    "4": _l("Passed standardised residency training as required in this cycle"),
}


# 相关经历 as the manual's three sections; rows of the older kinds (filings, research results)
# stay shown, under their own titles, when a physician has them.
EXPERIENCE_SECTIONS = {
    "education": _l("Education history"),
    "practice": _l("Work history"),
    "change": _l("Practice change history"),
}
LEGACY_SECTIONS = {"filing": _l("Multi-institution practice filing"),
                   "research": _l("Research results")}

# 工作成绩: the +添加 lists of the good practice record (stored as lists of texts in
# form_data["assessment"]); older submissions kept one text, "good_detail", still shown.
GOOD_RECORD_LISTS = {
    "awards": _l("Commendations and awards received"),
    "gov_tasks": _l("Government mandated tasks completed"),
    "research": _l("Research results obtained"),
}
LIST_ITEM_LIMIT = 200
LIST_LENGTH_LIMIT = 20
# 医德医风自评 (ETHICS_SELF_RATING, Hainan).
ETHICS_RATINGS = {"excellent": _l("Excellent"), "good": _l("Good"), "fair": _l("Fair")}


def ethics_rating_enabled():
    return bool(current_app.config.get("ETHICS_SELF_RATING"))


class EnrollmentRefused(Refused):
    """The step or the submission was refused; the message is for the user."""


def state_text(enrollment):
    if enrollment is None:
        return _("Enrollment not open, please contact your medical institution")
    return str(PHYSICIAN_STATE_TEXT.get(enrollment.state, enrollment.state_label))


# What to do next, under 当前任务 on the home page (manuals 001, 003).
_ENROLL_HINT = _l("Tap [Enroll] below to fill in and submit your enrollment information")
_REJECTED_HINT = _l("Please correct the information and submit it again within the physician "
                    "enrollment period")
_REVIEW_HINT = _l("Please wait for the review of your medical institution and the re-review of "
                  "the assessment institution")
_EXAM_HINT = _l("Watch for the exam notice, and tap [Take the exam] below to see the exam "
                "arrangements")
TASK_HINTS = {
    S.PENDING_ENROLLMENT: _ENROLL_HINT,
    S.REJECTED_BY_INSTITUTION: _REJECTED_HINT,
    S.REJECTED_BY_ADMINISTRATION: _REJECTED_HINT,
    S.PENDING_INSTITUTION_REVIEW: _REVIEW_HINT,
    S.RETURNED_BY_ASSESSMENT: _REVIEW_HINT,
    S.PENDING_ASSESSMENT_REVIEW: _REVIEW_HINT,
    S.AWAITING_EXAM: _EXAM_HINT,
    S.AWAITING_MAKEUP: _EXAM_HINT,
}
# From here on the enrollment has passed review (the manual's "已通过审核" page).
APPROVED_STATES = (S.AWAITING_EXAM, S.AWAITING_MAKEUP_CONFIRMATION, S.AWAITING_MAKEUP,
                   S.PASSED, S.FAILED)


def task_hint(enrollment):
    hint = TASK_HINTS.get(enrollment.state) if enrollment is not None else None
    return str(hint) if hint else ""


def check_editable(enrollment, today=None):
    """The physician may fill in and submit: included, in the window, not already submitted."""
    if enrollment is None or enrollment.state == S.CANCELLED:
        raise EnrollmentRefused(_("Enrollment is not open for you: please ask your medical "
                                  "institution to include you in this assessment cycle"))
    enrollment.cycle.require_open("enrollment", today)
    if enrollment.state not in EDITABLE_STATES:
        raise EnrollmentRefused(_("Your enrollment has been submitted and is being reviewed: "
                                  "it cannot be changed"))


def mark_step_done(enrollment, step):
    enrollment.completed_steps = (enrollment.completed_steps or 0) | (1 << (step - 1))


def step_done(enrollment, step):
    return bool((enrollment.completed_steps or 0) & (1 << (step - 1)))


def missing_steps(enrollment):
    return [str(STEPS[n]) for n in STEPS if not step_done(enrollment, n)]


# --- eligibility ---------------------------------------------------------------------------


def years_of_practice(physician, cutoff):
    """Whole years from the first registration to the cycle's cut-off date."""
    start = physician.first_registration_date
    if start is None or start > cutoff:
        return 0
    years = cutoff.year - start.year - ((cutoff.month, cutoff.day) < (start.month, start.day))
    return max(years, 0)


def eligibility(physician, enrollment):
    """Which 简易程序 conditions the physician appears to meet, with the facts used.

    The same computation is shown to the physician (step 5) and beside the claim to reviewers.
    """
    cycle = enrollment.cycle
    assessment = (enrollment.form_data or {}).get("assessment", {})
    good = assessment.get("good_record") == "yes"
    bad = assessment.get("bad_record") == "yes"
    years = years_of_practice(physician, cycle.cutoff_date)
    in_cycle = (lambda d: d is not None and cycle.start_date <= d <= cycle.end_date)
    met = {
        "1": years >= 5 and good and not bad,
        "2": years >= 12 and not bad,
        "3": in_cycle(physician.title_date),
        "4": bool(assessment.get("residency_in_cycle") == "yes"),
    }
    return {
        "years": years,
        "cutoff": cycle.cutoff_date,
        "first_registration_date": physician.first_registration_date,
        "conditions": [(code, str(text), met[code]) for code, text in SIMPLE_CONDITIONS.items()],
        "any": any(met.values()),
    }


# --- step rules ----------------------------------------------------------------------------


def validate_practice(physician, department, specialties, institution_id):
    Department.require_enabled_of(department, institution_id)
    allowed = {subject.id for subject in department.subjects}
    if not specialties:
        raise EnrollmentRefused(_("Please choose your specialties"))
    if any(subject.id not in allowed for subject in specialties):
        raise EnrollmentRefused(_("Specialties must be subjects linked to the chosen department"))
    if not physician.is_trainee and not (physician.practice_scope or "").strip():
        raise EnrollmentRefused(_("Please fill in the practice scope (not required for "
                                  "resident trainees)"))


def check_licence_pages(kind, pages):
    """A paper licence is its two pages; an electronic one is one image."""
    need = 2 if kind == "paper" else 1
    if pages < need:
        raise EnrollmentRefused(_("%(kind)s needs %(count)s licence images (at most 3MB each)",
                                  kind=LICENCE_KIND.label(kind), count=need))


def validate_procedure(procedure, condition, statement, proof_count):
    if procedure not in PROCEDURE:
        raise EnrollmentRefused(_("Please choose the assessment procedure"))
    if len(statement or "") > STATEMENT_LIMIT:
        raise EnrollmentRefused(_("The personal statement may have at most %(limit)s characters",
                                  limit=STATEMENT_LIMIT))
    if procedure == PROCEDURE.SIMPLE:
        if condition not in SIMPLE_CONDITIONS:
            raise EnrollmentRefused(_("Please choose the simple procedure condition you meet"))
        if proof_count == 0:
            raise EnrollmentRefused(_("The simple procedure needs proof files"))
        if not (statement or "").strip():
            raise EnrollmentRefused(_("The simple procedure needs a personal statement"))


# --- submission ----------------------------------------------------------------------------


def snapshot(enrollment):
    """Everything the physician submits, as labelled sections (what reviewers read).

    Section and field names are translated now, in the current language, because the result
    is stored as plain JSON (Submission.data) and read back as it was submitted."""
    p = enrollment.physician
    data = enrollment.form_data or {}
    assessment = data.get("assessment", {})
    yes_no = {"yes": pgettext("record", "Yes"), "no": pgettext("record", "No")}
    pass_fail = {"pass": _("Qualified"), "fail": _("Unqualified")}
    sections = {
        str(STEPS[1]): {
            _("Full name"): p.name, _("ID number"): p.id_number,
            _("Gender"): GENDER.label(p.gender), _("Ethnicity"): p.ethnicity,
            _("Birth date"): str(p.birth_date or ""), _("Education level"): p.education,
            _("Email"): p.email, _("Mobile phone"): p.mobile,
        },
        str(STEPS[2]): {
            _("Department"): p.department.name if p.department else "",
            _("Specialties"): _(", ").join(sorted(s.name for s in p.specialties)),
            _("Title"): TITLE.label(p.title), _("Title date"): str(p.title_date or ""),
            _("Position"): p.position, _("Position date"): str(p.position_date or ""),
            _("Physician level"): PHYSICIAN_LEVEL.label(p.level),
            _("Resident trainee"): _("Yes") if p.is_trainee else _("No"),
            _("Practice category"): PRACTICE_CATEGORY.label(p.practice_category),
            _("Practice scope"): p.practice_scope,
            _("Employment"): EMPLOYMENT.label(p.employment),
            _("Qualification certificate number"): p.qualification_no,
            _("Qualification date"): str(p.qualification_date or ""),
            _("Practice certificate number"): p.certificate_no,
            _("Practice certificate date"): str(p.certificate_date or ""),
            _("First registration date"): str(p.first_registration_date or ""),
        },
        str(STEPS[3]): {
            f"{EXPERIENCE_KIND.label(e.kind)} {i}": " ".join(filter(None, [
                e.organisation, str(e.start_date or ""), _("to"), str(e.end_date or ""),
                e.description]))
            for i, e in enumerate(sorted(p.experiences, key=lambda e: (e.kind, e.id)), start=1)
        },
        str(STEPS[4]): {
            _("Good practice record"): yes_no.get(assessment.get("good_record"), ""),
            **{str(label): "; ".join(assessment.get(name) or [])
               for name, label in GOOD_RECORD_LISTS.items()},
            _("Commendations, government tasks and research results"):
                assessment.get("good_detail", ""),
            _("Bad practice record"): yes_no.get(assessment.get("bad_record"), ""),
            _("Bad record details"): assessment.get("bad_detail", ""),
            _("Work quantity completed"): pass_fail.get(assessment.get("work_quantity"), ""),
            _("Patients seen (per cycle)"): assessment.get("patients", ""),
            _("Surgeries (per cycle)"): assessment.get("surgeries", ""),
            _("Tests and examinations (per cycle)"): assessment.get("tests", ""),
            _("Ward rounds"): assessment.get("ward_rounds", ""),
            _("Work quality"): assessment.get("work_quality", ""),
            _("Work quality completed"): pass_fail.get(assessment.get("work_quality_result"), ""),
            _("Completion of government mandated work"):
                pass_fail.get(assessment.get("gov_work"), ""),
            _("Circumstances that directly fail professional ethics"):
                yes_no.get(assessment.get("ethics_fail"), ""),
            _("Professional ethics self-rating"):
                str(ETHICS_RATINGS.get(assessment.get("ethics_rating"), "")),
            _("Residency training passed in this cycle"):
                yes_no.get(assessment.get("residency_in_cycle"), ""),
        },
        str(STEPS[5]): {
            _("Procedure"): PROCEDURE.label(enrollment.procedure),
            _("Simple procedure condition"):
                str(SIMPLE_CONDITIONS.get(enrollment.simple_condition or "", "")),
            _("Personal statement"): enrollment.statement or "",
            _("Proof"): _("%(count)s files", count=len(data.get("proof_ids", []))),
        },
    }
    # The older form's free texts and the optional self-rating: only when they have a value
    # (an absent field reads as empty when two submissions are compared).
    optional = {_("Commendations, government tasks and research results"), _("Work quality"),
                _("Professional ethics self-rating")}
    return {section: {k: (v if v is not None else "") for k, v in fields.items()
                      if v or k not in optional}
            for section, fields in sections.items()}


def changes(previous, current):
    """Field-by-field differences between two snapshots: [(section, field, before, after)]."""
    out = []
    for section, fields in current.items():
        before = (previous or {}).get(section, {})
        for name in list(fields) + [name for name in before if name not in fields]:
            old, new = before.get(name, ""), fields.get(name, "")
            if old != new:
                out.append((section, name, old, new))
    return out


def submit(enrollment, user=None, today=None):
    """提交信息: all five steps done, inside the window, once; freezes what was submitted."""
    check_editable(enrollment, today)
    missing = missing_steps(enrollment)
    if missing:
        raise EnrollmentRefused(_("Please complete first: %(steps)s",
                                  steps=_(", ").join(missing)))
    workflow.apply(enrollment, "submit", user=user)
    version = (db.session.query(func.max(Submission.version))
               .filter(Submission.enrollment_id == enrollment.id).scalar() or 0) + 1
    # Frozen in the system's language, so that what changed between two submissions is about
    # the physician's data, not about the language each was submitted in.
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        data = snapshot(enrollment)
    db.session.add(Submission(enrollment=enrollment, version=version, data=data,
                              images=image_ids(enrollment)))
    enrollment.submitted_at = datetime.datetime.now()
    return enrollment


IMAGE_KINDS = (("photo", _l("Photo")), ("licence", _l("Practice licence images")),
               ("proof", _l("Proof")))


def image_ids(enrollment):
    """The stored files a submission shows, by kind, each list in a fixed order."""
    from models.files import StoredFile

    physician = enrollment.physician
    licences = db.session.query(StoredFile.id).filter_by(
        physician_id=physician.id, purpose="licence").order_by(StoredFile.id)
    return {"photo": [physician.photo_id] if physician.photo_id else [],
            "licence": [row.id for row in licences],
            "proof": sorted(int(i) for i in (enrollment.form_data or {}).get("proof_ids", []))}


def image_changes(enrollment):
    """The kinds of image that differ between the latest submission and the one before it:
    [(label, ids before, ids after)]; nothing when either was made before images were kept."""
    versions = sorted(enrollment.submissions, key=lambda s: s.version)
    if len(versions) < 2 or versions[-2].images is None or versions[-1].images is None:
        return []
    before, after = versions[-2].images, versions[-1].images
    return [(label, before.get(kind, []), after.get(kind, [])) for kind, label in IMAGE_KINDS
            if before.get(kind, []) != after.get(kind, [])]


def latest_changes(enrollment):
    """What changed in the latest submission compared with the one before it."""
    versions = sorted(enrollment.submissions, key=lambda s: s.version)
    if len(versions) < 2:
        return []
    return changes(versions[-2].data, versions[-1].data)

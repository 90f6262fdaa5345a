"""我要报名 and 免考申请: the physician's own commands. Each locks the physician's enrollment of
the current cycle, checks it may still be changed (window and state, after the lock) and saves.
The rules of each step live in ``models.enrollment_form``."""
import datetime

from flask_babel import gettext as _

from app import storage
from app.extensions import db
from commands import command, lock, user_of
from models import Department, Enrollment, Experience, Physician, StoredFile, Subject
from models import enrollment_form as ef
from models import exemption as exempting
from models.base import valid_mobile
from models.cycle import Cycle
from models.enrollment import PROCEDURE
from models.physician import (
    EMPLOYMENT,
    EXPERIENCE_KIND,
    GENDER,
    LICENCE_KIND,
    PHYSICIAN_LEVEL,
    PRACTICE_CATEGORY,
    TITLE,
)
from security import scope


def own_physician(actor):
    if actor.kind != scope.PHYSICIAN:
        from flask import abort

        abort(403)
    return scope.require(actor, scope.CHANGE, Physician, actor.physician_id)


def own_enrollment(actor, cycle=None):
    """The physician's enrollment in the current cycle (or None), read within their scope."""
    cycle = cycle or Cycle.current()
    if cycle is None:
        return None
    return scope.restrict(db.session.query(Enrollment), Enrollment, actor, scope.CHANGE).filter(
        Enrollment.cycle_id == cycle.id, Enrollment.physician_id == actor.physician_id).first()


def _locked_editable(actor):
    physician = own_physician(actor)
    enrollment = own_enrollment(actor)
    # The physician's row before the enrollment's: a step writes the physician's row, and the
    # institution's 编辑 of him writes it and then (the department trigger) his enrollments;
    # holding the enrollment while waiting for the physician, the two would deadlock.
    lock(physician)
    if enrollment is not None:
        lock(enrollment)
    ef.check_editable(enrollment)
    return physician, enrollment


def _date(value):
    value = (value or "").strip()
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ef.EnrollmentRefused(_('The date "%(value)s" is not in the right format, '
                                     "expected 2020-01-31", value=value)) from None


def _text(form, name, limit=128):
    return (form.get(name) or "").strip()[:limit] or None


# From the electronic registration (manual 003): shown, never changed by the physician.
REGISTERED = {"name": "name", "id_number": "id_number", "qualification_no": "qualification_no",
              "certificate_no": "certificate_no"}


def _refuse_registered_changes(physician, form):
    """A posted value of a registered field that differs from the record is refused (the
    form does not offer them; a crafted request does not change them either)."""
    for name, attribute in REGISTERED.items():
        if name in form and (form.get(name) or "").strip() != (
                getattr(physician, attribute) or ""):
            raise ef.EnrollmentRefused(_(
                "The name, the ID number and the qualification and practice certificate numbers "
                "come from the electronic registration and cannot be changed; if one is wrong, "
                "ask your medical institution"))


@command
def save_step(actor, number, form, files):
    """Save one of the five steps (the form as posted) and mark it done. A step saved but not
    complete yet (a paper licence with one of its two pages) is kept, left not done, and the
    message saying what is missing is returned."""
    physician, enrollment = _locked_editable(actor)
    _refuse_registered_changes(physician, form)
    missing = _STEPS[number](physician, enrollment, form, files, actor)
    if missing:
        enrollment.completed_steps = (enrollment.completed_steps or 0) & ~(1 << (number - 1))
        return missing
    ef.mark_step_done(enrollment, number)
    return None


def _save_basic(physician, enrollment, form, files, actor):
    upload = files.get("photo")
    if upload is not None and upload.filename:
        physician.photo, physician.photo_thumb = storage.save_photo(
            upload, physician.id, uploaded_by_id=actor.user_id)
    if physician.photo_id is None and physician.photo is None:
        raise ef.EnrollmentRefused(_("Please upload your 1-inch ID photo (jpg/png/jpeg, at "
                                     "most 2MB)"))
    gender = form.get("gender")
    if gender not in GENDER:
        raise ef.EnrollmentRefused(_("Please choose your gender"))
    required = {"ethnicity": _("Ethnicity"), "education": _("Education level"),
                "mobile": _("Mobile phone")}
    for name, label in required.items():
        if not _text(form, name):
            raise ef.EnrollmentRefused(_("Please fill in %(field)s", field=label))
    mobile = _text(form, "mobile", 16)
    if not valid_mobile(mobile):
        raise ef.EnrollmentRefused(_("Please enter a valid 11-digit mobile number"))
    email = _text(form, "email")
    if email and ("@" not in email or "." not in email.split("@")[-1]):
        raise ef.EnrollmentRefused(_("Wrong email format"))
    physician.gender = gender
    physician.ethnicity = _text(form, "ethnicity", 16)
    physician.birth_date = _date(form.get("birth_date")) or physician.birth_date
    physician.education = _text(form, "education", 32)
    physician.email = email
    physician.mobile = mobile


def _save_practice(physician, enrollment, form, files, actor):
    department = db.session.get(Department, form.get("department_id", type=int) or 0)
    ids = form.getlist("specialties", type=int)
    specialties = db.session.query(Subject).filter(Subject.id.in_(ids)).all() if ids else []
    physician.is_trainee = form.get("is_trainee") == "yes"
    physician.practice_scope = _text(form, "practice_scope")
    ef.validate_practice(physician, department, specialties, physician.institution_id)
    choices = {"title": TITLE, "level": PHYSICIAN_LEVEL,
               "practice_category": PRACTICE_CATEGORY, "employment": EMPLOYMENT}
    for name, choice_set in choices.items():
        value = form.get(name)
        if value not in choice_set:
            raise ef.EnrollmentRefused(_("Please fill in all practice information marked *"))
        setattr(physician, name, value)
    physician.department = department
    physician.specialties = specialties
    physician.title_date = _date(form.get("title_date"))
    physician.position = _text(form, "position", 64)
    physician.position_date = _date(form.get("position_date"))
    physician.qualification_date = _date(form.get("qualification_date"))
    physician.certificate_date = _date(form.get("certificate_date"))
    physician.first_registration_date = (
        _date(form.get("first_registration_date")) or physician.first_registration_date)
    if physician.first_registration_date is None:
        raise ef.EnrollmentRefused(_("Please fill in the first registration date"))
    kind = form.get("licence_kind")
    if kind not in LICENCE_KIND:
        raise ef.EnrollmentRefused(_("Please choose the licence type"))
    physician.licence_kind = kind
    for upload in files.getlist("licence"):
        if upload.filename:
            storage.save_upload(upload, storage.LICENCE, "licence", physician_id=physician.id,
                                uploaded_by_id=actor.user_id)
    db.session.flush()
    have = db.session.query(StoredFile).filter_by(physician_id=physician.id,
                                                  purpose="licence").count()
    # Pages may come one at a time (a phone picks one photo): what came is kept.
    try:
        ef.check_licence_pages(kind, have)
    except ef.EnrollmentRefused as missing:
        return str(missing)
    return None


def _save_experience(physician, enrollment, form, files, actor):
    if form.get("delete"):
        db.session.delete(scope.require(actor, scope.CHANGE, Experience, form.get("delete")))
        return
    if form.get("kind"):
        if form["kind"] not in EXPERIENCE_KIND or (
                not form.get("row_id") and form["kind"] not in ef.EXPERIENCE_SECTIONS):
            raise ef.EnrollmentRefused(_("Please choose the kind of experience"))
        start, end = _date(form.get("start_date")), _date(form.get("end_date"))
        if start and end and start > end:
            raise ef.EnrollmentRefused(_("The start time cannot be after the end time"))
        if not _text(form, "organisation"):
            raise ef.EnrollmentRefused(_("Please fill in the institution or organisation"))
        row_id = form.get("row_id")
        row = (scope.require(actor, scope.CHANGE, Experience, row_id) if row_id
               else Experience(physician_id=physician.id))
        row.kind = form["kind"]
        row.start_date, row.end_date = start, end
        row.organisation = _text(form, "organisation")
        row.description = _text(form, "description", 500)
        db.session.add(row)


def _save_assessment(physician, enrollment, form, files, actor):
    for name, label in (("good_record", _("Good practice record")),
                        ("bad_record", _("Bad practice record")),
                        ("ethics_fail", _("Circumstances that directly fail professional "
                                          "ethics"))):
        if form.get(name) not in ("yes", "no"):
            raise ef.EnrollmentRefused(_("Please choose %(field)s: yes/no", field=label))
    if form.get("work_quantity") not in ("pass", "fail"):
        raise ef.EnrollmentRefused(_("Please assess the work quantity completed: "
                                     "qualified/unqualified"))
    for name, label in (("work_quality_result", _("Work quality completed")),
                        ("gov_work", _("Completion of government mandated work"))):
        if form.get(name) not in (None, "", "pass", "fail"):
            raise ef.EnrollmentRefused(_("Please assess %(field)s: qualified/unqualified",
                                         field=label))
    rating = form.get("ethics_rating") or ""
    if ef.ethics_rating_enabled() and rating not in ef.ETHICS_RATINGS:
        raise ef.EnrollmentRefused(_("Please rate your professional ethics: "
                                     "excellent/good/fair"))
    lists = {}
    for name, label in ef.GOOD_RECORD_LISTS.items():
        items = [item.strip() for item in form.getlist(name) if item and item.strip()]
        if len(items) > ef.LIST_LENGTH_LIMIT or any(
                len(item) > ef.LIST_ITEM_LIMIT for item in items):
            raise ef.EnrollmentRefused(_("%(field)s: at most %(count)s entries of %(limit)s "
                                         "characters each", field=label,
                                         count=ef.LIST_LENGTH_LIMIT, limit=ef.LIST_ITEM_LIMIT))
        lists[name] = items
    numbers = {}
    for name in ("patients", "surgeries", "tests", "ward_rounds"):
        value = (form.get(name) or "").strip()
        if value and (not value.isdigit() or int(value) > 10**7):
            raise ef.EnrollmentRefused(_("Workloads must be non-negative whole numbers"))
        numbers[name] = value
    if form.get("bad_record") == "yes" and not (form.get("bad_detail") or "").strip():
        raise ef.EnrollmentRefused(_("Please describe the bad practice record"))
    before = (enrollment.form_data or {}).get("assessment", {})

    def kept(name):
        """An older form's free text (good_detail, work_quality): what is posted, else what
        was stored (the current form no longer has the field)."""
        if name in form:
            return (form.get(name) or "").strip()[:1000]
        return before.get(name, "")

    assessment = {
        "good_record": form["good_record"], "bad_record": form["bad_record"],
        **lists,
        "good_detail": kept("good_detail"),
        "bad_detail": (form.get("bad_detail") or "").strip()[:1000],
        "work_quantity": form["work_quantity"], **numbers,
        "work_quality": kept("work_quality"),
        "work_quality_result": form.get("work_quality_result") or "",
        "gov_work": form.get("gov_work") or "",
        "ethics_fail": form["ethics_fail"],
        "residency_in_cycle": "yes" if form.get("residency_in_cycle") == "yes" else "no",
    }
    if ef.ethics_rating_enabled():
        assessment["ethics_rating"] = rating
    elif before.get("ethics_rating"):
        assessment["ethics_rating"] = before["ethics_rating"]
    enrollment.form_data = {**(enrollment.form_data or {}), "assessment": assessment}


def _save_procedure(physician, enrollment, form, files, actor):
    data = dict(enrollment.form_data or {})
    proof_ids = list(data.get("proof_ids", []))
    for upload in files.getlist("proof"):
        if upload.filename:
            stored = storage.save_upload(upload, storage.LICENCE, "simple_proof",
                                         physician_id=physician.id, uploaded_by_id=actor.user_id)
            db.session.flush()
            proof_ids.append(stored.id)
    procedure = form.get("procedure")
    condition = form.get("simple_condition") or None
    statement = (form.get("statement") or "").strip()
    ef.validate_procedure(procedure, condition, statement, len(proof_ids))
    enrollment.procedure = procedure
    enrollment.simple_condition = condition if procedure == PROCEDURE.SIMPLE else None
    enrollment.statement = statement or None
    enrollment.form_data = {**data, "proof_ids": proof_ids}


_STEPS = {1: _save_basic, 2: _save_practice, 3: _save_experience, 4: _save_assessment,
          5: _save_procedure}


@command
def submit(actor):
    """提交信息: locked, so twenty clicks at once make one submission."""
    own_physician(actor)
    enrollment = own_enrollment(actor)
    if enrollment is not None:
        lock(enrollment)
    return ef.submit(enrollment, user=user_of(actor))


@command
def apply_exemption(actor, condition, upload):
    """免考申请 (or its resubmission) with a condition and a proof file."""
    physician = own_physician(actor)
    enrollment = own_enrollment(actor)
    if enrollment is not None:
        lock(enrollment)
    exempting.check_may_apply(enrollment)
    proof = None
    if upload is not None and upload.filename:
        proof = storage.save_upload(upload, storage.LICENCE, "exemption_proof",
                                    physician_id=physician.id, uploaded_by_id=actor.user_id)
    return exempting.apply(enrollment, condition, proof, user=user_of(actor))

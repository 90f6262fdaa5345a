"""The physicians' self-service pages (phone-sized): home, 我要报名 in five steps with preview
and submit, 考核结果, 常见问题. Physicians never reach the console's generated views; their
role grants only these. Rules live in ``models.enrollment_form``."""
import datetime

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import storage
from app.extensions import db
from models import Department, Enrollment, Experience, StoredFile, Subject
from models import enrollment_form as ef
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
from views.home import current_cycle

# Offered in the current language; the text chosen is what is stored (Physician.education).
EDUCATION = [_l("Technical secondary school"), _l("Junior college"), _l("Bachelor's degree"),
             _l("Master's degree"), _l("Doctorate"), _l("Other")]


def _date(value):
    value = (value or "").strip()
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ef.EnrollmentRefused(_('The date "%(value)s" is not in the right format, '
                                     "expected 2020-01-31", value=value)) from None


def _text(name, limit=128):
    return (request.form.get(name) or "").strip()[:limit] or None


class SelfServiceView(BaseView):
    route_base = "/me"
    default_view = "home"

    # --- helpers ---------------------------------------------------------------------------

    def _physician(self):
        physician = g.user.physician
        if physician is None:
            abort(403)
        return physician

    def _enrollment(self, physician):
        cycle = current_cycle()
        if cycle is None:
            return None
        return db.session.query(Enrollment).filter_by(
            cycle_id=cycle.id, physician_id=physician.id).first()

    def _page(self, template, **context):
        return self.render_template(f"selfservice/{template}", steps=ef.STEPS, **context)

    # --- home ------------------------------------------------------------------------------

    @expose("/")
    @has_access
    def home(self):
        physician = self._physician()
        cycle = current_cycle()
        enrollment = self._enrollment(physician)
        return self._page(
            "home.html", physician=physician, cycle=cycle,
            windows=sorted(cycle.windows, key=lambda w: w.start_date) if cycle else [],
            enrollment=enrollment, state_text=ef.state_text(enrollment),
        )

    # --- 我要报名 ---------------------------------------------------------------------------

    @expose("/enroll")
    @has_access
    def enroll(self):
        physician = self._physician()
        enrollment = self._enrollment(physician)
        try:
            ef.check_editable(enrollment)
        except ef.EnrollmentRefused as refused:
            flash(str(refused), "warning")
            if enrollment is not None and enrollment.submissions:
                return redirect(url_for(".preview"))
            return redirect(url_for(".home"))
        for step in ef.STEPS:
            if not ef.step_done(enrollment, step):
                return redirect(url_for(".step", number=step))
        return redirect(url_for(".preview"))

    @expose("/enroll/<int:number>", methods=["GET", "POST"])
    @has_access
    def step(self, number):
        if number not in ef.STEPS:
            abort(404)
        physician = self._physician()
        enrollment = self._enrollment(physician)
        error = None
        try:
            ef.check_editable(enrollment)
        except ef.EnrollmentRefused as refused:
            flash(str(refused), "warning")
            return redirect(url_for(".home"))
        if request.method == "POST":
            try:
                getattr(self, f"_save_step{number}")(physician, enrollment)
                ef.mark_step_done(enrollment, number)
            except (ef.EnrollmentRefused, storage.UploadRefused) as refused:
                db.session.rollback()
                error = str(refused)
            else:
                db.session.commit()
                flash(_("%(step)s saved", step=ef.STEPS[number]), "success")
                if request.form.get("next") and number < len(ef.STEPS):
                    return redirect(url_for(".step", number=number + 1))
                if request.form.get("next"):
                    return redirect(url_for(".preview"))
                return redirect(url_for(".step", number=number))
        context = dict(physician=physician, enrollment=enrollment, number=number, error=error,
                       form=request.form if request.method == "POST" else None,
                       done=[n for n in ef.STEPS if ef.step_done(enrollment, n)])
        context.update(self._step_context(number, physician, enrollment))
        return self._page(f"step{number}.html", **context), (400 if error else 200)

    def _step_context(self, number, physician, enrollment):
        if number == 1:
            return dict(genders=GENDER.options(), educations=[str(e) for e in EDUCATION])
        if number == 2:
            departments = db.session.query(Department).filter_by(
                institution_id=physician.institution_id, enabled=True).order_by(
                Department.name).all()
            licences = db.session.query(StoredFile).filter_by(
                physician_id=physician.id, purpose="licence").order_by(StoredFile.id).all()
            return dict(departments=departments, titles=TITLE.options(),
                        levels=PHYSICIAN_LEVEL.options(), categories=PRACTICE_CATEGORY.options(),
                        employments=EMPLOYMENT.options(), licence_kinds=LICENCE_KIND.options(),
                        licences=licences, chosen={s.id for s in physician.specialties})
        if number == 3:
            return dict(kinds=EXPERIENCE_KIND.options(),
                        rows=sorted(physician.experiences, key=lambda e: (e.kind, e.id)))
        if number == 4:
            return dict(assessment=(enrollment.form_data or {}).get("assessment", {}))
        proofs = db.session.query(StoredFile).filter(
            StoredFile.id.in_((enrollment.form_data or {}).get("proof_ids", []))).all()
        return dict(procedures=PROCEDURE.options(), conditions=ef.SIMPLE_CONDITIONS,
                    eligibility=ef.eligibility(physician, enrollment), proofs=proofs,
                    limit=ef.STATEMENT_LIMIT)

    def _save_step1(self, physician, enrollment):
        upload = request.files.get("photo")
        if upload is not None and upload.filename:
            physician.photo, physician.photo_thumb = storage.save_photo(
                upload, physician.id, uploaded_by_id=g.user.id)
        if physician.photo_id is None and physician.photo is None:
            raise ef.EnrollmentRefused(_("Please upload your 1-inch ID photo (jpg/png/jpeg, at "
                                         "most 2MB)"))
        gender = request.form.get("gender")
        if gender not in GENDER:
            raise ef.EnrollmentRefused(_("Please choose your gender"))
        required = {"ethnicity": _("Ethnicity"), "education": _("Education level"),
                    "mobile": _("Mobile phone")}
        for name, label in required.items():
            if not _text(name):
                raise ef.EnrollmentRefused(_("Please fill in %(field)s", field=label))
        mobile = _text("mobile", 16)
        if not (mobile.isdigit() and len(mobile) == 11 and mobile[0] == "1"):
            raise ef.EnrollmentRefused(_("Please enter a valid 11-digit mobile number"))
        email = _text("email")
        if email and ("@" not in email or "." not in email.split("@")[-1]):
            raise ef.EnrollmentRefused(_("Wrong email format"))
        physician.gender = gender
        physician.ethnicity = _text("ethnicity", 16)
        physician.birth_date = _date(request.form.get("birth_date")) or physician.birth_date
        physician.education = _text("education", 32)
        physician.email = email
        physician.mobile = mobile

    def _save_step2(self, physician, enrollment):
        department = db.session.get(Department, request.form.get("department_id", type=int) or 0)
        ids = request.form.getlist("specialties", type=int)
        specialties = db.session.query(Subject).filter(Subject.id.in_(ids)).all() if ids else []
        physician.is_trainee = request.form.get("is_trainee") == "yes"
        physician.practice_scope = _text("practice_scope")
        ef.validate_practice(physician, department, specialties, physician.institution_id)
        choices = {"title": TITLE, "level": PHYSICIAN_LEVEL,
                   "practice_category": PRACTICE_CATEGORY, "employment": EMPLOYMENT}
        for name, choice_set in choices.items():
            value = request.form.get(name)
            if value not in choice_set:
                raise ef.EnrollmentRefused(_("Please fill in all practice information marked *"))
            setattr(physician, name, value)
        physician.department = department
        physician.specialties = specialties
        physician.title_date = _date(request.form.get("title_date"))
        physician.position = _text("position", 64)
        physician.position_date = _date(request.form.get("position_date"))
        physician.qualification_no = _text("qualification_no", 32)
        physician.qualification_date = _date(request.form.get("qualification_date"))
        physician.certificate_no = _text("certificate_no", 32)
        physician.certificate_date = _date(request.form.get("certificate_date"))
        physician.first_registration_date = (
            _date(request.form.get("first_registration_date")) or physician.first_registration_date)
        if physician.first_registration_date is None:
            raise ef.EnrollmentRefused(_("Please fill in the first registration date"))
        kind = request.form.get("licence_kind")
        if kind not in LICENCE_KIND:
            raise ef.EnrollmentRefused(_("Please choose the licence type"))
        physician.licence_kind = kind
        for upload in request.files.getlist("licence"):
            if upload.filename:
                storage.save_upload(upload, storage.LICENCE, "licence", physician_id=physician.id,
                                    uploaded_by_id=g.user.id)
        db.session.flush()
        have = db.session.query(StoredFile).filter_by(physician_id=physician.id,
                                                      purpose="licence").count()
        need = 2 if kind == "paper" else 1
        if have < need:
            raise ef.EnrollmentRefused(_(
                "%(kind)s needs %(count)s licence images (at most 3MB each)",
                kind=LICENCE_KIND.label(kind), count=need))

    def _save_step3(self, physician, enrollment):
        if request.form.get("delete"):
            row = db.session.get(Experience, request.form.get("delete", type=int) or 0)
            if row is None or row.physician_id != physician.id:
                abort(404)
            db.session.delete(row)
            return
        if request.form.get("kind"):
            if request.form["kind"] not in EXPERIENCE_KIND:
                raise ef.EnrollmentRefused(_("Please choose the kind of experience"))
            start, end = _date(request.form.get("start_date")), _date(request.form.get("end_date"))
            if start and end and start > end:
                raise ef.EnrollmentRefused(_("The start time cannot be after the end time"))
            if not _text("organisation"):
                raise ef.EnrollmentRefused(_("Please fill in the institution or organisation"))
            row_id = request.form.get("row_id", type=int)
            row = db.session.get(Experience, row_id) if row_id else Experience(
                physician_id=physician.id)
            if row is None or row.physician_id != physician.id:
                abort(404)
            row.kind = request.form["kind"]
            row.start_date, row.end_date = start, end
            row.organisation = _text("organisation")
            row.description = _text("description", 500)
            db.session.add(row)

    def _save_step4(self, physician, enrollment):
        form = request.form
        for name, label in (("good_record", _("Good practice record")),
                            ("bad_record", _("Bad practice record")),
                            ("ethics_fail", _("Circumstances that directly fail professional "
                                              "ethics"))):
            if form.get(name) not in ("yes", "no"):
                raise ef.EnrollmentRefused(_("Please choose %(field)s: yes/no", field=label))
        if form.get("work_quantity") not in ("pass", "fail"):
            raise ef.EnrollmentRefused(_("Please assess the work quantity completed: "
                                         "qualified/unqualified"))
        numbers = {}
        for name in ("patients", "surgeries", "tests", "ward_rounds"):
            value = (form.get(name) or "").strip()
            if value and (not value.isdigit() or int(value) > 10**7):
                raise ef.EnrollmentRefused(_("Workloads must be non-negative whole numbers"))
            numbers[name] = value
        if form.get("bad_record") == "yes" and not (form.get("bad_detail") or "").strip():
            raise ef.EnrollmentRefused(_("Please describe the bad practice record"))
        assessment = {
            "good_record": form["good_record"], "bad_record": form["bad_record"],
            "good_detail": (form.get("good_detail") or "").strip()[:1000],
            "bad_detail": (form.get("bad_detail") or "").strip()[:1000],
            "work_quantity": form["work_quantity"], **numbers,
            "work_quality": (form.get("work_quality") or "").strip()[:1000],
            "ethics_fail": form["ethics_fail"],
            "residency_in_cycle": "yes" if form.get("residency_in_cycle") == "yes" else "no",
        }
        enrollment.form_data = {**(enrollment.form_data or {}), "assessment": assessment}

    def _save_step5(self, physician, enrollment):
        data = dict(enrollment.form_data or {})
        proof_ids = list(data.get("proof_ids", []))
        for upload in request.files.getlist("proof"):
            if upload.filename:
                stored = storage.save_upload(upload, storage.LICENCE, "simple_proof",
                                             physician_id=physician.id, uploaded_by_id=g.user.id)
                db.session.flush()
                proof_ids.append(stored.id)
        procedure = request.form.get("procedure")
        condition = request.form.get("simple_condition") or None
        statement = (request.form.get("statement") or "").strip()
        ef.validate_procedure(procedure, condition, statement, len(proof_ids))
        enrollment.procedure = procedure
        enrollment.simple_condition = condition if procedure == PROCEDURE.SIMPLE else None
        enrollment.statement = statement or None
        enrollment.form_data = {**data, "proof_ids": proof_ids}

    @expose("/enroll/preview")
    @has_access
    def preview(self):
        physician = self._physician()
        enrollment = self._enrollment(physician)
        if enrollment is None:
            return redirect(url_for(".home"))
        try:
            ef.check_editable(enrollment)
            editable = True
        except ef.EnrollmentRefused:
            editable = False
        files = db.session.query(StoredFile).filter(
            StoredFile.physician_id == physician.id,
            StoredFile.purpose.in_(("licence", "simple_proof")),
            StoredFile.content_type.like("image/%")).all()
        return self._page("preview.html", physician=physician, enrollment=enrollment, files=files,
                          sections=ef.snapshot(enrollment), editable=editable,
                          missing=ef.missing_steps(enrollment),
                          state_text=ef.state_text(enrollment))

    @expose("/enroll/submit", methods=["POST"])
    @has_access
    def submit(self):
        physician = self._physician()
        enrollment = self._enrollment(physician)
        try:
            ef.submit(enrollment, user=g.user)
        except ef.EnrollmentRefused as refused:
            db.session.rollback()
            flash(str(refused), "danger")
            return redirect(url_for(".preview"))
        db.session.commit()
        return redirect(url_for(".submitted"))

    @expose("/enroll/submitted")
    @has_access
    def submitted(self):
        physician = self._physician()
        enrollment = self._enrollment(physician)
        if enrollment is None or enrollment.submitted_at is None:
            return redirect(url_for(".home"))
        return self._page("submitted.html", enrollment=enrollment)

    # --- 免考申请 ---------------------------------------------------------------------------

    @expose("/exemption", methods=["GET", "POST"])
    @has_access
    def exemption(self):
        from models import exemption as exempting

        physician = self._physician()
        enrollment = self._enrollment(physician)
        error = None
        if request.method == "POST":
            try:
                exempting.check_may_apply(enrollment)
                upload = request.files.get("proof")
                proof = None
                if upload is not None and upload.filename:
                    proof = storage.save_upload(upload, storage.LICENCE, "exemption_proof",
                                                physician_id=physician.id,
                                                uploaded_by_id=g.user.id)
                exempting.apply(enrollment, request.form.get("condition"), proof, user=g.user)
            except (exempting.ExemptionRefused, storage.UploadRefused) as refused:
                db.session.rollback()
                error = str(refused)
            else:
                db.session.commit()
                flash(_("The exemption application has been submitted, please wait for the "
                        "review"), "success")
                return redirect(url_for(".exemption"))
        try:
            exempting.check_may_apply(enrollment)
            refusal = None
        except exempting.ExemptionRefused as refused:
            refusal = str(refused)
        current = exempting.latest(enrollment)
        return self._page("exemption.html", current=current, refusal=refusal, error=error,
                          conditions=exempting.conditions(), waived=exempting.WAIVED_LABEL), (
            400 if error else 200)

    # --- results, FAQ ----------------------------------------------------------------------

    @expose("/results")
    @has_access
    def results(self):
        physician = self._physician()
        history = db.session.query(Enrollment).filter_by(physician_id=physician.id).order_by(
            Enrollment.id.desc()).all()
        return self._page("results.html", history=history, state_text=ef.state_text)

    @expose("/faq")
    @has_access
    def faq(self):
        return self._page("faq.html")


def register(appbuilder):
    appbuilder.add_view_no_menu(SelfServiceView)

"""The physicians' self-service pages (phone-sized): home, 我要报名 in five steps with preview
and submit, 考核结果, 常见问题. Physicians never reach the console's generated views; their
role grants only these. Rules live in ``models.enrollment_form``."""
import datetime

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from commands import enrollment as enrolling
from models import Cycle, Department, Enrollment, StoredFile
from models import enrollment_form as ef
from models.base import Refused
from models.enrollment import PROCEDURE
from models.physician import (
    EMPLOYMENT,
    GENDER,
    LICENCE_KIND,
    PHYSICIAN_LEVEL,
    PRACTICE_CATEGORY,
    TITLE,
)
from security import scope
from views.base import attempt

# Offered in the current language; the text chosen is what is stored (Physician.education).
EDUCATION = [_l("Technical secondary school"), _l("Junior college"), _l("Bachelor's degree"),
             _l("Master's degree"), _l("Doctorate"), _l("Other")]


class SelfServiceView(BaseView):
    route_base = "/me"
    default_view = "home"

    # --- helpers ---------------------------------------------------------------------------

    def _physician(self):
        return enrolling.own_physician(scope.current_actor())

    def _enrollment(self, physician):
        return enrolling.own_enrollment(scope.current_actor())

    def _page(self, template, **context):
        return self.render_template(f"selfservice/{template}", steps=ef.STEPS, **context)

    # --- home ------------------------------------------------------------------------------

    @expose("/")
    @has_access
    def home(self):
        physician = self._physician()
        cycle = Cycle.current()
        enrollment = self._enrollment(physician)
        return self._page(
            "home.html", physician=physician, cycle=cycle,
            windows=sorted(cycle.windows, key=lambda w: w.start_date) if cycle else [],
            enrollment=enrollment, state_text=ef.state_text(enrollment),
            hint=ef.task_hint(enrollment),
        )

    # --- 在线客服 ---------------------------------------------------------------------------

    @expose("/contact")
    @has_access
    def contact(self):
        """The contact details of the physician's institution, its assessment institution and
        its administration."""
        physician = self._physician()
        institution = physician.institution
        places = []
        if institution is not None:
            places.append((_("My medical institution"), institution))
            if institution.assessment_institution is not None:
                places.append((_("Assessment institution"), institution.assessment_institution))
            if institution.administration is not None:
                places.append((_("Competent administration"), institution.administration))
        return self._page("contact.html", places=places)

    # --- 我要报名 ---------------------------------------------------------------------------

    @expose("/enroll")
    @has_access
    def enroll(self):
        physician = self._physician()
        enrollment = self._enrollment(physician)
        if enrollment is not None and enrollment.state in ef.APPROVED_STATES:
            # The manual's page: 个人报名信息已通过审核，请按通知时间及时参加测评.
            return self._page("approved.html", enrollment=enrollment)
        try:
            ef.check_editable(enrollment)
        except Refused as refused:
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
        except Refused as refused:
            flash(str(refused), "warning")
            return redirect(url_for(".home"))
        if request.method == "POST":
            missing, error = attempt(lambda: enrolling.save_step(
                scope.current_actor(), number, request.form, request.files))
            if error is None and missing:
                # Saved, not complete (a paper licence's second page): say what is missing.
                flash(_("%(step)s saved", step=ef.STEPS[number]), "success")
                flash(missing, "warning")
                return redirect(url_for(".step", number=number))
            if error is None:
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
            # After a refused save the specialties chosen in the form stay chosen.
            chosen = ({int(i) for i in request.form.getlist("specialties") if i.isdigit()}
                      if request.method == "POST" else {s.id for s in physician.specialties})
            return dict(departments=departments, titles=TITLE.options(),
                        levels=PHYSICIAN_LEVEL.options(), categories=PRACTICE_CATEGORY.options(),
                        employments=EMPLOYMENT.options(), licence_kinds=LICENCE_KIND.options(),
                        licences=licences, chosen=chosen)
        if number == 3:
            return self._experience_context(physician)
        if number == 4:
            return dict(assessment=(enrollment.form_data or {}).get("assessment", {}),
                        lists=ef.GOOD_RECORD_LISTS, ratings=ef.ETHICS_RATINGS,
                        rating_enabled=ef.ethics_rating_enabled())
        proofs = db.session.query(StoredFile).filter(
            StoredFile.id.in_((enrollment.form_data or {}).get("proof_ids", []))).all()
        return dict(procedures=PROCEDURE.options(), conditions=ef.SIMPLE_CONDITIONS,
                    eligibility=ef.eligibility(physician, enrollment), proofs=proofs,
                    limit=ef.STATEMENT_LIMIT)

    def _experience_context(self, physician):
        """相关经历: the three sections with their rows; the row being edited (?edit=id) or the
        section a row is being added to (?add=kind), or after a refused save, the form posted."""
        rows = sorted(physician.experiences, key=lambda e: (e.start_date or datetime.date.min,
                                                            e.id))
        by_kind = {}
        for row in rows:
            by_kind.setdefault(row.kind, []).append(row)
        sections = [(kind, str(title), by_kind.get(kind, []))
                    for kind, title in ef.EXPERIENCE_SECTIONS.items()]
        sections += [(kind, str(title), by_kind[kind])
                     for kind, title in ef.LEGACY_SECTIONS.items() if by_kind.get(kind)]
        editing = None
        edit_id = request.values.get("edit", type=int) or request.form.get("row_id", type=int)
        if edit_id:
            editing = next((row for row in rows if row.id == edit_id), None)
            if editing is None:
                abort(404)
        adding = request.values.get("add") or (request.form.get("kind") if request.method == "POST"
                                               and not editing else None)
        if adding not in ef.EXPERIENCE_SECTIONS:
            adding = None
        return dict(sections=sections, editing=editing, adding=adding)

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
        except Refused:
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
        _result, error = attempt(lambda: enrolling.submit(scope.current_actor()))
        if error is not None:
            flash(error, "danger")
            return redirect(url_for(".preview"))
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
            _result, error = attempt(lambda: enrolling.apply_exemption(
                scope.current_actor(), request.form.get("condition"),
                request.files.get("proof")))
            if error is None:
                flash(_("The exemption application has been submitted, please wait for the "
                        "review"), "success")
                return redirect(url_for(".exemption"))
        try:
            exempting.check_may_apply(enrollment)
            refusal = None
        except Refused as refused:
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
        from models import certificate as results

        history = db.session.query(Enrollment).filter_by(physician_id=physician.id).order_by(
            Enrollment.id.desc()).all()
        return self._page("results.html", history=history, state_text=ef.state_text,
                          papers={e.id: results.paper_rows(e) for e in history},
                          reasons={e.id: results.failure_reason(e) for e in history},
                          certificates={c.enrollment_id: c for e in history
                                        for c in e.certificates})

    @expose("/faq")
    @has_access
    def faq(self):
        return self._page("faq.html", questions=FAQ)


# 常见问题: what physicians ask the help line most, answered as the manuals do.
FAQ = (
    (_l("The account does not exist or I cannot log in?"),
     _l("The ID number may be entered with 18 or 15 digits, a final X in either case; you may "
        "also log in with your bound mobile number. If you still cannot log in, ask your "
        "medical institution whether it has added you to the system (Add physician or Transfer in). "
        "The initial password is 666666.")),
    (_l("I forgot my password?"),
     _l("Click [Forgot password?] on the login page, enter your ID number or bound mobile number, and "
        "set a new password with the SMS code sent to the bound mobile. Without a bound "
        "mobile, ask your medical institution to reset the password to 666666.")),
    (_l("It says enrollment is not open?"),
     _l("Your medical institution must first include you in this assessment cycle (Physicians → "
        "Allow enrollment); then you can fill in [Enroll].")),
    (_l("I cannot choose my department or specialty?"),
     _l("Departments are created and enabled by your institution (Departments), and the "
        "specialties are the subjects linked to the department; please ask your institution "
        "to complete them.")),
    (_l("My submission was rejected, what now?"),
     _l("The home page shows the rejection reason; change what it names and submit again "
        "within the enrollment window.")),
    (_l("How are the years of practice counted?"),
     _l("From the first registration date to the cut-off date of this cycle. If a renewed "
        "licence cannot prove the years, upload the old licence, a screenshot of the first "
        "registration or a letter of your institution as proof.")),
    (_l("The face check before the exam fails?"),
     _l("Face the camera in good light, alone, without a mask or hat, and try again. It "
        "compares you with the photo you uploaded in [Enroll]; if that photo is not clear, "
        "ask your institution before the exam window.")),
)


def register(appbuilder):
    appbuilder.add_view_no_menu(SelfServiceView)

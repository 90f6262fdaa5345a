"""本机构信息: an institution keeps its own record right; physician counts come from the roster."""
from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from app import storage
from app.extensions import db
from models import Cycle, Physician
from models.base import MOBILE_PATTERN, Refused
from models.institution import INSTITUTION_GRADE, INSTITUTION_LEVEL, INSTITUTION_TYPE
from models.physician import PHYSICIAN_LEVEL, ROSTER_STATUS
from security import scope
from views.base import attempt

_REQUIRED = _l("This field is required")


class InstitutionInfoForm(FlaskForm):
    name = StringField(_l("Institution name"), [DataRequired(_REQUIRED), Length(max=128)])
    address_province = StringField(_l("Province"), [DataRequired(_REQUIRED), Length(max=32)])
    address_city = StringField(_l("City"), [DataRequired(_REQUIRED), Length(max=32)])
    address_district = StringField(_l("District"), [Optional(), Length(max=32)])
    address_street = StringField(_l("Street address"), [DataRequired(_REQUIRED), Length(max=255)])
    type = SelectField(_l("Institution type"), choices=INSTITUTION_TYPE.options(),
                       validators=[DataRequired(_REQUIRED)])
    level = SelectField(_l("Level"), choices=INSTITUTION_LEVEL.options(),
                        validators=[DataRequired(_REQUIRED)])
    grade = SelectField(_l("Institution grade"), choices=INSTITUTION_GRADE.options(),
                        validators=[DataRequired(_REQUIRED)])
    beds = IntegerField(_l("Approved beds"), [Optional(), NumberRange(
        min=0, message=_l("The number of beds cannot be negative"))])
    legal_representative = StringField(_l("Legal representative"),
                                       [DataRequired(_REQUIRED), Length(max=64)])
    contact = StringField(_l("Contact"), [DataRequired(_REQUIRED), Length(max=64)])
    phone = StringField(_l("Phone"), [Optional(), Regexp(
        r"^(0\d{2,3}-?)?\d{7,8}(-\d{1,6})?$",
        message=_l("Please enter a valid phone number, e.g. 010-12345678"))])
    mobile = StringField(_l("Mobile"), [DataRequired(_REQUIRED), Regexp(
        f"^{MOBILE_PATTERN}$", message=_l("Please enter a valid 11-digit mobile number"))])


class MyInstitutionView(BaseView):
    route_base = "/institution/mine"
    default_view = "edit"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def edit(self):
        institution = scope.acting_institution()
        form = InstitutionInfoForm(obj=institution)
        status = 200
        if request.method == "POST":
            if form.validate():
                from commands import institution as commands

                commands.update_own(scope.current_actor(), form.populate_obj)
                flash(str(_l("Saved")), "success")
                return redirect(url_for(".edit"))
            status = 400
        return self.render_template("institution/mine.html", form=form,
                                    institution=institution,
                                    counts=roster_counts(institution.id)), status


def roster_counts(institution_id):
    """医师总数 / 执业医师人数 / 执业助理医师人数, from the roster, never typed in."""
    rows = (
        db.session.query(Physician.level, db.func.count(Physician.id))
        .filter(Physician.institution_id == institution_id,
                Physician.roster_status == ROSTER_STATUS.ACTIVE)
        .group_by(Physician.level)
        .all()
    )
    by_level = dict(rows)
    return {
        "total": sum(by_level.values()),
        "physician": by_level.get(PHYSICIAN_LEVEL.PHYSICIAN, 0),
        "assistant": by_level.get(PHYSICIAN_LEVEL.ASSISTANT, 0),
    }


def register(appbuilder):
    appbuilder.add_view(MyInstitutionView, "MyInstitutionView", label=_l("Institution information"),
                        icon="fa-building", category="Institutions",
                        category_label=_l("Institution info"))


class ApplicationView(BaseView):
    """申请考核机构 (institution side): upload the attachments, then 提交申请."""

    route_base = "/institution/application"
    default_view = "page"

    @expose("/", methods=["GET"])
    @has_access
    def page(self, error=None, status=200):
        from models import application as applying

        institution = scope.acting_institution()
        cycle = Cycle.current()
        try:
            applying.check_may_apply(institution, cycle)
            refusal = None
        except Refused as refused:
            refusal = str(refused)
        application = applying.current_application(institution, cycle)
        attached = {a.slot: a.file for a in application.attachments} if application else {}
        return self.render_template(
            "institution/application.html", slots=applying.SLOTS, attached=attached,
            application=application, refusal=refusal, error=error,
            policy=storage.ATTACHMENT.describe(),
            editable=applying.editable(application),
        ), status

    @expose("/upload/<int:slot>", methods=["POST"])
    @has_access
    def upload(self, slot):
        from commands import application

        scope.acting_institution()
        _result, error = attempt(lambda: application.attach(
            scope.current_actor(), slot, request.files.get("file")))
        if error is not None:
            return self.page(error=error, status=400)
        flash(_("Uploaded"), "success")
        return redirect(url_for(".page"))

    @expose("/submit", methods=["POST"])
    @has_access
    def submit(self):
        from commands import application

        scope.acting_institution()
        _result, error = attempt(lambda: application.submit(scope.current_actor()))
        if error is not None:
            return self.page(error=error, status=400)
        flash(_("The application has been submitted, please wait for the competent "
                "administration's decision"), "success")
        return redirect(url_for(".page"))


class FileView(BaseView):
    """Every stored file is served here, after the same scope check as its records."""

    route_base = "/files"

    @expose("/<int:file_id>")
    @has_access
    def open(self, file_id):
        from models import StoredFile

        return storage.send_stored(scope.get_or_404(StoredFile, file_id))


def register_files(appbuilder):
    appbuilder.add_view(ApplicationView, "ApplicationView",
                        label=_l("Apply as assessment institution"), icon="fa-file",
                        category="Institutions")
    appbuilder.add_view_no_menu(FileView)

"""医师管理: the roster list with the manual's filters and tabs, 允许报名 / 取消报名 / 新增医师 /
调离 / 调入 / 删除 / 查看 / 重置密码. The rules are in ``models.roster``; these views translate
HTTP to those calls and back."""
from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, action, expose
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2Widget
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from wtforms import BooleanField, FileField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Optional, ValidationError

from app import storage
from app.extensions import db
from models import Cycle, Department, Enrollment, Physician
from models import roster
from models.enrollment import ENROLLMENT_STATE
from models.physician import (GENDER, ID_TYPE, PHYSICIAN_LEVEL, PRACTICE_CATEGORY, TITLE,
                              TRANSFER_REASON)
from security import idcard, scope
from views.base import (ConsoleView, ResetPasswordMixin, attempt, import_page, scoped,
                        xlsx_download)


class FilterIdNumber(BaseFilter):
    """证件号码: 18 or 15 digits, upper- or lower-case x, all find the same person."""

    name = _l("Equal to")
    arg_name = "idn"

    def apply(self, query, value):
        try:
            number = idcard.normalize(value)
        except idcard.InvalidIdNumber:
            number = (value or "").strip().upper()
        return query.filter(Physician.id_number == number)


class FilterConfirmed(BaseFilter):
    """是否确认参加报名: whether the physician is included in the current cycle."""

    name = _l("Confirmed for the current cycle")
    arg_name = "cnf"

    def apply(self, query, value):
        cycle = Cycle.current()
        included = exists().where(
            Enrollment.physician_id == Physician.id,
            Enrollment.cycle_id == (cycle.id if cycle else -1),
            Enrollment.state != ENROLLMENT_STATE.CANCELLED,
        )
        return query.filter(included if str(value) in ("1", "y", "true", "是") else ~included)


def _row_action_shown():
    """Each row offers 允许报名 or 取消报名, whichever applies (000 §7, §10): one query for
    the page's rows, on first use."""
    included = []

    def shown(name, pk, pks):
        if name not in ("allow_enrollment", "cancel_enrollment"):
            return True
        if not included:
            cycle = Cycle.current()
            included.append({physician_id for (physician_id,) in db.session.query(
                Enrollment.physician_id).filter(
                Enrollment.cycle_id == (cycle.id if cycle else -1),
                Enrollment.physician_id.in_([int(p) for p in pks]),
                Enrollment.state != ENROLLMENT_STATE.CANCELLED)})
        return (int(pk) in included[0]) == (name == "cancel_enrollment")

    return shown


def _optional_choices():
    """证件类型, 学历, 职称 from the manual's lists; 规培生 a plain tick (FAB would make a
    required tick of a NOT NULL boolean)."""
    from views.selfservice import EDUCATION

    return {
        # 证件类型 必填, most often 身份证: chosen for the clerk, who may change it.
        "id_type": SelectField(_l("ID type"), choices=ID_TYPE.options(),
                               default=ID_TYPE.RESIDENT_ID, widget=Select2Widget(),
                               validators=[Optional()]),
        "is_trainee": BooleanField(_l("Resident trainee"), default=False),
        # The text chosen, in the current language, is what is stored (as in self-service).
        "education": SelectField(_l("Education level"), widget=Select2Widget(),
                                 choices=lambda: [("", _("Please choose"))]
                                 + [(str(e), str(e)) for e in EDUCATION],
                                 validators=[Optional()]),
        "title": SelectField(_l("Title"), choices=[("", _l("Please choose"))] + TITLE.options(),
                             widget=Select2Widget(), validators=[Optional()]),
    }


def _id_number_free(form, field):
    try:
        idcard.normalize(field.data)
    except idcard.InvalidIdNumber as error:
        raise ValidationError(str(error)) from None
    if roster.find_by_id_number(field.data) is not None:
        raise ValidationError(str(roster.DUPLICATE_MESSAGE))


def _photo_checked(_form, field):
    """照片 on 新增医师 / 编辑: checked by its content before anything is saved."""
    upload = field.data
    if not upload or not getattr(upload, "filename", ""):
        return
    try:
        storage.checked(upload, storage.PHOTO)
    except storage.UploadRefused as refused:
        raise ValidationError(str(refused)) from None
    finally:
        upload.stream.seek(0)


def _photo_field():
    return FileField(_l("Photo"), validators=[_photo_checked],
                     description=_l("A 1-inch ID photo of the physician"))


class PhysicianView(ResetPasswordMixin, ConsoleView):
    datamodel = scoped(Physician, eager=("department",))
    list_title = show_title = _l("Physician list")
    list_template = "roster/list.html"
    add_title = _l("Add physician")
    edit_title = _l("Edit physician")
    list_columns = [
        "department", "name", "masked_id_number", "practice_category_label", "level_label",
        "certificate_date", "first_registration_date", "roster_status_label",
    ]
    show_columns = [
        "name", "id_number", "gender_label", "birth_date", "institution", "department",
        "practice_category_label", "level_label", "certificate_no", "certificate_date",
        "qualification_no", "first_registration_date", "roster_status_label", "mobile",
    ]
    # 新增医师 with the manual's fields (000 §8): 基本信息, then 执业信息; the two certificate
    # numbers are required.
    add_columns = [
        "name", "gender", "id_type", "id_number", "birth_date", "education", "email",
        "ethnicity", "mobile", "department", "specialties", "title", "title_date", "level",
        "is_trainee", "position", "position_date", "practice_category", "practice_scope",
        "certificate_no", "certificate_date", "qualification_no", "qualification_date",
        "first_registration_date", "photo_upload",
    ]
    edit_columns = [c for c in add_columns if c != "id_number"]
    search_columns = [
        "department", "name", "id_number", "birth_date", "first_registration_date",
        "practice_category", "level", "id",
    ]
    search_filters = {"id_number": [FilterIdNumber], "id": [FilterConfirmed]}
    label_columns = {"level": _l("Physician level"), "id": _l("Confirmed for enrollment"),
                     "name": _l("Full name"), "id_type": _l("ID type"),
                     "education": _l("Education level"), "email": _l("E-mail address"),
                     "ethnicity": _l("Ethnicity"), "specialties": _l("Specialties"),
                     "title": _l("Title"), "title_date": _l("Title date"),
                     "position": _l("Position"), "position_date": _l("Position date"),
                     "is_trainee": _l("Resident trainee"), "practice_scope": _l("Practice scope"),
                     "qualification_date": _l("Qualification date")}
    choice_fields = {"gender": GENDER, "practice_category": PRACTICE_CATEGORY,
                     "level": PHYSICIAN_LEVEL}
    validators_columns = {
        "certificate_no": [DataRequired(_l("Please fill in the practice certificate number"))],
        "qualification_no": [DataRequired(
            _l("Please fill in the qualification certificate number"))],
        "email": [Optional(), Email(_l("Please enter a valid e-mail address"))],
    }
    add_form_extra_fields = {
        "id_number": StringField(_l("ID number"), validators=[DataRequired(), _id_number_free],
                                 widget=BS3TextFieldWidget()),
        "photo_upload": _photo_field(),
        **_optional_choices(),
    }
    edit_form_extra_fields = {"photo_upload": _photo_field(), **_optional_choices()}
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "department": [["enabled", FilterEqual, True]],
    }
    base_order = ("id", "asc")
    account_link = "physician_id"
    reset_message = _l("Password reset to 666666; the mobile number is unbound")

    def before_save(self, item):
        actor = scope.current_actor()
        item.id_type = item.id_type or ID_TYPE.RESIDENT_ID
        if item.id is None:
            item.id_number = idcard.normalize(item.id_number)
            if actor.kind == scope.INSTITUTION:
                item.institution_id = actor.institution_id
            roster.check_new(item)
        elif item.department is not None:
            Department.require_enabled_of(item.department, item.institution_id)
        if item.id is not None:
            self._save_photo(item)

    def after_insert(self, item):
        roster.open_account(item)
        self._save_photo(item)

    @staticmethod
    def _save_photo(item):
        """The photo the form brought (already checked by its validator), as the physician's."""
        upload = vars(item).pop("photo_upload", None)
        if upload is not None and getattr(upload, "filename", ""):
            item.photo, item.photo_thumb = storage.save_photo(
                upload, item.id, uploaded_by_id=scope.current_actor().user_id)

    def _get_list_widget(self, **kwargs):
        kwargs.setdefault("row_action_shown", _row_action_shown())
        return super()._get_list_widget(**kwargs)

    def _delete(self, pk):
        from commands import roster as commands

        _result, error = attempt(lambda: commands.delete(scope.current_actor(), pk))
        flash(error or str(_l("Deleted")), "danger" if error else "success")
        self.update_redirect()

    @action("allow_enrollment", _l("Allow enrollment"),
            _l("Include the selected physicians in the current cycle?"), "fa-check",
            single=True, multiple=True)
    def allow_enrollment(self, items):
        from commands import roster as commands

        return self.run_command(
            lambda: commands.include(scope.current_actor(), [item.id for item in items]),
            lambda added: _("%(count)s physicians allowed to enroll", count=added))

    @action("cancel_enrollment", _l("Cancel enrollment"), None, "fa-ban", multiple=False)
    def cancel_enrollment(self, items):
        return redirect(url_for(".cancel_form", pk=items[0].id))

    @action("transfer_out", _l("Transfer out"), None, "fa-sign-out", multiple=False)
    def transfer_out(self, items):
        return redirect(url_for(".transfer_out_form", pk=items[0].id))

    def _physician_form(self, pk, command, done, title, reasons=None, precondition=None):
        """取消报名 / 调离: a page asking for the reason, then the roster command
        ``command(actor, physician_id, form)``."""
        physician = scope.get_or_404(Physician, pk)
        error = precondition(physician) if precondition else None
        if error is None and request.method == "POST":
            _result, error = attempt(lambda: command(scope.current_actor(), physician.id,
                                                     request.form))
            if error is None:
                flash(done, "success")
                return redirect(url_for(".list"))
        return self.render_template(
            "roster/reason.html", physician=physician, error=error, title=title,
            reasons=reasons,
        ), (400 if error and request.method == "POST" else 200)

    @expose("/cancel/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("cancel_enrollment")
    def cancel_form(self, pk):
        from commands import roster as commands

        return self._physician_form(
            pk, lambda actor, physician_id, form: commands.cancel(actor, physician_id,
                                                                  form.get("reason")),
            _("Enrollment cancelled"), _l("Cancel enrollment"),
            precondition=commands.cancellable)

    @expose("/transfer-out/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("transfer_out")
    def transfer_out_form(self, pk):
        from commands import roster as commands

        return self._physician_form(
            pk, lambda actor, physician_id, form: commands.transfer_out(
                actor, physician_id, form.get("reason"), form.get("detail")),
            _("Transferred out"), _l("Transfer out"), reasons=TRANSFER_REASON.options())


class TransferInView(BaseView):
    """调入医师: find a transferred-out physician by ID number and take them in."""

    route_base = "/roster/transfer-in"
    default_view = "search"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def search(self):
        institution = scope.acting_institution()
        found, error = None, None
        number = (request.values.get("id_number") or "").strip()
        if number:
            try:
                found = roster.find_by_id_number(number)
                if found is None:
                    error = _("No physician found: check the ID number (try its 15-digit or "
                              "18-digit form)")
                elif found.roster_status == "active":
                    error = roster.still_practising_message(found)
                    found = None
            except roster.RosterError as refused:
                error = str(refused)
        departments = db.session.scalars(
            select(Department).where(Department.institution_id == institution.id,
                                     Department.enabled.is_(True)).order_by(Department.name)
        ).all()
        if request.method == "POST" and found is not None and request.form.get("confirm"):
            from commands import roster as commands

            _result, error = attempt(lambda: commands.transfer_in(
                scope.current_actor(), found.id, request.form.get("department_id")))
            if error is None:
                flash(_("Physician %(name)s transferred in", name=found.name), "success")
                return redirect(url_for("PhysicianView.list"))
        return self.render_template(
            "roster/transfer_in.html", found=found, error=error, number=number,
            departments=departments,
        ), (400 if error and request.method == "POST" else 200)


class RosterImportView(BaseView):
    """医师批量导入: download the template, upload it filled in, read the per-row result."""

    route_base = "/roster/import"
    default_view = "upload"

    @expose("/template.xlsx")
    @has_access
    def template(self):
        from models import roster_import

        institution = scope.acting_institution()
        departments = db.session.scalars(select(Department).where(
            Department.institution_id == institution.id, Department.enabled.is_(True))).all()
        return xlsx_download(roster_import.template_bytes(departments),
                             _("Physician import template") + ".xlsx")

    @expose("/", methods=["GET", "POST"])
    @has_access
    def upload(self):
        from commands import roster as commands

        scope.acting_institution()
        return import_page(self, "roster/import.html", commands.import_roster)


def register(appbuilder):
    appbuilder.add_view(PhysicianView, "PhysicianView", label=_l("Physician list"),
                        icon="fa-user-md", category="Physicians",
                        category_label=_l("Physician management"))
    appbuilder.add_view(TransferInView, "TransferInView", label=_l("Transfer in physician"),
                        icon="fa-sign-in", category="Physicians")
    appbuilder.add_view(RosterImportView, "RosterImportView", label=_l("Import physicians"),
                        icon="fa-upload", category="Physicians")

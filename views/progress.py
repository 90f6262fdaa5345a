"""报名进度 (manual 000 §19, 002 2.2.9): where every physician is, with the manual's filters —
department, name, ID number, age, level, category, procedure, result, exemption state,
enrollment state — and 导出 to Excel as a background job."""
import datetime

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, action, expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from models import Department, Enrollment, Exemption, Physician, StoredFile
from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from security import idcard, scope
from views.base import ConsoleView, scoped


def _physicians(*conditions):
    return Enrollment.physician_id.in_(select(Physician.id).where(*conditions))


def _choice(choice_set, value):
    value = (value or "").strip()
    by_label = {choice_set.label(v): v for v in choice_set.values()}
    return by_label.get(value, value)


class _PhysicianFilter(BaseFilter):
    """Filters of 报名进度 on the physician's own fields (hung on the 医师 column)."""

    condition = None  # each filter below: value -> SQL condition on Enrollment

    def apply(self, query, value):
        value = (value or "").strip()
        return query.filter(self.condition(value)) if value else query


class FilterName(_PhysicianFilter):
    name = _l("Name contains")
    arg_name = "pname"

    def condition(self, value):
        return _physicians(Physician.name.contains(value))


class FilterIdNumber(_PhysicianFilter):
    name = _l("ID number is")
    arg_name = "pid"

    def condition(self, value):
        try:
            value = idcard.normalize(value)
        except idcard.InvalidIdNumber:
            value = value.upper()
        return _physicians(Physician.id_number == value)


class FilterDepartment(_PhysicianFilter):
    name = _l("Department is")
    arg_name = "pdept"

    def condition(self, value):
        return _physicians(Physician.department_id.in_(
            select(Department.id).where(Department.name == value)))


class FilterCategory(_PhysicianFilter):
    name = _l("Practice category is")
    arg_name = "pcat"

    def condition(self, value):
        return _physicians(Physician.practice_category == _choice(PRACTICE_CATEGORY, value))


class FilterLevel(_PhysicianFilter):
    name = _l("Physician level is")
    arg_name = "plevel"

    def condition(self, value):
        return _physicians(Physician.level == _choice(PHYSICIAN_LEVEL, value))


class FilterAge(_PhysicianFilter):
    """年龄: "40-50" (inclusive) or "45"."""

    name = _l("Age between (e.g. 40-50)")
    arg_name = "page"

    def condition(self, value):
        low, _dash, high = value.replace("～", "-").replace("~", "-").partition("-")
        try:
            low, high = int(low), int(high or low)
        except ValueError:
            return Enrollment.id.is_(None)  # not a number: nothing matches
        today = datetime.date.today()
        born_after = today.replace(year=today.year - high - 1) + datetime.timedelta(days=1)
        born_before = today.replace(year=today.year - low)
        return _physicians(Physician.birth_date.between(born_after, born_before))


class FilterExemptionState(_PhysicianFilter):
    name = _l("Exemption state is")
    arg_name = "pexm"

    def condition(self, value):
        from models.enrollment import EXEMPTION_STATE

        return Enrollment.id.in_(select(Exemption.enrollment_id).where(
            Exemption.state == _choice(EXEMPTION_STATE, value)))


PHYSICIAN_FILTERS = [FilterName, FilterIdNumber, FilterDepartment, FilterAge, FilterCategory,
                     FilterLevel, FilterExemptionState]


class EnrollmentView(ConsoleView):
    """报名进度; the administration's 驳回 after review; 导出."""

    datamodel = scoped(Enrollment)
    list_title = show_title = _l("Enrollment progress")
    list_template = "progress/list.html"
    list_columns = ["physician", "institution", "cycle", "procedure_label", "state_label",
                    "submitted_at"]
    search_columns = ["id", "state", "procedure", "result", "cycle", "institution"]
    search_filters = {"id": PHYSICIAN_FILTERS, "state": [FilterEqual],
                      "procedure": [FilterEqual], "result": [FilterEqual]}
    label_columns = {"id": _l("Physician"), "result": _l("Result")}
    base_permissions = ["can_list", "can_show", "can_reject_form", "can_export"]

    @action("reject_by_administration", _l("Reject"), None, "fa-undo", multiple=False)
    def reject_by_administration(self, items):
        return redirect(url_for(".reject_form", pk=items[0].id))

    @expose("/reject/<int:pk>", methods=["GET", "POST"])
    @has_access
    def reject_form(self, pk):
        from models import review

        return self.reason_form(
            Enrollment, pk,
            lambda item, reason: review.reject_by_administration(item, reason, user=g.user),
            _("Rejected: the physician may change and resubmit"),
            lambda item: item.physician.name)

    @expose("/export", methods=["POST"])
    @has_access
    def export(self):
        """导出: the list as filtered now, built by a worker; the file appears under 导出记录."""
        from app import jobs

        filters = {k: v for k, v in request.form.items() if k.startswith("_flt_")}
        jobs.queue().enqueue(jobs.export_progress, g.user.id, filters, str(get_locale()),
                             job_timeout=3600)
        flash(_("The export has been started: download it from [Export records] when it is "
                "finished"), "success")
        return redirect(url_for("ExportView.index"))


class ExportView(BaseView):
    """导出记录: the user's finished exports, newest first."""

    route_base = "/exports"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        files = scope.restrict(db.session.query(StoredFile), StoredFile).filter(
            StoredFile.purpose == "export", StoredFile.uploaded_by_id == g.user.id
        ).order_by(StoredFile.id.desc()).limit(50).all()
        return self.render_template("progress/exports.html", files=files)


def register(appbuilder):
    appbuilder.add_view(EnrollmentView, "EnrollmentView", label=_l("Enrollment progress"),
                        icon="fa-tasks", category="Assessment",
                        category_label=_l("Assessment management"))
    appbuilder.add_view_no_menu(ExportView)

"""报名进度 (manual 000 §19, 002 2.2.9): where every physician is, with the manual's filters
(defined in ``models.progress``), the administration's 驳回, and 导出 to Excel as a background
job."""
from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, action, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models import Enrollment, StoredFile
from models import progress
from security import scope
from views.base import ConsoleView, scoped


class EnrollmentView(ConsoleView):
    """报名进度; the administration's 驳回 after review; 导出."""

    datamodel = scoped(Enrollment)
    list_title = show_title = _l("Enrollment progress")
    list_template = "progress/list.html"
    list_columns = ["physician", "institution", "cycle", "procedure_label", "state_label",
                    "submitted_at"]
    search_columns = progress.SEARCH_COLUMNS
    search_filters = progress.SEARCH_FILTERS
    label_columns = {"id": _l("Physician"), "result": _l("Result")}
    base_permissions = ["can_list", "can_show", "can_reject_form", "can_export"]

    @action("reject_by_administration", _l("Reject"), None, "fa-undo", multiple=False)
    def reject_by_administration(self, items):
        return redirect(url_for(".reject_form", pk=items[0].id))

    @expose("/reject/<int:pk>", methods=["GET", "POST"])
    @has_access
    def reject_form(self, pk):
        from commands import review

        return self.reason_form(
            Enrollment, pk, review.reject_by_administration,
            _("Rejected: the physician may change and resubmit"),
            lambda item: item.physician.name)

    @expose("/export", methods=["POST"])
    @has_access
    def export(self):
        """导出: the list as filtered now, built by a worker; the file appears under 导出记录."""
        from app import jobs

        filters = {k: v for k, v in request.form.items() if k.startswith("_flt_")}
        jobs.enqueue_export(g.user.id, filters, str(get_locale()))
        flash(_("The export has been started: download it from [Export records] when it is "
                "finished"), "success")
        return redirect(url_for("ExportView.index"))


class ExportView(BaseView):
    """导出记录: the user's exports, newest first: those still waiting or being built, those
    that failed (with the reason), and the finished files."""

    route_base = "/exports"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        files = scope.restrict(db.session.query(StoredFile), StoredFile).filter(
            StoredFile.purpose == "export", StoredFile.uploaded_by_id == g.user.id
        ).order_by(StoredFile.id.desc()).limit(50).all()
        from app import jobs

        return self.render_template("progress/exports.html", files=files,
                                    pending=jobs.export_jobs(g.user.id))


def register(appbuilder):
    appbuilder.add_view(EnrollmentView, "EnrollmentView", label=_l("Enrollment progress"),
                        icon="fa-tasks", category="Assessment",
                        category_label=_l("Assessment management"))
    appbuilder.add_view_no_menu(ExportView)

"""报名进度 (manual 000 §19, 002 2.2.9): where every physician is, with the manual's filters
(defined in ``models.progress``), the administration's 驳回, and 导出 to Excel as a background
job."""
from flask import redirect, url_for
from flask_appbuilder import action, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import Enrollment
from models import progress
from views.base import ConsoleView, scoped


class EnrollmentView(ConsoleView):
    """报名进度; the administration's 驳回 after review; 导出."""

    datamodel = scoped(Enrollment, eager=("physician", "institution", "cycle"))
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
        """导出: the list as filtered now, built by a worker; it appears under 导出记录."""
        from views.exports import start_export

        return start_export(self, "enrollment_progress")


def register(appbuilder):
    appbuilder.add_view(EnrollmentView, "EnrollmentView", label=_l("Enrollment progress"),
                        icon="fa-tasks", category="Assessment",
                        category_label=_l("Assessment management"))

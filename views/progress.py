"""报名进度 (manual 000 §19, 002 2.2.9): where every physician is, with the manual's filters
(defined in ``models.progress``), the administration's 驳回, and 导出 to Excel as a background
job."""
from flask import redirect, url_for
from flask_appbuilder import action, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models import Enrollment, StoredFile
from models import progress
from models.reports import RESULT
from models.enrollment import ENROLLMENT_STATE, PROCEDURE
from security import scope
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
    label_columns = {"id": _l("Physician"), "result": _l("Assessment result"),
                     "state": _l("Enrollment state"), "procedure": _l("Assessment procedure"),
                     "procedure_label": _l("Assessment procedure")}
    choice_filters = {"state": ENROLLMENT_STATE, "procedure": PROCEDURE,
                      "result": RESULT}
    base_permissions = ["can_list", "can_show", "can_reject_form", "can_export"]

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """【查看】: the enrollment as the manuals name it, then what the physician submitted
        (the latest submission, page by page), the attachments and the review history."""
        from models import enrollment_form as ef
        from models.enrollment import EXEMPTION_STATE, RATING
        from models.reports import RESULT
        from views.review import FILE_PURPOSES, _Labels

        enrollment = scope.get_or_404(Enrollment, pk)
        physician = enrollment.physician
        exemptions = sorted(enrollment.exemptions, key=lambda e: e.id)
        rows = [
            (_l("Full name"), physician.name),
            (_l("ID number"), physician.masked_id_number),
            (_l("Institution"), enrollment.institution.name),
            (_l("Department"), physician.department.name if physician.department else ""),
            (_l("Cycle"), enrollment.cycle.name),
            (_l("Assessment procedure"), enrollment.procedure_label),
            (_l("Enrollment state"), enrollment.state_label),
            (_l("Submitted at"), _when(enrollment.submitted_at)),
            (_l("Work performance"), RATING.label(enrollment.work_rating)),
            (_l("Professional ethics"), RATING.label(enrollment.ethics_rating)),
            (_l("Assessment result"), RESULT.label(enrollment.result)),
            (_l("Exemption state"), EXEMPTION_STATE.label(exemptions[-1].state)
             if exemptions else _l("No exemption application")),
            (_l("Rejection reason"), enrollment.reject_reason or ""),
        ]
        versions = sorted(enrollment.submissions, key=lambda s: s.version)
        files = scope.restrict(db.session.query(StoredFile), StoredFile).filter(
            StoredFile.physician_id == enrollment.physician_id,
            StoredFile.purpose.in_(("licence", "simple_proof", "photo_thumb"))).all()
        return self.render_template(
            "progress/show.html", title=self.show_title, pk=enrollment.id,
            enrollment=enrollment, rows=rows,
            sections=versions[-1].data if versions else {}, files=files, purposes=FILE_PURPOSES,
            reviews=sorted(enrollment.reviews, key=lambda r: r.id), labels=_Labels,
            actions=self.actions, modelview_name=self.__class__.__name__)

    @action("print_certificates", _l("Print certificates"), None, "fa-print")
    def print_certificates(self, items):
        """打印: the selected 合格 physicians' certificates, as one PDF made by a worker."""
        from views.certificate import print_batch

        return print_batch([item.id for item in items])

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


def _when(value):
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def register(appbuilder):
    appbuilder.add_view(EnrollmentView, "EnrollmentView", label=_l("Enrollment progress"),
                        icon="fa-tasks", category="Assessment",
                        category_label=_l("Assessment management"))

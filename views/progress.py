"""报名进度 (manual 000 §19, 002 2.2.9): where every physician is, with the manual's filters
(defined in ``models.progress``), the administration's 驳回, and 导出 to Excel as a background
job."""
from flask import redirect, url_for
from flask_appbuilder import action, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models import Cycle, Department, Enrollment, StoredFile
from models import progress
from models.enrollment import ENROLLMENT_STATE, EXEMPTION_STATE, PROCEDURE
from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from models.reports import RESULT
from security import scope
from views.base import ConsoleView, scoped


def _exemption_state(enrollment):
    """免考状态: the latest exemption application's state (loaded with the page)."""
    if not enrollment.exemptions:
        return ""
    return EXEMPTION_STATE.label(max(enrollment.exemptions, key=lambda e: e.id).state)


# 报名进度's columns (manual 000 §19): what each reads from the enrollment and its physician.
# Physician, institution and exemptions are loaded for the whole page at once.
PROGRESS_COLUMNS = {
    "physician_name": lambda e: e.physician.name,
    "physician_id_number": lambda e: e.physician.masked_id_number,
    "physician_category": lambda e: e.physician.practice_category_label or "",
    "physician_level": lambda e: e.physician.level_label or "",
    "procedure_label": lambda e: e.procedure_label or "",
    "physician_first_registration": lambda e: (
        e.physician.first_registration_date.isoformat()
        if e.physician.first_registration_date else ""),
    "state_label": lambda e: e.state_label,
    "exemption_state": _exemption_state,
    "result_label": lambda e: RESULT.label(e.result) if e.result else "",
    "institution_name": lambda e: e.institution.name,
}


def _row_action_shown():
    """A row offers 打印证书 only when it is 合格, and 驳回 only where the state machine lets an
    administration reject: one query for the page's rows, on first use (the 操作 menu still
    offers both for ticked rows, and the commands refuse what does not apply)."""
    from models import workflow

    applies = {"print_certificates": {ENROLLMENT_STATE.PASSED},
               "reject_by_administration": workflow.ENROLLMENT.sources("administration_reject")}
    states = {}

    def shown(name, pk, pks):
        if name not in applies:
            return True
        if not states:
            states.update(db.session.query(Enrollment.id, Enrollment.state).filter(
                Enrollment.id.in_([int(p) for p in pks])).all())
        return states.get(int(pk)) in applies[name]

    return shown


class EnrollmentView(ConsoleView):
    """报名进度; the administration's 驳回 after review; 导出."""

    datamodel = scoped(Enrollment, display=PROGRESS_COLUMNS,
                       eager=("physician", "institution", "exemptions"))
    list_title = show_title = _l("Enrollment progress")
    list_template = "progress/list.html"
    list_columns = ["physician_name", "physician_id_number", "institution_name",
                    "physician_category", "physician_level", "procedure_label",
                    "physician_first_registration", "state_label", "exemption_state",
                    "result_label"]
    search_columns = progress.SEARCH_COLUMNS
    search_filters = progress.SEARCH_FILTERS
    # 科室 searches by name across the institutions in scope (a province has many 内科).
    related_lookups = {"department": (Department, Department.name, Department.name)}
    label_columns = {"id": _l("Physician"), "result": _l("Assessment result"),
                     "state": _l("Enrollment state"), "procedure": _l("Assessment procedure"),
                     "procedure_label": _l("Assessment procedure"),
                     "physician_name": _l("Full name"), "physician_id_number": _l("ID number"),
                     "institution_name": _l("Institution"),
                     "physician_category": _l("Practice category"),
                     "physician_level": _l("Physician level"),
                     "physician_first_registration": _l("First registration date"),
                     "state_label": _l("Enrollment state"),
                     "exemption_state": _l("Exemption state"),
                     "result_label": _l("Assessment result")}
    choice_filters = {"state": ENROLLMENT_STATE, "procedure": PROCEDURE,
                      "result": RESULT}
    base_permissions = ["can_list", "can_show", "can_reject_form", "can_export"]

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            kwargs.setdefault("bar", self._search_bar())
        return super().render_template(template, **kwargs)

    def _search_bar(self):
        """The manual's search bar: drop-downs in Chinese that send the codes the filters
        compare with, text boxes for name and ID number, 科室 and 机构 searched as one types."""
        from flask import request

        def select(key, label, options):
            return {"key": key, "label": label, "kind": "select", "name": progress.BAR_ARGS[key],
                    "value": request.args.get(progress.BAR_ARGS[key], ""),
                    "options": [(str(value), str(text)) for value, text in options]}

        def text(key, label, kind="text"):
            return {"key": key, "label": label, "kind": kind, "name": progress.BAR_ARGS[key],
                    "value": request.args.get(progress.BAR_ARGS[key], "")}

        fields = [
            text("department", _l("Department"), "related"),
            text("name", _l("Full name")),
            text("id_number", _l("ID number")),
            select("age", _l("Age"), [(r, _("%(range)s years", range=r))
                                      for r in progress.AGE_RANGES]),
            select("level", _l("Physician level"), PHYSICIAN_LEVEL.options()),
            select("category", _l("Practice category"), PRACTICE_CATEGORY.options()),
            select("procedure", _l("Assessment procedure"), PROCEDURE.options()),
            select("result", _l("Assessment result"), RESULT.options()),
            select("exemption", _l("Exemption state"), EXEMPTION_STATE.options()),
            select("state", _l("Enrollment state"), ENROLLMENT_STATE.options()),
            select("cycle", _l("Cycle"), [(c.id, c.name) for c in db.session.query(Cycle)
                                           .order_by(Cycle.id.desc()).limit(20)]),
        ]
        fields.append(text("institution", _l("Institution"), "related"))
        return fields

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

    def _get_list_widget(self, **kwargs):
        kwargs.setdefault("row_action_shown", _row_action_shown())
        return super()._get_list_widget(**kwargs)

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

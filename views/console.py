"""The staff console: ModelViews generated from the models, scoped through ``views.base``.

Menus follow the manuals: 首页, 机构信息, 医师管理, 考核管理, 行政管理, 系统管理.
"""

from flask import flash, redirect, url_for
from markupsafe import Markup, escape
from flask_appbuilder import action, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterEqual, FilterRelationOneToManyEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired

from app.extensions import db
from models import (
    Administration,
    AssessmentApplication,
    AuditLog,
    Cycle,
    Department,
    ExamAttempt,
    Exemption,
    Institution,
    ScheduleWindow,
    SmsMessage,
    Snapshot,
    Subject,
)
from models.base import Refused
from models.cycle import WINDOW_KIND
from models.enrollment import EXEMPTION_STATE
from models.exam import PAPER_KIND
from models.institution import (
    APPLICATION_STATE,
    INSTITUTION_GRADE,
    INSTITUTION_LEVEL,
    INSTITUTION_TYPE,
)
from models.jurisdiction import ADMIN_LEVEL
from security import scope
from views.base import ConsoleView, ResetPasswordMixin, record_name, scoped
from views.labels import AUDIT_ACTION, AUDIT_ENTITY, audit_state, audit_user


class AdministrationView(ResetPasswordMixin, ConsoleView):
    """行政机构: the tree province → cities → districts, each node with its account."""

    datamodel = scoped(Administration)
    list_title = show_title = _l("Administrations")
    add_title = _l("Add administration")
    edit_title = _l("Edit administration")
    list_columns = ["name", "level_label", "parent", "account", "contact", "phone"]
    show_columns = ["name", "level_label", "region_code", "parent", "account", "contact",
                    "phone"]
    add_columns = ["name", "level", "region_code", "parent", "account", "contact", "phone"]
    edit_columns = ["name", "region_code", "contact", "phone"]
    search_columns = ["name", "level"]
    choice_fields = {"level": ADMIN_LEVEL}
    add_form_extra_fields = {
        "account": StringField(_l("Account"),
                               validators=[DataRequired(_l("This field is required"))],
                               widget=BS3TextFieldWidget(),
                               description=_l("The login of this administration; its initial "
                                              "password is 666666, changed at the first "
                                              "login")),
    }
    label_columns = {"account": _l("Account"), "parent": _l("Superior administration")}

    account_link = "administration_id"

    def audit_place(self, item):
        return {"admin_path": item.path}

    def before_save(self, item):
        actor = scope.current_actor()
        if item.id is None and actor.kind == scope.ADMINISTRATION and item.parent is None:
            raise Refused(_("Please choose the superior administration"))
        item.check()

    def after_insert(self, item):
        item.assign_path()
        item.open_account()

    def post_add(self, item):
        flash(_("Account %(account)s created, its initial password is 666666",
                account=item.account), "success")


class FilterUnassigned(BaseFilter):
    """未指定考核机构: medical institutions with no assessment institution assigned yet."""

    name = _l("Not assigned")
    arg_name = "unassigned"

    def apply(self, query, value):
        return query.filter(Institution.assessment_institution_id.is_(None),
                            Institution.is_assessment.is_(False))


class InstitutionView(ResetPasswordMixin, ConsoleView):
    datamodel = scoped(Institution)
    list_title = show_title = _l("Institutions")
    add_title = _l("Add institution")
    edit_title = _l("Edit institution")
    list_columns = [
        "name", "account", "administration", "type_label", "level_label", "grade_label",
        "is_assessment", "assessment_institution",
    ]
    show_columns = [
        "name", "account", "administration", "address_province", "address_city",
        "address_district", "address_street", "type_label", "level_label", "grade_label",
        "beds", "legal_representative", "contact", "phone", "mobile", "is_assessment",
        "assessment_institution", "application_open",
    ]
    add_columns = edit_columns = [
        "name", "account", "administration", "address_province", "address_city",
        "address_district", "address_street", "type", "level", "grade", "beds",
        "legal_representative", "contact", "phone", "mobile", "assessment_institution",
    ]
    search_columns = ["name", "account", "type", "level", "is_assessment", "administration",
                      "assessment_institution"]
    search_filters = {"assessment_institution": [FilterRelationOneToManyEqual, FilterUnassigned]}
    account_link = "institution_id"
    choice_fields = {"type": INSTITUTION_TYPE, "level": INSTITUTION_LEVEL,
                     "grade": INSTITUTION_GRADE}
    add_form_query_rel_fields = edit_form_query_rel_fields = {
        "assessment_institution": [["is_assessment", FilterEqual, True]],
    }
    label_columns = {"level": _l("Institution level")}

    def audit_place(self, item):
        return {"institution": item}

    def _set_application_open(self, items, value):
        from commands import institution

        return self.run_command(
            lambda: institution.set_application_open(scope.current_actor(),
                                                     [item.id for item in items], value),
            _("Assessment institution application opened") if value
            else _("Assessment institution application closed"))

    @action("open_application", _l("Open application"),
            _l("Allow the selected institutions to apply as assessment institutions?"),
            "fa-unlock", single=True, multiple=True)
    def open_application(self, items):
        return self._set_application_open(items, True)

    @action("close_application", _l("Close application"), None, "fa-lock", single=True,
            multiple=True)
    def close_application(self, items):
        return self._set_application_open(items, False)

    def before_save(self, item):
        item.check()

    def after_insert(self, item):
        """A new institution gets its login at once: its account, password 666666."""
        item.open_account()

    def post_add(self, item):
        flash(_("Institution account %(account)s created, its initial password is 666666",
                account=item.account), "success")



class DepartmentView(ConsoleView):
    """科室信息: departments with their linked 诊疗科目; disable rather than delete one in use."""

    datamodel = scoped(Department)
    list_title = show_title = _l("Departments")
    add_title = _l("Add department")
    edit_title = _l("Edit department")
    list_columns = ["name", "subjects", "status_label", "institution"]
    show_columns = ["name", "subjects", "status_label", "institution"]
    add_columns = edit_columns = ["name", "subjects", "enabled"]
    search_columns = ["name", "enabled"]

    def before_save(self, item):
        actor = scope.current_actor()
        if actor.kind == scope.INSTITUTION:
            item.institution_id = actor.institution_id
        item.check()

    def before_delete(self, item):
        item.check_unused()

    def _set_enabled(self, items, enabled):
        from commands import institution

        return self.run_command(
            lambda: institution.set_departments_enabled(scope.current_actor(),
                                                        [item.id for item in items], enabled),
            _("Department enabled") if enabled else _("Department disabled"))

    @action("disable", _l("Disable"), None, "fa-pause", single=True, multiple=True)
    def disable(self, items):
        return self._set_enabled(items, False)

    @action("enable", _l("Enable"), None, "fa-play", single=True, multiple=True)
    def enable(self, items):
        return self._set_enabled(items, True)


class SubjectView(ConsoleView):
    datamodel = scoped(Subject)
    list_title = show_title = _l("Diagnosis and treatment subjects")
    list_columns = show_columns = ["code", "name", "parent"]
    search_columns = ["code", "name"]
    base_permissions = ["can_list", "can_show"]


class CycleView(ConsoleView):
    """考核周期: set by the province; the one marked current is the cycle in progress."""

    datamodel = scoped(Cycle)
    list_title = show_title = _l("Assessment cycles")
    add_title = _l("Add assessment cycle")
    edit_title = _l("Edit assessment cycle")
    list_columns = show_columns = ["name", "start_date", "end_date", "cutoff_date", "is_current"]
    add_columns = edit_columns = ["name", "start_date", "end_date", "cutoff_date", "is_current"]
    search_columns = ["name", "is_current"]
    # A checkbox: unticked is a valid answer (FAB would make the NOT NULL column required).
    add_form_extra_fields = edit_form_extra_fields = {
        "is_current": BooleanField(_l("Current cycle")),
    }

    def before_save(self, item):
        actor = scope.current_actor()
        if item.administration_id is None and actor.admin_path:
            root_id = int(actor.admin_path.strip("/").split("/")[0])
            item.administration_id = root_id
        item.check()


class ScheduleWindowView(ConsoleView):
    """时间安排: each stage's window in a cycle."""

    datamodel = scoped(ScheduleWindow)

    list_title = show_title = _l("Schedule")
    add_title = _l("Add schedule window")
    edit_title = _l("Edit schedule window")
    list_columns = show_columns = ["cycle", "kind_label", "start_date", "end_date"]
    search_columns = ["cycle"]
    add_columns = edit_columns = ["cycle", "kind", "start_date", "end_date"]
    choice_fields = {"kind": WINDOW_KIND}
    label_columns = {"kind": _l("Stage")}

    def before_save(self, item):
        try:
            item.check()
        except Refused:
            if item.id is None and item.cycle is not None:
                with db.session.no_autoflush:  # the form put it among the cycle's windows
                    item.cycle.windows.remove(item)
            raise


class ExemptionView(ConsoleView):
    """免考审核: the institution, then the assessment institution, approve or reject."""

    datamodel = scoped(Exemption)
    list_title = show_title = _l("Exemption review")
    list_columns = ["enrollment", "condition", "state_label", "waived_paper", "created_at"]
    show_columns = ["enrollment", "condition", "proof", "state_label", "reject_reason",
                    "waived_paper", "created_at", "decided_at"]
    search_columns = ["state"]
    search_filters = {"state": [FilterEqual]}
    choice_filters = {"state": EXEMPTION_STATE}
    base_permissions = ["can_list", "can_show", "can_reject_form"]
    label_columns = {"created_at": _l("Applied at")}
    formatters_columns = {
        "enrollment": lambda enrollment: _physician_and_id(enrollment),
        "proof": lambda stored: _file_link(stored),
        "waived_paper": lambda kind: PAPER_KIND.label(kind),
    }

    @action("approve", _l("Approve"), _l("Approve the selected exemption applications?"),
            "fa-check", single=True, multiple=True)
    def approve(self, items):
        from commands import exemption

        return self.run_command(
            lambda: exemption.decide(scope.current_actor(), [item.id for item in items], True),
            _("Approved in review"))

    @action("reject", _l("Reject"), None, "fa-times", multiple=False)
    def reject(self, items):
        return redirect(url_for(".reject_form", pk=items[0].id))

    @expose("/reject/<int:pk>", methods=["GET", "POST"])
    @has_access
    def reject_form(self, pk):
        from commands import exemption

        return self.reason_form(
            Exemption, pk,
            lambda actor, pk, reason: exemption.decide(actor, [pk], False, reason=reason),
            _("Rejected: the physician may resubmit"),
            lambda item: item.enrollment.physician.name)


class ExamAttemptView(ConsoleView):
    datamodel = scoped(ExamAttempt)
    list_title = show_title = _l("Exam progress")
    list_columns = show_columns = ["enrollment", "paper", "state_label", "started_at",
                                   "submitted_at", "score", "passed"]
    search_columns = ["paper", "passed"]
    base_permissions = ["can_list", "can_show"]
    formatters_columns = {"enrollment": lambda enrollment: _physician_and_id(enrollment)}


class SnapshotView(ConsoleView):
    datamodel = scoped(Snapshot)
    list_title = show_title = _l("Proctoring")
    list_columns = show_columns = ["attempt", "taken_at", "similarity", "suspected"]
    search_columns = ["similarity", "suspected"]
    base_permissions = ["can_list", "can_show"]


class AuditLogView(ConsoleView):
    """操作日志: who did what to which record, when and why, in the manuals' words."""

    datamodel = scoped(AuditLog, display={
        "entity": lambda row: str(AUDIT_ENTITY.get(row.entity, row.entity)),
        "action": lambda row: str(AUDIT_ACTION.get(row.action, row.action)),
        "from_state": lambda row: audit_state(row, row.from_state),
        "to_state": lambda row: audit_state(row, row.to_state),
        "username": audit_user,
    })
    list_title = show_title = _l("Audit log")
    list_columns = show_columns = ["at", "username", "entity", "entity_id", "action",
                                   "from_state", "to_state", "reason"]
    search_columns = ["username", "at"]
    base_order = ("id", "desc")
    base_permissions = ["can_list", "can_show"]


class SmsOutboxView(ConsoleView):
    datamodel = scoped(SmsMessage)
    list_title = show_title = _l("SMS outbox")
    list_columns = ["mobile", "body", "created_at", "expires_at", "used_at"]
    search_columns = ["mobile"]
    base_order = ("id", "desc")
    base_permissions = ["can_list", "can_show"]


class AssessmentApplicationView(ConsoleView):
    """考核机构申请 (administration side): read the attachments, approve or reject."""

    datamodel = scoped(AssessmentApplication)
    list_title = show_title = _l("Assessment institution applications")
    list_columns = ["institution", "cycle", "state_label", "submitted_at", "reason"]
    show_columns = ["institution", "cycle", "state_label", "submitted_at", "decided_at",
                    "reason"]
    show_template = "institution/application_show.html"
    search_columns = ["state", "institution"]
    search_filters = {"state": [FilterEqual]}
    choice_filters = {"state": APPLICATION_STATE}
    label_columns = {"reason": _l("Rejection reason")}
    base_permissions = ["can_list", "can_show", "can_reject"]

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        item = scope.get_or_404(AssessmentApplication, pk)
        widgets = self._show(pk)
        return self.render_template(self.show_template, pk=pk, title=self.show_title,
                                    widgets=widgets, related_views=self._related_views,
                                    item=item)

    @action("approve", _l("Approve"), _l("Approve the selected applications?"), "fa-check",
            single=True, multiple=True)
    def approve(self, items):
        from commands import application

        return self.run_command(
            lambda: application.decide(scope.current_actor(), [item.id for item in items],
                                       True),
            _("Approved: the institution is now an assessment institution"))

    @action("reject", _l("Reject"), None, "fa-times", multiple=False)
    def reject(self, items):
        return redirect(url_for(".reject_form", pk=items[0].id))

    @expose("/reject/<int:pk>", methods=["GET", "POST"])
    @has_access
    @permission_name("reject")
    def reject_form(self, pk):
        from commands import application

        return self.reason_form(
            AssessmentApplication, pk,
            lambda actor, pk, reason: application.decide(actor, [pk], False, reason=reason),
            _("Application rejected"), lambda item: item.institution.name)


def _physician_and_id(enrollment):
    """An enrollment in a cell: the physician's name and masked ID number."""
    if enrollment is None:
        return ""
    physician = enrollment.physician
    return f"{physician.name} {physician.masked_id_number}"


def _file_link(stored):
    """A proof opens through the scoped file route, in a new tab."""
    if stored is None:
        return ""
    return Markup('<a href="{}" target="_blank" rel="noopener">{}</a>').format(
        url_for("FileView.open", file_id=stored.id), escape(stored.original_name))


def register(appbuilder):
    from flask import current_app

    from views.base import register_error_pages

    register_error_pages(current_app._get_current_object())
    add = appbuilder.add_view
    add(InstitutionView, "InstitutionView", label=_l("Institution management"),
        icon="fa-hospital", category="Institutions", category_label=_l("Institution info"))
    add(DepartmentView, "DepartmentView", label=_l("Departments"), icon="fa-sitemap",
        category="Institutions")
    add(AssessmentApplicationView, "AssessmentApplicationView",
        label=_l("Assessment institution applications"), icon="fa-file",
        category="Administration", category_label=_l("Administration"))
    from views import institution

    institution.register_files(appbuilder)
    add(SubjectView, "SubjectView", label=_l("Diagnosis and treatment subjects"),
        icon="fa-list", category="Institutions")
    from views import roster

    roster.register(appbuilder)
    from views import progress

    progress.register(appbuilder)
    add(ExemptionView, "ExemptionView", label=_l("Exemption review"), icon="fa-check",
        category="Assessment")
    add(ExamAttemptView, "ExamAttemptView", label=_l("Exam progress"), icon="fa-pencil",
        category="Exams", category_label=_l("Exams"))
    # 监考管理's menu entry is views.proctoring; the raw snapshot list stays reachable.
    appbuilder.add_view_no_menu(SnapshotView)
    from views import exam_admin

    exam_admin.register(appbuilder)
    add(AdministrationView, "AdministrationView", label=_l("Administrations"),
        icon="fa-university", category="Administration",
        category_label=_l("Administration"))
    from views import tree

    tree.register(appbuilder)
    add(CycleView, "CycleView", label=_l("Assessment cycles"), icon="fa-calendar",
        category="Administration")
    add(ScheduleWindowView, "ScheduleWindowView", label=_l("Schedule"), icon="fa-clock",
        category="Administration")
    add(AuditLogView, "AuditLogView", label=_l("Audit log"), icon="fa-history",
        category="Administration")
    add(SmsOutboxView, "SmsOutboxView", label=_l("SMS outbox"), icon="fa-envelope",
        category="System", category_label=_l("System"))

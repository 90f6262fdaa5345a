"""测评 in the console: the province's question bank (题库) and papers (试卷); 测评进度 for every
level; 补考管理 for the province. Rules are in ``models.exam_rules``; the make-up decisions are
commands (``commands.exam``)."""
from flask import redirect, url_for
from flask_appbuilder import action, expose
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Optional

from flask_appbuilder.fieldwidgets import BS3TextFieldWidget

from app.extensions import db
from models import Enrollment, Paper, PaperResult, Question
from models import exam_rules
from models.base import Refused
from models.enrollment import ENROLLMENT_STATE, PROCEDURE
from models.exam import LETTERS, PAPER_KIND, QUESTION_KIND, QUESTION_TYPE
from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from security import scope
from views.base import ConsoleView, scoped
from views.exports import ExportableMixin

OPTION_FIELDS = [f"option_{letter.lower()}" for letter in LETTERS[:6]]


def _option_field(letter):
    return StringField(_l("Option %(letter)s", letter=letter), validators=[Optional()],
                       widget=BS3TextFieldWidget())


class QuestionView(ConsoleView):
    """题库: single choice, multiple choice and true-or-false questions of the bank."""

    datamodel = scoped(Question)
    list_title = show_title = _l("Question bank")
    add_title = _l("Add question")
    edit_title = _l("Edit question")
    list_columns = ["kind_label", "type_label", "stem", "answer", "score", "enabled"]
    show_columns = ["kind_label", "practice_category", "level", "type_label", "stem", "options",
                    "answer", "score", "explanation", "enabled"]
    add_columns = edit_columns = (["kind", "practice_category", "level", "type", "stem"]
                                  + OPTION_FIELDS + ["answer", "score", "explanation",
                                                     "enabled"])
    search_columns = ["kind", "type", "stem", "enabled"]
    choice_fields = {"kind": QUESTION_KIND, "type": QUESTION_TYPE}
    label_columns = {"kind": _l("Paper kind"), "kind_label": _l("Paper kind"),
                     "type": _l("Question type"), "type_label": _l("Question type"),
                     "options": _l("Options"), "explanation": _l("Explanation"),
                     "answer": _l("Answer"), "enabled": _l("Enabled")}
    description_columns = {
        "answer": _l("Answer (letters, e.g. A or ACD; true-or-false: A = true)")}
    add_form_extra_fields = edit_form_extra_fields = {
        name: _option_field(name[-1].upper()) for name in OPTION_FIELDS}
    formatters_columns = {"options": lambda options: "；".join(
        f"{LETTERS[i]}. {text}" for i, text in enumerate(options or []))}
    base_order = ("id", "desc")

    def __init__(self, *args, **kwargs):
        extra = {**_optional_choices(), **_checkboxes(enabled=_l("Enabled"))}
        self.add_form_extra_fields = {**self.add_form_extra_fields, **extra}
        self.edit_form_extra_fields = {**self.edit_form_extra_fields, **extra}
        super().__init__(*args, **kwargs)

    def prefill_form(self, form, pk):
        item = self.datamodel.get(pk)
        for index, name in enumerate(OPTION_FIELDS):
            options = item.options or []
            getattr(form, name).data = options[index] if index < len(options) else ""

    def before_save(self, item):
        from flask import request

        item.options = [request.form.get(name, "") for name in OPTION_FIELDS]
        problems = exam_rules.check_question(item)
        if problems:
            raise Refused(_("; ").join(problems))

    def before_delete(self, item):
        # A question a paper lists, or that someone has answered, stays (the papers and the
        # attempts keep meaning what they meant): it is taken out of use by unticking 启用.
        from models.exam import Answer, paper_question

        used = db.session.scalar(select(paper_question.c.paper_id).where(
            paper_question.c.question_id == item.id).limit(1)) or db.session.scalar(
            select(Answer.id).where(Answer.question_id == item.id).limit(1))
        if used:
            raise Refused(_("This question is used by a paper or has been answered, so it "
                            "cannot be deleted: untick Enabled to stop using it"))


def _checkboxes(**labels):
    """Yes/no switches: FAB makes a non-null column required, and an unticked box then fails."""
    from wtforms import BooleanField

    return {name: BooleanField(label) for name, label in labels.items()}


def _optional_choices():
    """Practice category and level of a professional question; empty means any."""
    from wtforms import SelectField

    from flask_appbuilder.fieldwidgets import Select2Widget

    return {
        "practice_category": SelectField(
            _l("Practice category"), choices=[("", _l("Any"))] + PRACTICE_CATEGORY.options(),
            validators=[Optional()], widget=Select2Widget()),
        "level": SelectField(
            _l("Physician level"), choices=[("", _l("Any"))] + PHYSICIAN_LEVEL.options(),
            validators=[Optional()], widget=Select2Widget()),
    }


PROFESSIONAL_DRAWS = ["draw_professional_single", "draw_professional_multiple",
                      "draw_professional_judge"]


class PaperView(ConsoleView):
    """试卷: per cycle and procedure, with window, duration, pass mark, attempts, and either a
    fixed list of questions or N of each type drawn per attempt (a combined paper: N of each
    type for its humanities part and for its professional part)."""

    datamodel = scoped(Paper)
    list_title = show_title = _l("Papers")
    add_title = _l("Add paper")
    edit_title = _l("Edit paper")
    list_columns = ["name", "cycle", "kind_label", "procedure_label", "opens_at", "closes_at",
                    "duration_minutes", "pass_mark", "max_attempts", "is_mock", "is_makeup"]
    show_columns = ["name", "cycle", "kind_label", "procedure_label", "practice_category",
                    "level", "is_mock", "is_makeup", "opens_at", "closes_at",
                    "duration_minutes", "pass_mark", "max_attempts", "draw_single",
                    "draw_multiple", "draw_judge"] + PROFESSIONAL_DRAWS + ["questions"]
    add_columns = edit_columns = (["name", "cycle", "kind", "procedure", "practice_category",
                                  "level", "is_mock", "is_makeup", "opens_at", "closes_at",
                                  "duration_minutes", "pass_mark", "max_attempts",
                                  "draw_single", "draw_multiple", "draw_judge"]
                                  + PROFESSIONAL_DRAWS + ["questions"])
    search_columns = ["name", "cycle", "kind", "procedure", "is_mock", "is_makeup"]
    choice_fields = {"kind": PAPER_KIND, "procedure": PROCEDURE}
    label_columns = {"kind": _l("Paper kind"), "kind_label": _l("Paper kind"),
                     "procedure": _l("Assessment procedure"),
                     "procedure_label": _l("Assessment procedure"),
                     "is_mock": _l("Mock paper (study)"), "is_makeup": _l("Make-up paper"),
                     "opens_at": _l("Exam opens"), "closes_at": _l("Exam closes"),
                     "max_attempts": _l("Attempts"),
                     "draw_single": _l("Single choice drawn per attempt"),
                     "draw_multiple": _l("Multiple choice drawn per attempt"),
                     "draw_judge": _l("True or false drawn per attempt"),
                     "draw_professional_single": _l(
                         "Combined paper, professional part: single choice drawn"),
                     "draw_professional_multiple": _l(
                         "Combined paper, professional part: multiple choice drawn"),
                     "draw_professional_judge": _l(
                         "Combined paper, professional part: true or false drawn"),
                     "questions": _l("Fixed questions (when nothing is drawn)")}
    description_columns = {
        "kind": _l("The general procedure sits either the combined paper or a medical "
                   "humanities and a professional paper, in that order"),
        **dict.fromkeys(("draw_single", "draw_multiple", "draw_judge"),
                        _l("For a combined paper: its medical humanities part")),
        "draw_professional_single": _l(
            "Drawn from the professional questions of the physician's practice category and "
            "level (questions without them serve everyone)")}
    base_order = ("id", "desc")

    def __init__(self, *args, **kwargs):
        extra = {**_optional_choices(), **_checkboxes(is_mock=_l("Mock paper (study)"),
                                                      is_makeup=_l("Make-up paper"))}
        self.add_form_extra_fields = {**(self.add_form_extra_fields or {}), **extra}
        self.edit_form_extra_fields = {**(self.edit_form_extra_fields or {}), **extra}
        super().__init__(*args, **kwargs)

    def before_save(self, item):
        exam_rules.check_paper(item)


class FilterProcedure(BaseFilter):
    """考核程序 of the physician's enrollment (简易程序 / 一般程序)."""

    name = _l("Assessment procedure is")
    arg_name = "proc"

    def apply(self, query, value):
        by_label = {PROCEDURE.label(v): v for v in PROCEDURE.values()}
        value = by_label.get((value or "").strip(), (value or "").strip())
        if not value:
            return query
        return query.filter(PaperResult.enrollment_id.in_(
            select(Enrollment.id).where(Enrollment.procedure == value)))


class PaperResultView(ExportableMixin, ConsoleView):
    """测评进度 (manual 002 2.2.9(2)): each physician's papers with attempts and best score."""

    datamodel = scoped(PaperResult, eager=("paper", "enrollment.physician",
                                           "enrollment.institution"))
    list_title = show_title = _l("Assessment progress")
    list_columns = ["physician_name", "institution_name", "paper", "procedure_label",
                    "attempts_used", "best_score", "status_label"]
    show_columns = list_columns
    search_columns = ["paper", "passed", "exempted", "enrollment"]
    search_filters = {"enrollment": [FilterProcedure]}
    # 考核程序 is picked from its two labels (the filter reads the code).
    choice_filters = {"enrollment": PROCEDURE}
    label_columns = {"physician_name": _l("Full name"), "institution_name": _l("Institution"),
                     "procedure_label": _l("Assessment procedure"),
                     "attempts_used": _l("Attempts used"), "best_score": _l("Best score"),
                     "status_label": _l("Assessment state"), "passed": _l("Passed"),
                     "exempted": _l("Exempted"), "enrollment": _l("Assessment procedure")}
    base_permissions = ["can_list", "can_show", "can_export"]
    export_kind = "paper_results"
    base_order = ("id", "desc")

    @action("print_certificates", _l("Print certificates"), None, "fa-print")
    def print_certificates(self, items):
        """打印: the certificates of the selected rows' physicians (合格 ones), one PDF."""
        from views.certificate import print_batch

        return print_batch(sorted({item.enrollment_id for item in items}))


class MakeupView(ExportableMixin, ConsoleView):
    """补考管理: the physicians 待确认补考 of the subtree; the province confirms (→ 待参加补考)
    or declines with a reason (→ 不合格)."""

    datamodel = scoped(Enrollment, eager=("physician", "institution"))
    route_base = "/makeup"
    list_title = show_title = _l("Make-up management")
    list_columns = ["physician", "institution", "procedure_label", "state_label"]
    show_columns = list_columns
    search_columns = ["state", "procedure", "institution"]
    search_filters = {"state": [FilterEqual], "procedure": [FilterEqual]}
    base_filters = [["state", FilterEqual, ENROLLMENT_STATE.AWAITING_MAKEUP_CONFIRMATION]]
    label_columns = {"physician": _l("Physician")}
    base_permissions = ["can_list", "can_show", "confirm_makeup", "can_decline", "can_export"]
    export_kind = "makeup"

    @action("confirm_makeup", _l("Confirm make-up"),
            _l("Allow the selected physicians to take the make-up exam?"), "fa-check",
            single=True, multiple=True)
    def confirm_makeup(self, items):
        from commands import exam

        return self.run_command(
            lambda: exam.confirm_makeup(scope.current_actor(), [item.id for item in items]),
            lambda count: _("%(count)s physicians may take the make-up exam", count=count))

    @action("decline_makeup", _l("Decline make-up"), None, "fa-times", multiple=False)
    def decline_makeup(self, items):
        return redirect(url_for(".decline", pk=items[0].id))

    @expose("/decline/<int:pk>", methods=["GET", "POST"])
    @has_access
    def decline(self, pk):
        from commands import exam

        return self.reason_form(Enrollment, pk, exam.decline_makeup,
                                _("Make-up declined: the result is unqualified"),
                                lambda item: item.physician.name, title=_l("Decline make-up"),
                                label=_l("Reason"))


def register(appbuilder):
    add = appbuilder.add_view
    add(PaperResultView, "PaperResultView", label=_l("Assessment progress"), icon="fa-bar-chart",
        category="Exams", category_label=_l("Exams"))
    add(MakeupView, "MakeupView", label=_l("Make-up management"), icon="fa-repeat",
        category="Exams")
    add(PaperView, "PaperView", label=_l("Papers"), icon="fa-book", category="Exams")
    add(QuestionView, "QuestionView", label=_l("Question bank"), icon="fa-question",
        category="Exams")

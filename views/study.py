"""我要学习 (phone first): the mock papers grouped by procedure as the manual shows them, 练习模式
(one question per card; 提交本题 tells right or wrong with the answer and the explanation),
背题模式 (the answers shown) and the 错题本. Answers reach the browser only through
``commands.study``, which answers for a mock paper the physician may study and nothing else."""
import random

from flask import flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _

from commands import study
from models import study_rules
from models.base import Refused
from models.exam import LETTERS, QUESTION_TYPE
from models.exam_rules import JUDGE_OPTIONS
from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from security import scope
from views.base import attempt as run


def _audience(paper):
    """Whom a mock paper is for, beyond its procedure: its practice category and level."""
    return [text for text in (PRACTICE_CATEGORY.label(paper.practice_category),
                              PHYSICIAN_LEVEL.label(paper.level)) if text]


class StudyView(BaseView):
    route_base = "/me/study"
    default_view = "index"

    def _page(self, template, **context):
        return self.render_template(f"study/{template}", letters=LETTERS, types=QUESTION_TYPE,
                                    judge=JUDGE_OPTIONS, **context)

    @expose("/")
    @has_access
    def index(self):
        actor = scope.current_actor()
        enrollment, grouped = study.study_list(actor)
        groups = [{"procedure": procedure, "subjects": study_rules.STUDY_SUBJECTS[procedure],
                   "papers": papers} for procedure, papers in grouped.items() if papers]
        _allowed, refusal = run(lambda: study_rules.check_may_study(enrollment))
        return self._page("index.html", groups=groups, enrollment=enrollment, refusal=refusal,
                          count=study_rules.question_count, audience=_audience,
                          mistakes=study.mistake_count(actor))

    def _round(self, template, paper_id, in_order):
        paper, error = run(lambda: study.study_paper(scope.current_actor(), paper_id))
        if error is not None:
            return redirect(url_for(".index"))  # which says why (an exam is being answered)
        physician = study.learner(scope.current_actor())[0]
        questions, refusal = run(lambda: study_rules.questions(
            paper, random.Random(), in_order=in_order, physician=physician))
        return self._page(template, paper=paper, questions=questions or [], refusal=refusal)

    @expose("/<int:paper_id>/practice")
    @has_access
    def practice(self, paper_id):
        """练习模式: the answers stay on the server until each question is checked."""
        return self._round("practice.html", paper_id, in_order=False)

    @expose("/<int:paper_id>/memorise")
    @has_access
    def memorise(self, paper_id):
        """背题模式: the questions with their right answers and explanations."""
        return self._round("memorise.html", paper_id, in_order=True)

    @expose("/<int:paper_id>/check", methods=["POST"])
    @has_access
    def check(self, paper_id):
        """提交本题 (JSON {question_id, response}): right or wrong, the answer, the explanation."""
        data = request.get_json(silent=True) or request.form
        try:
            right, answer, explanation = study.record_check(
                scope.current_actor(), paper_id, data.get("question_id"), data.get("response"))
        except Refused as refused:
            return jsonify(ok=False, message=str(refused)), 400
        return jsonify(ok=True, right=right, answer=answer, explanation=explanation)

    @expose("/mistakes")
    @has_access
    def mistakes(self):
        """错题本: each question answered wrong, how often and when last."""
        mistakes, error = run(lambda: study.mistakes(scope.current_actor()))
        if error is not None:
            return redirect(url_for(".index"))  # which says why (an exam is being answered)
        return self._page("mistakes.html", mistakes=mistakes)

    @expose("/mistakes/<int:mistake_id>/remove", methods=["POST"])
    @has_access
    def remove(self, mistake_id):
        _removed, error = run(lambda: study.remove_mistake(scope.current_actor(), mistake_id))
        flash(error or _("Removed from the mistake book"), "danger" if error else "success")
        return redirect(url_for(".mistakes"))

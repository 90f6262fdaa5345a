"""The rules of 我要学习 (DOMAIN §9; manual 001 第五阶段 考前学习准备): which mock papers a
physician studies and which questions a mock paper holds.

- 简易程序 studies [医学人文知识]: the humanities mock papers of the simple procedure;
  一般程序 studies [医学人文知识、专业知识]: the humanities, professional and combined mock papers
  of the general procedure — the kinds each procedure's papers may be
  (``exam_rules.PROCEDURE_KINDS``), whichever of them the cycle's real papers use.
- A combined mock paper's professional part, like a real one's, holds the questions of the
  physician's practice category and level (untagged ones serve any).
- A mock paper with a practice category or level (empty = any) is for the physicians who have
  them (``exam_rules.fits``).
- A physician who has not chosen a procedure yet — or is not enrolled in the cycle — studies
  the mock papers of both procedures (our rule: studying is for everyone in the cycle).
- A mock paper's questions are its fixed list or a fresh draw by its draw counts; a question
  belongs to it when it could be one of them (``exam_rules.holds``). Only such questions are
  ever checked or shown with their answers. A question on a real paper's fixed list is in no
  mock paper (``exam_rules``), and while the physician answers a real exam nothing is studied
  (our rule): the bank a drawn real paper draws from may be the one a mock paper draws from.
"""
import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from models.enrollment import PROCEDURE
from models.exam import Paper
from models.exam_rules import (
    KIND_ORDER,
    PROCEDURE_KINDS,
    ExamRefused,
    draw,
    fits,
    fixed_questions,
    open_attempt,
)
from models.exam_rules import question_count  # noqa: F401 (how many questions one round has)

# In the manual's order, with what each procedure studies.
PROCEDURE_ORDER = (PROCEDURE.SIMPLE, PROCEDURE.GENERAL)
STUDY_SUBJECTS = {
    PROCEDURE.SIMPLE: _l("Study [medical humanities knowledge]"),
    PROCEDURE.GENERAL: _l("Study [medical humanities knowledge, professional knowledge]"),
}


def procedures_for(enrollment):
    """The procedures whose mock papers the physician studies."""
    if enrollment is not None and enrollment.procedure in PROCEDURE:
        return (enrollment.procedure,)
    return PROCEDURE_ORDER


def mock_papers(cycle, physician, enrollment):
    """{procedure: [mock papers]} of the cycle that fit the physician, humanities first."""
    if cycle is None:
        return {}
    procedures = procedures_for(enrollment)
    papers = db.session.scalars(select(Paper).where(
        Paper.cycle_id == cycle.id, Paper.is_mock.is_(True),
        Paper.procedure.in_(procedures)).order_by(Paper.id)).all()
    grouped = {procedure: [] for procedure in procedures}
    for paper in papers:
        if paper.kind in PROCEDURE_KINDS[paper.procedure] and fits(paper, physician):
            grouped[paper.procedure].append(paper)
    for listed in grouped.values():
        listed.sort(key=lambda p: (KIND_ORDER.index(p.kind), p.id))
    return grouped


def may_study(paper, cycle, physician, enrollment):
    return paper.is_mock and any(paper in listed for listed in
                                 mock_papers(cycle, physician, enrollment).values())


def check_may_study(enrollment, now=None):
    """Nothing is studied while the physician answers a real exam: the answers shown here
    could be the exam's."""
    attempt = open_attempt(enrollment) if enrollment is not None else None
    if attempt is not None and attempt.deadline > (now or datetime.datetime.now()):
        raise ExamRefused(_("You are taking an exam: studying opens again once it is handed "
                            "in"))


def questions(paper, rng, in_order=False, physician=None):
    """One round's questions: a fresh draw (or the fixed list shuffled); ``in_order`` keeps a
    fixed list in the paper's own order (背题模式 reads it like a book)."""
    if in_order and not paper.is_drawn:
        return fixed_questions(paper)
    return draw(paper, rng, physician)

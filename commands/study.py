"""我要学习: the mock papers a physician studies, checking one answer in 练习模式 (a wrong one goes
into the 错题本), and removing a question from the 错题本. Rules are in ``models.study_rules``.

Physicians never read the question bank through ``scope`` (exam answers never reach their
browser): a question and its answer are only reached here, through a mock paper the physician
may study and that holds the question; anything else is a 404, as for a record that does not
exist."""
import datetime

from flask import abort
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.extensions import db
from commands import command
from commands import enrollment as enrolling
from models import Cycle, Paper, PracticeMistake, Question
from models import exam_rules as rules
from models import study_rules
from security import scope


def learner(actor):
    """(physician, current cycle, enrollment or None); 403 for anyone but a physician."""
    physician = enrolling.own_physician(actor)
    cycle = Cycle.current()
    return physician, cycle, enrolling.own_enrollment(actor, cycle)


def study_list(actor):
    """(enrollment, {procedure: [mock papers]}) for 我要学习's list."""
    physician, cycle, enrollment = learner(actor)
    return enrollment, study_rules.mock_papers(cycle, physician, enrollment)


def study_paper(actor, paper_id):
    """The mock paper if the physician may study it; otherwise 404 (a real exam paper too).
    Refused while the physician is answering a real exam."""
    physician, cycle, enrollment = learner(actor)
    paper = scope.require(actor, scope.READ, Paper, paper_id)
    if not study_rules.may_study(paper, cycle, physician, enrollment):
        abort(404)
    study_rules.check_may_study(enrollment)
    return paper


@command
def record_check(actor, paper_id, question_id, response, now=None):
    """提交本题 in 练习模式: (right, the right answer's letters, the explanation). A wrong answer
    records the question in the physician's 错题本, or counts it once more; a right one leaves
    the book as it is (the physician removes a question when they know it)."""
    paper = study_paper(actor, paper_id)
    try:
        question_id = int(question_id)
    except (TypeError, ValueError):
        abort(404)
    if not rules.holds(paper, question_id, physician=learner(actor)[0]):
        abort(404)
    question = db.session.get(Question, question_id)
    letters = rules.normalise_response(question, response)
    if letters is None:
        raise rules.ExamRefused(_("Choose an answer first"))
    right = rules.is_right(question, letters)
    if not right:
        _count_mistake(actor.physician_id, question.id, now or datetime.datetime.now())
    return right, "".join(sorted(question.answer)), question.explanation or ""


def _count_mistake(physician_id, question_id, now):
    # One statement, so two checks at the same moment count twice and never collide on the
    # (physician, question) unique key.
    table = PracticeMistake.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(table).values(
        physician_id=physician_id, question_id=question_id, times=1, last_at=now,
    ).on_conflict_do_update(index_elements=[table.c.physician_id, table.c.question_id],
                            set_={"times": table.c.times + 1, "last_at": now}))


def mistakes(actor):
    """The physician's 错题本, the latest mistake first (refused while answering an exam)."""
    _physician, _cycle, enrollment = learner(actor)
    study_rules.check_may_study(enrollment)
    return scope.restrict(db.session.query(PracticeMistake), PracticeMistake, actor).order_by(
        PracticeMistake.last_at.desc(), PracticeMistake.id.desc()).all()


def mistake_count(actor):
    return db.session.scalar(select(func.count(PracticeMistake.id)).where(
        scope.condition(PracticeMistake, actor)))


@command
def remove_mistake(actor, mistake_id):
    """移除: the question leaves the physician's own 错题本 (another's is a 404)."""
    mistake = scope.require(actor, scope.CHANGE, PracticeMistake, mistake_id)
    db.session.delete(mistake)
    return mistake

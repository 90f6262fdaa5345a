"""The rules of 测评 (DOMAIN §9): which papers a physician must pass, whether one may be started
now, how an attempt draws and orders its questions, how it is graded, and how the papers'
results settle the cycle result through the state machine.

- 简易程序: the humanities paper; 一般程序: the humanities paper, then the professional paper of
  the physician's practice category and level (it opens once the humanities paper is passed) —
  or, when the cycle sets one, the 医学人文与业务水平综合试卷 (combined) alone. A cycle's general
  procedure has either the combined paper or the pair, never both (``check_paper``).
- A combined paper draws a humanities part and a professional part; the professional questions
  match the physician's practice category and level (untagged ones serve any).
- An approved exemption waives one paper (models.exemption.WAIVED_PAPER); it counts as passed.
  Under the general procedure it waives the professional paper, or a combined paper's
  professional part (our rule): the physician sits the humanities part alone, and the pass mark
  shrinks in proportion to the questions left (``required_score``).
- Every required paper passed → 合格 (cycle over). A required paper failed with no attempts
  left → 待确认补考; after the province confirms, the make-up papers of the failed kinds decide:
  passed → 合格, failed with no attempts left → 不合格.
- Single choice and 判断 are right when exact; 多选 only when every right option and no other is
  chosen. The score is the sum of the right questions' scores; passed when ≥ the pass mark.
- A mock paper (我要学习, which shows answers) never holds a question on a real paper's fixed
  list, whether listed on it or drawn from the bank.
"""
import datetime
import random

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import aliased

from app.extensions import db
from models import workflow
from models.base import Refused
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import EXEMPTION_STATE, PROCEDURE, Enrollment, Exemption
from models.exam import (
    ATTEMPT_STATE,
    LETTERS,
    QUESTION_TYPE,
    Answer,
    ExamAttempt,
    Paper,
    PaperResult,
    Question,
    paper_question,
)

# Paper kinds in the order they must be passed.
KIND_ORDER = ("humanities", "professional", "combined")
REQUIRED_KINDS = {PROCEDURE.SIMPLE: ("humanities",),
                  PROCEDURE.GENERAL: ("humanities", "professional")}
# The general procedure when its cycle sets the combined paper.
COMBINED_KINDS = ("combined",)
# The kinds a procedure's papers may be (the pair or the combined paper under the general one).
PROCEDURE_KINDS = {PROCEDURE.SIMPLE: ("humanities",),
                   PROCEDURE.GENERAL: ("humanities", "professional", "combined")}
JUDGE_OPTIONS = ("正确", "错误")


class ExamRefused(Refused):
    """Starting, answering or handing in was refused; the message is for the user."""


# --- which papers ---------------------------------------------------------------------------


def waived_kinds(enrollment):
    return {e.waived_paper for e in db.session.scalars(select(Exemption).where(
        Exemption.enrollment_id == enrollment.id, Exemption.state == EXEMPTION_STATE.APPROVED))
        if e.waived_paper}


def uses_combined(cycle_id, procedure):
    """Whether the cycle's ``procedure`` sits the combined paper (a real one, regular or
    make-up, is set for it) rather than the humanities and professional pair."""
    if procedure != PROCEDURE.GENERAL:
        return False
    return db.session.scalars(select(Paper.id).where(
        Paper.cycle_id == cycle_id, Paper.procedure == procedure, Paper.is_mock.is_(False),
        Paper.kind == "combined").limit(1)).first() is not None


def required_kinds(enrollment):
    """The paper kinds the enrollment must pass, in order."""
    if uses_combined(enrollment.cycle_id, enrollment.procedure):
        return COMBINED_KINDS
    return REQUIRED_KINDS.get(enrollment.procedure, ())


def fits(paper, physician):
    """Whether a paper's practice category and level (empty = any) fit the physician."""
    return (paper.practice_category in (None, "", physician.practice_category)
            and paper.level in (None, "", physician.level))


def papers_for(enrollment, makeup=False):
    """{kind: paper} the physician sits in this cycle (the make-up papers when ``makeup``)."""
    kinds = required_kinds(enrollment)
    papers = db.session.scalars(select(Paper).where(
        Paper.cycle_id == enrollment.cycle_id, Paper.is_mock.is_(False),
        Paper.is_makeup.is_(makeup), Paper.procedure == enrollment.procedure,
        Paper.kind.in_(kinds)).order_by(Paper.id)).all()
    chosen = {}
    for paper in papers:
        # The most specific paper that fits the physician wins (category and level set).
        if fits(paper, enrollment.physician):
            best = chosen.get(paper.kind)
            rank = bool(paper.practice_category) + bool(paper.level)
            if best is None or rank > bool(best.practice_category) + bool(best.level):
                chosen[paper.kind] = paper
    return {kind: chosen[kind] for kind in KIND_ORDER if kind in chosen}


def result_for(enrollment, paper):
    return db.session.scalars(select(PaperResult).where(
        PaperResult.enrollment_id == enrollment.id, PaperResult.paper_id == paper.id)).first()


def open_attempt(enrollment):
    return db.session.scalars(select(ExamAttempt).where(
        ExamAttempt.enrollment_id == enrollment.id,
        ExamAttempt.state == ATTEMPT_STATE.IN_PROGRESS)).first()


def kind_waived(enrollment, kind):
    """Whether an approved exemption waives the whole of ``kind`` (a combined paper is never
    waived whole: only its professional part is)."""
    return kind in waived_kinds(enrollment)


def kind_passed(enrollment, kind, makeup=False):
    """A kind counts as passed when waived, or when its paper (or, in a make-up, the regular
    or the make-up paper) has been passed."""
    if kind_waived(enrollment, kind):
        return True
    for papers in ([papers_for(enrollment)] + ([papers_for(enrollment, True)] if makeup else [])):
        paper = papers.get(kind)
        result = result_for(enrollment, paper) if paper is not None else None
        if result is not None and result.passed:
            return True
    return False


def card_status(enrollment, paper, now=None):
    """What the manual's card shows: (code, text). Codes: exempted, passed, used_up,
    waiting (not yet open), closed, locked (an earlier paper first), open."""
    now = now or datetime.datetime.now()
    if kind_waived(enrollment, paper.kind):
        return "exempted", _("Exempted")
    result = result_for(enrollment, paper)
    if result is not None and result.passed:
        return "passed", _("Paper passed")
    if result is not None and result.attempts_used >= paper.max_attempts:
        return "used_up", _("No attempts left")
    if paper.opens_at and now < paper.opens_at:
        return "waiting", _("Waiting for the exam to start…")
    if paper.closes_at and now >= paper.closes_at:
        return "closed", _("The exam has ended")
    for kind in KIND_ORDER[:KIND_ORDER.index(paper.kind)]:
        if kind in required_kinds(enrollment) and not kind_passed(
                enrollment, kind, makeup=paper.is_makeup):
            return "locked", _("Pass the medical humanities paper first")
    return "open", _("Enter the assessment")


def check_may_start(enrollment, paper, now=None):
    """Refuse with the reason when the physician may not start ``paper`` now."""
    if enrollment is None:
        raise ExamRefused(_("You are not enrolled in the current cycle"))
    makeup_state = enrollment.state == S.AWAITING_MAKEUP
    if enrollment.state != S.AWAITING_EXAM and not makeup_state:
        raise ExamRefused(_("You cannot take an exam in your current state: %(state)s",
                            state=enrollment.state_label))
    if paper.is_makeup != makeup_state or papers_for(enrollment, paper.is_makeup).get(
            paper.kind) is not paper:
        raise ExamRefused(_("This paper is not one you sit"))
    enrollment.cycle.require_open("makeup_exam" if paper.is_makeup else "exam",
                                  (now or datetime.datetime.now()).date())
    code, text = card_status(enrollment, paper, now)
    if code != "open":
        raise ExamRefused(text)


# --- an attempt -----------------------------------------------------------------------------


def draw(paper, rng, physician=None, skip_kinds=()):
    """The questions of one attempt, in the order shown: the fixed list, or N of each type
    drawn from the enabled bank questions of each part's kind (a combined paper: its
    humanities part, then its professional part); professional questions match the paper's
    and the physician's category / level. ``skip_kinds``: parts waived by an exemption."""
    if not paper.is_drawn:
        questions = [q for q in fixed_questions(paper) if q.kind not in skip_kinds]
        rng.shuffle(questions)
        return questions
    drawn = []
    for kind, draws in paper.parts:
        if kind in skip_kinds:
            continue
        for qtype, count in draws.items():
            if not count:
                continue
            ids = db.session.scalars(_pool(paper, kind, qtype, physician)
                                     .order_by(Question.id)).all()
            if len(ids) < count:
                raise ExamRefused(_("The question bank does not hold enough questions for "
                                    "this paper: please contact the health administration"))
            drawn.extend(rng.sample(ids, count))
    questions = {q.id: q for q in db.session.scalars(select(Question).where(
        Question.id.in_(drawn)))}
    return [questions[i] for i in drawn]


def _kept_from_mock(query, paper):
    """A mock paper never holds a question on a real paper's fixed list: studying (我要学习
    shows the answers) must not reveal an exam's questions and answers."""
    if not paper.is_mock:
        return query
    on_real_papers = select(paper_question.c.question_id).join(
        Paper, Paper.id == paper_question.c.paper_id).where(Paper.is_mock.is_(False))
    return query.where(Question.id.not_in(on_real_papers))


def fixed_questions(paper):
    """A fixed-list paper's questions that can be set (enabled), in the paper's order."""
    query = select(Question).join(paper_question, paper_question.c.question_id == Question.id)
    return list(db.session.scalars(_kept_from_mock(query.where(
        paper_question.c.paper_id == paper.id, Question.enabled.is_(True)), paper)
        .order_by(Question.id)))


def _pool(paper, kind, qtype, physician=None):
    """The ids of the bank questions a drawn paper draws its ``kind`` part's ``qtype``
    questions from. Professional questions match the paper's category and level when it has
    them and, for a combined paper, the physician's (an untagged question serves any)."""
    query = select(Question.id).where(
        Question.enabled.is_(True), Question.kind == kind, Question.type == qtype)
    if kind == "professional":
        wanted = [(column, value) for column, value in (
            (Question.practice_category, paper.practice_category),
            (Question.level, paper.level)) if value]
        if paper.kind == "combined" and physician is not None:
            # A physician without a category or level gets the untagged questions only.
            wanted += [(Question.practice_category, physician.practice_category),
                       (Question.level, physician.level)]
        for column, value in wanted:
            query = query.where(or_(column == value, column.is_(None), column == ""))
    return _kept_from_mock(query, paper)


def holds(paper, question_id, physician=None):
    """Whether the question can be one of the paper's: on its fixed list, or (a drawn paper)
    in the pool of a type a part draws. Disabled questions are in no paper."""
    if not paper.is_drawn:
        return any(question.id == question_id for question in fixed_questions(paper))
    return any(db.session.scalars(_pool(paper, kind, qtype, physician)
                                  .where(Question.id == question_id)).first() is not None
               for kind, draws in paper.parts for qtype, count in draws.items() if count)


def skipped_parts(enrollment, paper):
    """The parts of a combined paper an approved exemption waives (its professional part
    under the general procedure); nothing for a humanities or professional paper."""
    if paper.kind != "combined" or enrollment is None:
        return ()
    return tuple(kind for kind, _draws in paper.parts if kind in waived_kinds(enrollment))


def question_count(paper, skip_kinds=()):
    """How many questions one attempt of the paper has (without the waived parts)."""
    if paper.is_drawn:
        return sum(count for kind, draws in paper.parts if kind not in skip_kinds
                   for count in draws.values() if count)
    return len([q for q in fixed_questions(paper) if q.kind not in skip_kinds])


def required_score(attempt):
    """The score an attempt passes with: the paper's pass mark, or — a combined paper whose
    professional part is waived — the pass mark in proportion to the questions sat."""
    return _proportional(attempt.paper, len(attempt.question_ids or []))


def pass_mark_for(enrollment, paper):
    """The pass mark the physician will sit ``paper`` with (shown on the 考前须知)."""
    skipped = skipped_parts(enrollment, paper)
    if not skipped:
        return paper.pass_mark
    return _proportional(paper, question_count(paper, skipped))


def _proportional(paper, sat):
    full = question_count(paper)
    if paper.kind != "combined" or not full or sat >= full:
        return paper.pass_mark
    return -(-paper.pass_mark * sat // full)


def option_letters(question):
    if question.type == QUESTION_TYPE.JUDGE:
        return list(LETTERS[:2])
    return list(LETTERS[:len(question.options or [])])


def new_attempt(enrollment, paper, number, device, now=None, seed=None):
    now = now or datetime.datetime.now()
    rng = random.Random(seed)
    questions = draw(paper, rng, enrollment.physician, skipped_parts(enrollment, paper))
    if not questions:
        raise ExamRefused(_("This paper has no questions yet: please contact the health "
                            "administration"))
    orders = {}
    for question in questions:
        letters = option_letters(question)
        if question.type != QUESTION_TYPE.JUDGE:
            rng.shuffle(letters)
        orders[str(question.id)] = letters
    deadline = now + datetime.timedelta(minutes=paper.duration_minutes)
    if paper.closes_at is not None:
        deadline = min(deadline, paper.closes_at)
    attempt = ExamAttempt(paper=paper, enrollment=enrollment, number=number,
                          state=ATTEMPT_STATE.IN_PROGRESS, started_at=now, deadline=deadline,
                          question_ids=[q.id for q in questions], option_orders=orders,
                          device=device)
    db.session.add(attempt)
    return attempt


def normalise_response(question, response):
    """The letters chosen, sorted and validated for the question's type; None when blank."""
    letters = "".join(sorted(set((response or "").upper().replace(",", "").strip())))
    if not letters:
        return None
    allowed = set(option_letters(question))
    if not set(letters) <= allowed:
        raise ExamRefused(_("That option does not belong to the question"))
    if question.type != QUESTION_TYPE.MULTIPLE and len(letters) != 1:
        raise ExamRefused(_("Choose one option"))
    return letters


def is_right(question, response):
    return response is not None and response == "".join(sorted(question.answer))


def grade(attempt):
    """Mark every saved answer and score the attempt; returns the score."""
    questions = {q.id: q for q in db.session.scalars(select(Question).where(
        Question.id.in_(attempt.question_ids)))}
    answers = {a.question_id: a for a in db.session.scalars(select(Answer).where(
        Answer.attempt_id == attempt.id))}
    score = 0
    for question_id in attempt.question_ids:
        question = questions[question_id]
        answer = answers.get(question_id)
        right = is_right(question, answer.response if answer else None)
        if answer is not None:
            answer.correct = right
        if right:
            score += question.score
    attempt.score = score
    attempt.passed = score >= required_score(attempt)
    return score


_LOOK_IT_UP = object()


def record_result(attempt, result=_LOOK_IT_UP):
    """Keep the paper's best score and attempts used. ``result``: the paper's result row (or
    None: there is none yet) when the caller has just read it under the enrollment's lock."""
    if result is _LOOK_IT_UP:
        result = result_for(attempt.enrollment, attempt.paper)
    if result is None:
        result = PaperResult(enrollment=attempt.enrollment, paper=attempt.paper,
                             attempts_used=0, passed=False)
        db.session.add(result)
    result.attempts_used = max(result.attempts_used or 0, attempt.number)
    if result.best_score is None or (attempt.score or 0) > result.best_score:
        result.best_score = attempt.score
    result.passed = bool(result.passed or attempt.passed)
    db.session.flush()
    return result


def hand_in(attempt, event, now=None, user=None):
    """交卷 (``submit``) or the deadline (``expire``): grade, record, settle the cycle."""
    workflow.apply(attempt, event, user=user)
    attempt.submitted_at = now or datetime.datetime.now()
    grade(attempt)
    record_result(attempt)
    settle(attempt.enrollment, user=user, now=now)
    return attempt


def settle(enrollment, user=None, now=None):
    """Move the enrollment when its papers decide the cycle: every required kind passed →
    合格; a required kind failed with no attempts left, or whose paper's time is over with no
    attempt open → 待确认补考 (regular) or 不合格 (make-up). Called after each hand-in, after an
    exemption is approved, and by the sweeper when a paper closes (``closed_unpassed``)."""
    now = now or datetime.datetime.now()
    makeup = enrollment.state == S.AWAITING_MAKEUP
    if enrollment.state not in (S.AWAITING_EXAM, S.AWAITING_MAKEUP):
        return None
    kinds = required_kinds(enrollment)
    if all(kind_passed(enrollment, kind, makeup) for kind in kinds):
        return workflow.apply(enrollment, "exam_passed", user=user)
    papers = papers_for(enrollment, makeup)
    for kind in kinds:
        if kind_passed(enrollment, kind, makeup):
            continue
        paper = papers.get(kind)
        result = result_for(enrollment, paper) if paper is not None else None
        used_up = result is not None and result.attempts_used >= paper.max_attempts
        closed = (paper is not None and paper.closes_at is not None and paper.closes_at <= now
                  and open_attempt(enrollment) is None)
        if used_up or closed:
            return workflow.apply(enrollment, "makeup_failed" if makeup else "exam_failed",
                                  user=user)
    return None


def closed_unpassed(now):
    """The enrollments ``settle`` may now fail for time: still awaiting a required paper that
    fits them, whose time is over, neither passed nor waived, with no attempt open."""
    from models import Physician

    paper = aliased(Paper)
    makeup = Enrollment.state == S.AWAITING_MAKEUP
    # A paper of any kind its procedure may have is required: a cycle never sets both the
    # combined paper and the pair for the same procedure (check_paper).
    required = or_(*[and_(Enrollment.procedure == procedure, paper.kind.in_(kinds))
                     for procedure, kinds in PROCEDURE_KINDS.items()])
    closed_paper = select(paper.id).where(
        paper.cycle_id == Enrollment.cycle_id, paper.procedure == Enrollment.procedure,
        paper.is_mock.is_(False), paper.closes_at <= now, required,
        or_(and_(~makeup, paper.is_makeup.is_(False)), and_(makeup, paper.is_makeup.is_(True))),
        or_(paper.practice_category.is_(None),
            paper.practice_category == Physician.practice_category),
        or_(paper.level.is_(None), paper.level == Physician.level),
        ~select(PaperResult.id).where(PaperResult.enrollment_id == Enrollment.id,
                                      PaperResult.paper_id == paper.id,
                                      PaperResult.passed.is_(True)).exists(),
        ~select(Exemption.id).where(Exemption.enrollment_id == Enrollment.id,
                                    Exemption.state == EXEMPTION_STATE.APPROVED,
                                    Exemption.waived_paper == paper.kind).exists())
    return (select(Enrollment.id).join(Physician, Physician.id == Enrollment.physician_id)
            .where(Enrollment.state.in_((S.AWAITING_EXAM, S.AWAITING_MAKEUP)),
                   closed_paper.exists(),
                   ~select(ExamAttempt.id).where(
                       ExamAttempt.enrollment_id == Enrollment.id,
                       ExamAttempt.state == ATTEMPT_STATE.IN_PROGRESS).exists())
            .order_by(Enrollment.id))


# --- the bank and the papers ----------------------------------------------------------------


def check_question(question):
    """A question the bank may hold: a stem, options that fit its type, an answer among them,
    a positive score, and a stem not already in the bank for the same paper kind. Returns the
    problems (all of them, for the import's per-row reasons); empty when it is fine."""
    from models.exam import QUESTION_KIND

    problems = []
    question.stem = (question.stem or "").strip()
    if not question.stem:
        problems.append(_("The question is empty"))
    if question.kind not in QUESTION_KIND:
        problems.append(_("Choose the paper kind the question is for"))
    if question.type not in QUESTION_TYPE:
        problems.append(_("Choose the question type: single choice, multiple choice or true "
                          "or false"))
    options = [str(o).strip() for o in (question.options or []) if str(o).strip()]
    if question.type == QUESTION_TYPE.JUDGE:
        options = list(JUDGE_OPTIONS)
    elif question.type in QUESTION_TYPE and len(options) < 2:
        problems.append(_("A choice question needs at least two options"))
    elif len(options) > len(LETTERS):
        problems.append(_("A question has at most %(count)s options", count=len(LETTERS)))
    question.options = options
    answer = "".join(sorted(set((question.answer or "").upper().replace(",", "").strip())))
    if question.type == QUESTION_TYPE.JUDGE:
        answer = {"对": "A", "正确": "A", "T": "A", "错": "B", "错误": "B", "F": "B"}.get(
            (question.answer or "").strip().upper(), answer)
    question.answer = answer
    if not answer:
        problems.append(_("The answer is missing"))
    elif not set(answer) <= set(LETTERS[:len(options)]):
        problems.append(_("The answer %(answer)s is not among the options", answer=answer))
    elif question.type in (QUESTION_TYPE.SINGLE, QUESTION_TYPE.JUDGE) and len(answer) != 1:
        problems.append(_("A single choice or true-or-false question has one answer"))
    elif question.type == QUESTION_TYPE.MULTIPLE and len(answer) < 2:
        problems.append(_("A multiple choice question has at least two right options"))
    if question.score is None or question.score < 1:
        problems.append(_("The score must be a whole number of at least 1"))
    if question.stem and question.kind and db.session.scalars(select(Question.id).where(
            Question.kind == question.kind, Question.stem == question.stem,
            Question.id != (question.id or -1))).first():
        problems.append(_("The same question is already in the bank"))
    return problems


def check_paper(paper):
    """A paper that can be sat: its procedure and kind, times inside its cycle's exam (or
    make-up) window, positive duration, pass mark and attempts, and questions to draw."""
    from models.exam import PAPER_KIND

    if paper.kind not in PAPER_KIND:
        raise ExamRefused(_("Choose the paper kind"))
    if paper.procedure not in PROCEDURE:
        raise ExamRefused(_("Choose the assessment procedure the paper is for"))
    for value, label in ((paper.duration_minutes, _("Duration (minutes)")),
                         (paper.pass_mark, _("Pass mark")),
                         (paper.max_attempts, _("Attempts"))):
        if value is None or value < 1:
            raise ExamRefused(_("%(field)s must be a whole number of at least 1", field=label))
    if any(count is not None and count < 0 for _kind, draws in
           (paper.parts + [("professional", paper.professional_draws)])
           for count in draws.values()):
        raise ExamRefused(_("The number of questions drawn cannot be negative"))
    check_combined(paper)
    if not paper.is_mock:
        if paper.opens_at is None or paper.closes_at is None:
            raise ExamRefused(_("Please fill in when the exam opens and closes"))
        if paper.opens_at >= paper.closes_at:
            raise ExamRefused(_("The exam must open before it closes"))
        if paper.cycle is not None:
            kind = "makeup_exam" if paper.is_makeup else "exam"
            window = paper.cycle.window(kind)
            if window is None or not (window.start_date <= paper.opens_at.date()
                                      and paper.closes_at.date() <= window.end_date):
                from models.cycle import WINDOW_KIND

                raise ExamRefused(_("The exam's time must lie inside the schedule's %(stage)s "
                                    "period", stage=WINDOW_KIND.label(kind)))


def check_combined(paper):
    """A combined paper is for the general procedure and, when drawn, draws both parts; the
    professional part's counts belong to a combined paper only; and a cycle's procedure sits
    either the combined paper or the humanities and professional pair, never both."""
    if paper.kind != "combined":
        if any(paper.professional_draws.values()):
            raise ExamRefused(_("The professional part's numbers drawn are for a combined "
                                "paper only: leave them empty"))
    else:
        if paper.procedure != PROCEDURE.GENERAL:
            raise ExamRefused(_("The combined paper is for physicians of the general "
                                "procedure"))
        if paper.is_drawn and not all(any(draws.values()) for _kind, draws in paper.parts):
            raise ExamRefused(_("A combined paper draws questions for both its parts: fill in "
                                "the medical humanities part and the professional part"))
    if paper.is_mock or paper.cycle_id is None and paper.cycle is None:
        return
    cycle_id = paper.cycle_id if paper.cycle_id is not None else paper.cycle.id
    other_kinds = ("humanities", "professional") if paper.kind == "combined" else ("combined",)
    clash = db.session.scalars(select(Paper).where(
        Paper.cycle_id == cycle_id, Paper.procedure == paper.procedure,
        Paper.is_mock.is_(False), Paper.kind.in_(other_kinds),
        Paper.id != (paper.id or -1)).order_by(Paper.id).limit(1)).first()
    if clash is not None:
        raise ExamRefused(_("In one cycle the general procedure sits either the combined paper "
                            "or the medical humanities and professional papers, not both: "
                            "%(paper)s is already set", paper=clash.name))

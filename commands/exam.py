"""参加考试 and 补考管理: start (or resume, or take over on another device) an attempt, save an
answer the moment it is chosen, hand in, the sweeper that hands in at the deadline, and the
province's make-up decisions. Rules are in ``models.exam_rules``.

The attempt's row is the lock: starting locks the enrollment (one open attempt at a time),
saving an answer is a conditional update of the open attempt (so no answer lands after the hand
in), and handing in locks the attempt and moves it through the state machine, so twenty clicks
on 交卷 grade once."""
import datetime
import secrets

from flask_babel import gettext as _
from sqlalchemy import Boolean, DateTime, Integer, String, bindparam, select, update

from app.extensions import db
from commands import command, lock, user_of
from models import Answer, Enrollment, ExamAttempt, Paper, Question
from models import exam_rules as rules
from models import workflow
from models.cycle import Cycle
from models.enrollment import ENROLLMENT_STATE as S
from models.exam import ATTEMPT_STATE
from security import scope


class TakenOver(rules.ExamRefused):
    """The attempt goes on on another device; this one must stop."""


def own_enrollment(actor):
    if actor.kind != scope.PHYSICIAN:
        from flask import abort

        abort(403)
    cycle = Cycle.current()
    if cycle is None:
        return None
    return scope.restrict(db.session.query(Enrollment), Enrollment, actor, scope.CHANGE).filter(
        Enrollment.cycle_id == cycle.id).first()


def new_device():
    return secrets.token_hex(16)


@command
def start(actor, paper_id, device, now=None):
    """进入测评 → 我知晓—开始考试: the open attempt of this paper (taken over by ``device``),
    or a new one when the physician may start it now."""
    now = now or datetime.datetime.now()
    enrollment = own_enrollment(actor)
    paper = db.session.get(Paper, int(paper_id)) if str(paper_id).isdigit() else None
    if paper is None or paper.is_mock:
        from flask import abort

        abort(404)
    if enrollment is None:
        raise rules.ExamRefused(_("You are not enrolled in the current cycle"))
    lock(enrollment)
    current = rules.open_attempt(enrollment)
    if current is not None:
        if current.paper_id != paper.id:
            raise rules.ExamRefused(_("Please finish the paper you have started first: "
                                      "%(paper)s", paper=current.paper.name))
        if current.deadline <= now:
            _expire(current, now)
            raise rules.ExamRefused(_("The time for this attempt is over; it has been handed "
                                      "in with the answers saved"))
        current.device = device
        return current
    rules.check_may_start(enrollment, paper, now)
    from commands import proctoring

    # 人脸信息采集授权 and a passed 人脸验证 before a new attempt (config
    # FACE_VERIFICATION_REQUIRED); resuming an open attempt needs neither again.
    verified = proctoring.check_may_start(enrollment, paper, now)
    result = rules.result_for(enrollment, paper)
    number = (result.attempts_used if result else 0) + 1
    attempt = rules.new_attempt(enrollment, paper, number, device, now)
    attempt.face_verified = verified
    # The result row counts the attempt from its start: a reload cannot buy another try. (Its
    # row read above, under the enrollment's lock; its flush writes the attempt too.)
    rules.record_result(attempt, result)
    from models.audit import record as audit

    audit("exam_attempt", attempt.id, "start", institution=enrollment.institution,
          to_state=attempt.state, user=user_of(actor))
    return attempt


def _open_attempt_for(actor, attempt_id):
    return scope.require(actor, scope.CHANGE, ExamAttempt, attempt_id)


@command
def save_answer(actor, attempt_id, device, question_id, response, flagged=None, now=None):
    """Save one answer (idempotent per question): refused after the deadline, after the hand
    in, for a question not in the attempt, or from a device the attempt was taken from."""
    now = now or datetime.datetime.now()
    attempt = _open_attempt_for(actor, attempt_id)
    try:
        question_id = int(question_id)
    except (TypeError, ValueError):
        raise rules.ExamRefused(_("That question is not in this paper")) from None
    if question_id not in attempt.question_ids:
        raise rules.ExamRefused(_("That question is not in this paper"))
    # The guard and the lock in one statement: only an open attempt of this device, before
    # its deadline, takes the answer; a hand-in running now waits for this one or wins.
    table = ExamAttempt.__table__
    moved = db.session.execute(
        update(table).where(table.c.id == attempt.id,
                            table.c.state == ATTEMPT_STATE.IN_PROGRESS,
                            table.c.device == device, table.c.deadline > now)
        .values(device=table.c.device)).rowcount
    if moved != 1:
        db.session.expire(attempt)
        _refuse_closed(attempt, device, now)
    # Validated after the guard: a page taken over or closed is told so whatever it sends.
    letters = rules.normalise_response(db.session.get(Question, question_id), response)
    _upsert_answer(attempt.id, question_id, letters, flagged, now)
    return letters


def _refuse_closed(attempt, device, now):
    if attempt.state != ATTEMPT_STATE.IN_PROGRESS:
        raise rules.ExamRefused(_("This exam has already been handed in"))
    if attempt.device != device:
        raise TakenOver(_("This exam is being continued on another device; this page can no "
                          "longer answer"))
    raise rules.ExamRefused(_("The time is up: the exam is handed in with the answers saved"))


def _insert():
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _on_conflict(statement, letters, flagged, now):
    """The upsert's second half: a second save of the question replaces the first."""
    table = Answer.__table__
    changes = {"response": letters, "answered_at": now}
    if flagged is not None:
        changes["flagged"] = bool(flagged)
    return statement.on_conflict_do_update(
        index_elements=[table.c.attempt_id, table.c.question_id], set_=changes)


def _upsert_answer(attempt_id, question_id, letters, flagged, now):
    values = {"attempt_id": attempt_id, "question_id": question_id, "response": letters,
              "flagged": bool(flagged), "answered_at": now}
    db.session.execute(_on_conflict(_insert()(Answer.__table__).values(**values),
                                    letters, flagged, now))


def save_answer_if_open(user_id, attempt_id, device, question_id, letters, flagged=None,
                        now=None, engine=None):
    """Exam day's hot path (``views.exam_answer``): the answer of a response already
    validated, written by ONE statement only where ``save_answer``'s rules hold — the attempt
    is open, answered from ``device``, before its deadline, and belongs to the physician of
    the account ``user_id`` (an active one): scope's ExamAttempt CHANGE rule for a physician.
    On PostgreSQL the attempt's row is share-locked, so a hand-in (``submit`` locks it for
    update) waits for the saves in flight and a save that comes after the hand-in writes
    nothing. Its own transaction, on a connection of its own (the ORM session is not needed
    for one statement). False when nothing was written: the caller asks ``save_answer`` why.
    ``engine``: the app's (``db.engine``, the default), given by a caller that keeps it."""
    engine = engine or db.engine
    key = (engine.dialect, flagged is None)
    prepared = _guarded_upserts.get(key)
    if prepared is None:
        prepared = _guarded_upserts[key] = _Prepared(
            _guarded_upsert(engine.dialect.name, flagged is None), engine.dialect)
    with engine.begin() as connection:
        return prepared.run(connection, {
            "attempt_id": attempt_id, "question_id": question_id, "response": letters,
            "flagged": bool(flagged), "now": now or datetime.datetime.now(), "device": device,
            "user_id": user_id}) == 1


class _Prepared:
    """A statement compiled once for a dialect and run as its SQL text
    (``exec_driver_sql``: the engine's events and logging still see it), its parameters
    converted by the very bind processors SQLAlchemy would apply. What SQLAlchemy would do
    on each call besides — walk the statement for its cache key, look the compiled form up —
    costs more than the statement itself on the exam's hot path."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.positions = compiled.positiontup  # None for a named paramstyle
        self.escaped = dict(compiled.escaped_bind_names or {})
        processors = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        # The statement's own values (its literals: the state, an active account) converted
        # once; the caller's (the bind parameters without a value) on every run.
        self.given = [(name, processors.get(name)) for name, bind in compiled.binds.items()
                      if bind.required]
        given = {name for name, _ in self.given}
        self.fixed = {name: processors[name](value) if name in processors else value
                      for name, value in compiled.construct_params(_check=False).items()
                      if name not in given}

    def run(self, connection, params):
        """The statement's rowcount."""
        values = dict(self.fixed)
        for name, processor in self.given:
            value = params[name]
            values[name] = value if processor is None else processor(value)
        if self.positions is not None:
            args = tuple(values[name] for name in self.positions)
        else:
            args = {self.escaped.get(name, name): value for name, value in values.items()}
        return connection.exec_driver_sql(self.sql, args).rowcount


_guarded_upserts = {}


def attempt_questions(attempt_id, engine=None):
    """The hot path's read of an attempt's questions: {question id: (type, options)}, or None
    when there is no such attempt. On a connection of its own, like the save, so the request's
    ORM session opens no transaction (the checked view it may fall through to starts clean)."""
    with (engine or db.engine).connect() as connection:
        question_ids = connection.scalar(
            select(ExamAttempt.question_ids).where(ExamAttempt.id == attempt_id))
        if question_ids is None:
            return None
        return {row.id: (row.type, row.options) for row in connection.execute(
            select(Question.id, Question.type, Question.options)
            .where(Question.id.in_(question_ids)))}


def _guarded_upsert(dialect, keep_flag):
    """The statement of ``save_answer_if_open``, built once per database and flag variant."""
    from models.account import AppUser

    table = Answer.__table__
    guard = (
        select(ExamAttempt.id, bindparam("question_id", type_=Integer),
               bindparam("response", type_=String), bindparam("flagged", type_=Boolean),
               bindparam("now", type_=DateTime))
        .join(Enrollment, Enrollment.id == ExamAttempt.enrollment_id)
        .join(AppUser, AppUser.physician_id == Enrollment.physician_id)
        .where(ExamAttempt.id == bindparam("attempt_id"),
               ExamAttempt.state == ATTEMPT_STATE.IN_PROGRESS,
               ExamAttempt.device == bindparam("device"),
               ExamAttempt.deadline > bindparam("now"),
               AppUser.id == bindparam("user_id"), AppUser.active.is_(True)))
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        guard = guard.with_for_update(read=True, of=ExamAttempt.__table__)
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).from_select(
        [table.c.attempt_id, table.c.question_id, table.c.response, table.c.flagged,
         table.c.answered_at], guard)
    changes = {"response": statement.excluded.response,
               "answered_at": statement.excluded.answered_at}
    if not keep_flag:
        changes["flagged"] = statement.excluded.flagged
    return statement.on_conflict_do_update(
        index_elements=[table.c.attempt_id, table.c.question_id], set_=changes)


@command
def submit(actor, attempt_id, device=None, now=None):
    """交卷: graded once, whatever the number of clicks."""
    now = now or datetime.datetime.now()
    attempt = lock(_open_attempt_for(actor, attempt_id))
    if attempt.state == ATTEMPT_STATE.IN_PROGRESS and device and attempt.device != device:
        raise TakenOver(_("This exam is being continued on another device; this page can no "
                          "longer answer"))
    event = "expire" if attempt.state == ATTEMPT_STATE.IN_PROGRESS and \
        attempt.deadline <= now else "submit"
    return rules.hand_in(attempt, event, now, user=user_of(actor))


def _expire(attempt, now):
    lock(attempt)
    if attempt.state == ATTEMPT_STATE.IN_PROGRESS:
        rules.hand_in(attempt, "expire", now)


@command
def expire_overdue(now=None, limit=500):
    """The sweeper (system): hand in every open attempt whose deadline has passed, with what
    was saved, even if its browser is gone. Returns how many it handed in."""
    now = now or datetime.datetime.now()
    ids = db.session.scalars(select(ExamAttempt.id).where(
        ExamAttempt.state == ATTEMPT_STATE.IN_PROGRESS, ExamAttempt.deadline <= now)
        .order_by(ExamAttempt.id).limit(limit)).all()
    for attempt_id in ids:
        _expire(db.session.get(ExamAttempt, attempt_id), now)
    return len(ids)


@command
def _settle_for_time(enrollment_id, now):
    enrollment = lock(db.session.get(Enrollment, enrollment_id))
    return rules.settle(enrollment, now=now)


def close_papers(now=None):
    """The sweeper (system): when a paper's time is over, whoever still awaits it without
    having passed it (nor been exempted from it) moves on as a failed paper would: 待确认补考,
    or 不合格 after a make-up paper. Returns how many moved."""
    now = now or datetime.datetime.now()
    moved = 0
    for enrollment_id in db.session.scalars(rules.closed_unpassed(now)).all():
        moved += _settle_for_time(enrollment_id, now) is not None
    return moved


@command
def confirm_makeup(actor, enrollment_ids):
    """补考管理 确认: the physicians may take the make-up exam (待参加补考)."""
    enrollments = scope.require_all(actor, scope.DECIDE, Enrollment, enrollment_ids)
    lock(*enrollments)
    user = user_of(actor)
    for enrollment in enrollments:
        workflow.apply(enrollment, "makeup_confirmed", user=user)
    return len(enrollments)


@command
def decline_makeup(actor, enrollment_id, reason):
    """补考管理 不予补考 with a reason: the cycle result is 不合格."""
    enrollment = lock(scope.require(actor, scope.DECIDE, Enrollment, enrollment_id))
    workflow.apply(enrollment, "makeup_declined", reason=reason, user=user_of(actor))
    return enrollment


def attempt_view(actor, attempt_id):
    """An attempt with its questions in the order shown and the answers saved (reading only;
    an attempt whose deadline passed is handed in first)."""
    attempt = scope.require(actor, scope.READ, ExamAttempt, attempt_id)
    if attempt.state == ATTEMPT_STATE.IN_PROGRESS and attempt.deadline <= \
            datetime.datetime.now():
        attempt = submit_overdue(actor, attempt.id)
    questions = {q.id: q for q in db.session.scalars(select(Question).where(
        Question.id.in_(attempt.question_ids)))}
    answers = {a.question_id: a for a in db.session.scalars(select(Answer).where(
        Answer.attempt_id == attempt.id))}
    return attempt, [questions[i] for i in attempt.question_ids], answers


@command
def submit_overdue(actor, attempt_id):
    attempt = _open_attempt_for(actor, attempt_id)
    _expire(attempt, datetime.datetime.now())
    return attempt


def makeup_states():
    return (S.AWAITING_MAKEUP_CONFIRMATION,)

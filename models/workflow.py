"""The state machine: the states of every stateful record (enrollments, exemptions,
assessment-institution applications), the events that move them, and the only code that assigns
``state`` (and the cycle ``result`` that some events decide).

Commands call ``apply(record, event, ...)`` after locking the record. An event not allowed from
the current state is refused with the event's message, and every accepted transition writes the
audit log with who, when, from, to and why. The state sets that lists filter on ("editable",
"at the institution stage", "done") are derived from these tables, never copied.

Assigning ``state`` or ``result`` anywhere else raises ``OutsideTheMachine``: a listener on the
columns lets a new record start in one of its machine's initial states and nothing more.
"""
import contextvars
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from models.audit import record as audit
from models.base import Refused
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import EXEMPTION_STATE as X
from models.enrollment import Enrollment, Exemption
from models.exam import ATTEMPT_STATE as T
from models.exam import ExamAttempt
from models.institution import APPLICATION_STATE as A
from models.institution import AssessmentApplication
from models.proctoring import CASE_STATE as P
from models.proctoring import ProctorCase


class TransitionRefused(Refused):
    """The event is not allowed in the record's current state; the message is for the user."""


class OutsideTheMachine(RuntimeError):
    """Code assigned a state without going through the state machine (a programming error)."""


@dataclass(frozen=True)
class Event:
    name: str
    sources: tuple
    target: str
    needs_reason: bool = False
    refusal: str = _l("This cannot be done in the current state")
    # The cycle result the event decides (enrollments only).
    result: str = None
    # The event sends the record back to an earlier stage (not progress towards the end).
    returns: bool = False


class Machine:
    """One record type's events; ``entity`` names it in the audit log."""

    def __init__(self, entity, model, initial, events, reason_column="reject_reason"):
        self.entity = entity
        self.model = model
        # Where a refusal's reason is kept; a forward event clears it.
        self.reason_column = reason_column
        self.initial = frozenset(initial)
        self.events = {event.name: event for event in events}

    def __getitem__(self, name):
        return self.events[name]

    def sources(self, *names):
        """The states from which any of the named events may fire, in table order."""
        return tuple(dict.fromkeys(s for name in names for s in self.events[name].sources))

    def targets(self, *names):
        return tuple(dict.fromkeys(self.events[name].target for name in names))

    def forward_closure(self, states):
        """The states reachable from ``states`` by events that do not send a record back."""
        reached, frontier = list(states), list(states)
        while frontier:
            state = frontier.pop()
            for event in self.events.values():
                if not event.returns and state in event.sources and event.target not in reached:
                    reached.append(event.target)
                    frontier.append(event.target)
        return tuple(reached)

    def states(self):
        found = dict.fromkeys(self.initial)
        for event in self.events.values():
            found.update(dict.fromkeys(event.sources + (event.target,)))
        return tuple(found)

    def allowed(self, record, name):
        return record.state in self.events[name].sources


_NOT_AWAITING_INSTITUTION = _l("This enrollment is not awaiting the medical institution's review")
_NOT_AWAITING_ASSESSMENT = _l("This enrollment is not awaiting the assessment institution's "
                              "re-review")
_NOT_YET_REVIEWED = (
    S.PENDING_ENROLLMENT,
    S.REJECTED_BY_INSTITUTION,
    S.REJECTED_BY_ADMINISTRATION,
    S.PENDING_INSTITUTION_REVIEW,
)

ENROLLMENT = Machine("enrollment", Enrollment, (S.PENDING_ENROLLMENT,), (
    Event("cancel", _NOT_YET_REVIEWED, S.CANCELLED, needs_reason=True, returns=True,
          refusal=_l("The physician's enrollment has been reviewed and cannot be cancelled; "
                     "to cancel it, ask the health administration to reject it")),
    Event("reinclude", (S.CANCELLED,), S.PENDING_ENROLLMENT,
          refusal=_l("The physician has already been allowed to enroll")),
    Event("submit", (S.PENDING_ENROLLMENT, S.REJECTED_BY_INSTITUTION,
                     S.REJECTED_BY_ADMINISTRATION), S.PENDING_INSTITUTION_REVIEW,
          refusal=_l("The enrollment has already been submitted")),
    Event("institution_approve", (S.PENDING_INSTITUTION_REVIEW, S.RETURNED_BY_ASSESSMENT),
          S.PENDING_ASSESSMENT_REVIEW, refusal=_NOT_AWAITING_INSTITUTION),
    Event("institution_reject", (S.PENDING_INSTITUTION_REVIEW, S.RETURNED_BY_ASSESSMENT),
          S.REJECTED_BY_INSTITUTION, needs_reason=True, returns=True,
          refusal=_NOT_AWAITING_INSTITUTION),
    Event("assessment_confirm", (S.PENDING_ASSESSMENT_REVIEW,), S.AWAITING_EXAM,
          refusal=_NOT_AWAITING_ASSESSMENT),
    Event("assessment_reject", (S.PENDING_ASSESSMENT_REVIEW,), S.RETURNED_BY_ASSESSMENT,
          needs_reason=True, returns=True, refusal=_NOT_AWAITING_ASSESSMENT),
    Event("administration_reject", (S.PENDING_ASSESSMENT_REVIEW, S.AWAITING_EXAM),
          S.REJECTED_BY_ADMINISTRATION, needs_reason=True, returns=True,
          refusal=_l("Only enrollments reviewed by the institutions and not yet assessed "
                     "can be rejected")),
    # The assessment institution confirms a 不合格 rating: the cycle result is 不合格.
    Event("rated_unqualified", (S.PENDING_ASSESSMENT_REVIEW, S.AWAITING_EXAM), S.FAILED,
          needs_reason=True, result="fail", refusal=_NOT_AWAITING_ASSESSMENT),
    Event("exam_passed", (S.AWAITING_EXAM, S.AWAITING_MAKEUP), S.PASSED, result="pass",
          refusal=_l("The physician is not awaiting an assessment")),
    Event("exam_failed", (S.AWAITING_EXAM,), S.AWAITING_MAKEUP_CONFIRMATION,
          refusal=_l("The physician is not awaiting an assessment")),
    Event("makeup_confirmed", (S.AWAITING_MAKEUP_CONFIRMATION,), S.AWAITING_MAKEUP,
          refusal=_l("The physician is not awaiting make-up confirmation")),
    Event("makeup_declined", (S.AWAITING_MAKEUP_CONFIRMATION,), S.FAILED, needs_reason=True,
          result="fail", refusal=_l("The physician is not awaiting make-up confirmation")),
    Event("makeup_failed", (S.AWAITING_MAKEUP,), S.FAILED, result="fail",
          refusal=_l("The physician is not awaiting a make-up exam")),
    # The province decided that an attempt was cheated (认定作弊) and the paper it passed no
    # longer counts (config PROCTOR_CHEATING_EFFECT): the cycle result is 不合格.
    Event("cheating_decided", (S.PASSED, S.AWAITING_EXAM, S.AWAITING_MAKEUP_CONFIRMATION,
                               S.AWAITING_MAKEUP), S.FAILED, needs_reason=True, result="fail",
          refusal=_l("The physician's assessment is not open to this decision")),
))

_EXEMPTION_PENDING = _l("This exemption application is not awaiting review")
_EXEMPTION_NOT_AWAITING_ASSESSMENT = _l("This exemption application is not awaiting the "
                                        "assessment institution's re-review")
EXEMPTION = Machine("exemption", Exemption, (X.PENDING,), (
    Event("resubmit", (X.REJECTED,), X.PENDING,
          refusal=_l("The exemption application has already been submitted")),
    Event("institution_approve", (X.PENDING,), X.PENDING_ASSESSMENT,
          refusal=_EXEMPTION_PENDING),
    Event("institution_reject", (X.PENDING,), X.REJECTED, needs_reason=True, returns=True,
          refusal=_EXEMPTION_PENDING),
    Event("assessment_approve", (X.PENDING_ASSESSMENT,), X.APPROVED,
          refusal=_EXEMPTION_NOT_AWAITING_ASSESSMENT),
    Event("assessment_reject", (X.PENDING_ASSESSMENT,), X.REJECTED, needs_reason=True,
          returns=True, refusal=_EXEMPTION_NOT_AWAITING_ASSESSMENT),
))

APPLICATION = Machine("assessment_application", AssessmentApplication, (A.DRAFT,), (
    Event("submit", (A.DRAFT, A.REJECTED), A.SUBMITTED,
          refusal=_l("The application has been submitted, please wait for the decision")),
    Event("approve", (A.SUBMITTED,), A.APPROVED,
          refusal=_l("This application is not awaiting approval")),
    Event("reject", (A.SUBMITTED,), A.REJECTED, needs_reason=True, returns=True,
          refusal=_l("This application is not awaiting approval")),
), reason_column="reason")

ATTEMPT = Machine("exam_attempt", ExamAttempt, (T.IN_PROGRESS,), (
    Event("submit", (T.IN_PROGRESS,), T.SUBMITTED,
          refusal=_l("This exam has already been handed in")),
    # The deadline passed with the attempt open: handed in by the server with what was saved.
    Event("expire", (T.IN_PROGRESS,), T.EXPIRED,
          refusal=_l("This exam has already been handed in")),
), reason_column=None)

# 监考管理: the institution marks an attempt as suspected (标记疑似), only the administration
# above removes the mark (撤销标记), the province decides (认定作弊 / 不认定).
_NOT_MARKED = _l("This attempt is not marked as suspected")
PROCTOR = Machine("proctor_case", ProctorCase, (P.CLEAR,), (
    Event("mark", (P.CLEAR,), P.SUSPECTED, needs_reason=True,
          refusal=_l("This attempt has already been marked")),
    Event("revoke", (P.SUSPECTED,), P.CLEAR, needs_reason=True, returns=True,
          refusal=_NOT_MARKED),
    Event("decide_cheating", (P.SUSPECTED,), P.CHEATING, needs_reason=True,
          refusal=_NOT_MARKED),
    Event("decide_not_cheating", (P.SUSPECTED,), P.NOT_CHEATING, needs_reason=True,
          refusal=_NOT_MARKED),
), reason_column=None)

MACHINES = {machine.model: machine
            for machine in (ENROLLMENT, EXEMPTION, APPLICATION, ATTEMPT, PROCTOR)}

# The state sets lists and rules filter on, derived from the tables above.
EDITABLE = ENROLLMENT.sources("submit")
CANCELLABLE = ENROLLMENT.sources("cancel")
INSTITUTION_STAGE = ENROLLMENT.sources("institution_approve")
ASSESSMENT_STAGE = ENROLLMENT.sources("assessment_confirm")
MAKEUP_CONFIRMATION = ENROLLMENT.sources("makeup_confirmed")
# Reviewed by every institution: counted as done in the completion rate.
DONE = ENROLLMENT.forward_closure(ENROLLMENT.targets("assessment_confirm", "rated_unqualified"))
APPLICATION_EDITABLE = APPLICATION.sources("submit")

_inside = contextvars.ContextVar("inside_state_machine", default=False)


def machine_for(record):
    return MACHINES[type(record)]


def apply(record, event_name, *, reason=None, user=None):
    """Move ``record`` by ``event_name`` or raise TransitionRefused; adds the audit row.

    The caller has locked the record (``commands.lock``) so that the state read here is the
    committed one and no other transaction moves it before this one commits."""
    machine = machine_for(record)
    event = machine[event_name]
    if record.state not in event.sources:
        raise TransitionRefused(str(event.refusal))
    reason = (reason or "").strip() or None
    if event.needs_reason and not reason:
        raise TransitionRefused(_("Please give the reason"))
    before = record.state
    token = _inside.set(True)
    try:
        record.state = event.target
        if machine.reason_column and event.needs_reason:
            setattr(record, machine.reason_column, reason)
        elif machine.reason_column and not event.returns:
            setattr(record, machine.reason_column, None)
        if event.result is not None:
            record.result = event.result
    finally:
        _inside.reset(token)
    audit(machine.entity, record.id, event.name, institution=_institution_of(record),
          from_state=before, to_state=event.target, reason=reason, user=user)
    if machine is ENROLLMENT:
        tally(record.cycle_id, record.institution_id, before, -1)
        tally(record.cycle_id, record.institution_id, record.state, +1)
    return record


def force(record, state, *, reason, user=None):
    """Put a record in ``state`` without an event: data repair by an operator, and test set-up.

    Audited as "force" with the reason; the tally follows. Never called by a user's action."""
    machine = machine_for(record)
    if state not in machine.states():
        raise ValueError(f"{state!r} is not a state of {machine.entity}")
    before = record.state
    token = _inside.set(True)
    try:
        record.state = state
    finally:
        _inside.reset(token)
    audit(machine.entity, record.id, "force", institution=_institution_of(record),
          from_state=before, to_state=state, reason=reason, user=user)
    if machine is ENROLLMENT:
        tally(record.cycle_id, record.institution_id, before, -1)
        tally(record.cycle_id, record.institution_id, state, +1)
    return record


def _institution_of(record):
    if isinstance(record, (Exemption, ExamAttempt)):
        return record.enrollment.institution
    if isinstance(record, ProctorCase):
        return record.attempt.enrollment.institution
    return record.institution


def moving_institution(enrollment, institution_id):
    """A cancelled enrollment re-included by another institution moves with its tally."""
    if enrollment.institution_id == institution_id:
        return
    tally(enrollment.cycle_id, enrollment.institution_id, enrollment.state, -1)
    enrollment.institution_id = institution_id
    tally(enrollment.cycle_id, institution_id, enrollment.state, +1)


def tally(cycle_id, institution_id, state, delta):
    """Add ``delta`` to the count of (cycle, institution, state) when the transaction commits.

    The deltas of a transaction are summed and written just before it commits, in one fixed
    order, so two transactions never take the tally rows' locks in opposite orders (which on
    PostgreSQL would deadlock a rejection against a resubmission)."""
    from app.extensions import db

    pending = db.session.info.setdefault("tally", {})
    key = (cycle_id, institution_id, state)
    pending[key] = pending.get(key, 0) + delta


def _write_tally(session):
    pending = session.info.pop("tally", None)
    if not pending:
        return
    from models.enrollment import EnrollmentTally
    from models.tally import add_counts

    add_counts(session, EnrollmentTally.__table__, ("cycle_id", "institution_id", "state"),
               sorted(pending.items()))


@sa_event.listens_for(Session, "before_commit")
def _before_commit(session):
    _write_tally(session)


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session):
    session.info.pop("tally", None)


def rebuild_tally(cycle_id):
    """Recount a cycle's tally from the enrollments (repair, and after bulk imports)."""
    from sqlalchemy import delete, func, insert, select

    from app.extensions import db
    from models.enrollment import EnrollmentTally

    db.session.info.pop("tally", None)
    db.session.execute(delete(EnrollmentTally).where(EnrollmentTally.cycle_id == cycle_id))
    db.session.execute(insert(EnrollmentTally).from_select(
        ["cycle_id", "institution_id", "state", "count"],
        select(Enrollment.cycle_id, Enrollment.institution_id, Enrollment.state,
               func.count(Enrollment.id))
        .where(Enrollment.cycle_id == cycle_id)
        .group_by(Enrollment.cycle_id, Enrollment.institution_id, Enrollment.state)))
    from models.tally import rebuild_regions

    rebuild_regions(db.session, cycle_id)  # and the cycle's roll-up per region


def _guard(machine, column, allowed_at_creation):
    @sa_event.listens_for(column, "set", propagate=True)
    def _only_through_the_machine(target, value, oldvalue, initiator):
        if _inside.get():
            return
        state = inspect(target)
        if (state.transient or state.pending) and value in allowed_at_creation:
            return  # a new record starts in an initial state
        raise OutsideTheMachine(
            f"{type(target).__name__}.{column.key} = {value!r} outside models.workflow")


for _machine in MACHINES.values():
    _guard(_machine, _machine.model.state, _machine.initial)
_guard(ENROLLMENT, Enrollment.result, (None,))

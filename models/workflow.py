"""The state machine of enrollments and exemptions: every state of DOMAIN §7 and the only way to
move between them.

Views call ``apply(enrollment, event, ...)``; nothing else assigns ``Enrollment.state``. An
event not allowed from the current state is refused with a clear message, and every accepted
transition writes the audit log with who, when, from, to and why.
"""
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models.base import Refused
from models.audit import record as audit
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import EXEMPTION_STATE as X


class TransitionRefused(Refused):
    """The event is not allowed in the record's current state; the message is for the user."""


@dataclass(frozen=True)
class Event:
    name: str
    sources: tuple
    target: str
    needs_reason: bool = False
    refusal: str = _l("This cannot be done in the current state")


_NOT_AWAITING_INSTITUTION = _l("This enrollment is not awaiting the medical institution's review")
_NOT_AWAITING_ASSESSMENT = _l("This enrollment is not awaiting the assessment institution's "
                              "re-review")

_NOT_YET_REVIEWED = (
    S.PENDING_ENROLLMENT,
    S.REJECTED_BY_INSTITUTION,
    S.REJECTED_BY_ADMINISTRATION,
    S.PENDING_INSTITUTION_REVIEW,
)

EVENTS = {
    event.name: event
    for event in (
        Event("cancel", _NOT_YET_REVIEWED, S.CANCELLED, needs_reason=True,
              refusal=_l("The physician's enrollment has been reviewed and cannot be cancelled; "
                         "to cancel it, ask the health administration to reject it")),
        Event("reinclude", (S.CANCELLED,), S.PENDING_ENROLLMENT),
        Event("submit", (S.PENDING_ENROLLMENT, S.REJECTED_BY_INSTITUTION,
                         S.REJECTED_BY_ADMINISTRATION), S.PENDING_INSTITUTION_REVIEW,
              refusal=_l("The enrollment has already been submitted")),
        Event("institution_approve", (S.PENDING_INSTITUTION_REVIEW, S.RETURNED_BY_ASSESSMENT),
              S.PENDING_ASSESSMENT_REVIEW, refusal=_NOT_AWAITING_INSTITUTION),
        Event("institution_reject", (S.PENDING_INSTITUTION_REVIEW, S.RETURNED_BY_ASSESSMENT),
              S.REJECTED_BY_INSTITUTION, needs_reason=True,
              refusal=_NOT_AWAITING_INSTITUTION),
        Event("assessment_confirm", (S.PENDING_ASSESSMENT_REVIEW,), S.AWAITING_EXAM,
              refusal=_NOT_AWAITING_ASSESSMENT),
        Event("assessment_reject", (S.PENDING_ASSESSMENT_REVIEW,), S.RETURNED_BY_ASSESSMENT,
              needs_reason=True, refusal=_NOT_AWAITING_ASSESSMENT),
        Event("administration_reject", (S.PENDING_ASSESSMENT_REVIEW, S.AWAITING_EXAM),
              S.REJECTED_BY_ADMINISTRATION, needs_reason=True,
              refusal=_l("Only enrollments reviewed by the institutions and not yet assessed "
                         "can be rejected")),
        Event("rated_unqualified", (S.PENDING_ASSESSMENT_REVIEW, S.AWAITING_EXAM), S.FAILED,
              needs_reason=True),
        Event("exam_passed", (S.AWAITING_EXAM, S.AWAITING_MAKEUP), S.PASSED),
        Event("exam_failed", (S.AWAITING_EXAM,), S.AWAITING_MAKEUP_CONFIRMATION),
        Event("makeup_confirmed", (S.AWAITING_MAKEUP_CONFIRMATION,), S.AWAITING_MAKEUP),
        Event("makeup_failed", (S.AWAITING_MAKEUP,), S.FAILED),
    )
}


_EXEMPTION_PENDING = _l("This exemption application is not awaiting review")
_EXEMPTION_NOT_AWAITING_ASSESSMENT = _l("This exemption application is not awaiting the "
                                        "assessment institution's re-review")
EXEMPTION_EVENTS = {
    event.name: event
    for event in (
        Event("resubmit", (X.REJECTED,), X.PENDING,
              refusal=_l("The exemption application has already been submitted")),
        Event("institution_approve", (X.PENDING,), X.PENDING_ASSESSMENT,
              refusal=_EXEMPTION_PENDING),
        Event("institution_reject", (X.PENDING,), X.REJECTED, needs_reason=True,
              refusal=_EXEMPTION_PENDING),
        Event("assessment_approve", (X.PENDING_ASSESSMENT,), X.APPROVED,
              refusal=_EXEMPTION_NOT_AWAITING_ASSESSMENT),
        Event("assessment_reject", (X.PENDING_ASSESSMENT,), X.REJECTED, needs_reason=True,
              refusal=_EXEMPTION_NOT_AWAITING_ASSESSMENT),
    )
}


def allowed(enrollment, event_name):
    return enrollment.state in EVENTS[event_name].sources


def _move(record, events, event_name, entity, institution, reason, user):
    event = events[event_name]
    if record.state not in event.sources:
        raise TransitionRefused(str(event.refusal))
    reason = (reason or "").strip() or None
    if event.needs_reason and not reason:
        raise TransitionRefused(_("Please give the reason"))
    before = record.state
    record.state = event.target
    if event.needs_reason:
        record.reject_reason = reason
    audit(entity, record.id, event.name, institution=institution, from_state=before,
          to_state=event.target, reason=reason, user=user)
    return record


def apply(enrollment, event_name, *, reason=None, user=None):
    """Move the enrollment by ``event_name`` or raise TransitionRefused; adds the audit row."""
    before = enrollment.state
    _move(enrollment, EVENTS, event_name, "enrollment", enrollment.institution, reason, user)
    tally(enrollment.cycle_id, enrollment.institution_id, before, -1)
    tally(enrollment.cycle_id, enrollment.institution_id, enrollment.state, +1)
    return enrollment


def tally(cycle_id, institution_id, state, delta):
    """Add ``delta`` to the count of (cycle, institution, state) — one upsert."""
    from app.extensions import db
    from models.enrollment import EnrollmentTally

    table = EnrollmentTally.__table__
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(cycle_id=cycle_id, institution_id=institution_id,
                                     state=state, count=delta)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[table.c.cycle_id, table.c.institution_id, table.c.state],
        set_={"count": table.c.count + delta}))


def rebuild_tally(cycle_id):
    """Recount a cycle's tally from the enrollments (repair, and after bulk imports)."""
    from sqlalchemy import delete, func, insert, select

    from app.extensions import db
    from models.enrollment import Enrollment, EnrollmentTally

    db.session.execute(delete(EnrollmentTally).where(EnrollmentTally.cycle_id == cycle_id))
    db.session.execute(insert(EnrollmentTally).from_select(
        ["cycle_id", "institution_id", "state", "count"],
        select(Enrollment.cycle_id, Enrollment.institution_id, Enrollment.state,
               func.count(Enrollment.id))
        .where(Enrollment.cycle_id == cycle_id)
        .group_by(Enrollment.cycle_id, Enrollment.institution_id, Enrollment.state)))


def apply_exemption(exemption, event_name, *, reason=None, user=None):
    """Move an exemption application by ``event_name``, the same way."""
    return _move(exemption, EXEMPTION_EVENTS, event_name, "exemption",
                 exemption.enrollment.institution, reason, user)

"""The per-institution tallies the progress pages read instead of scanning physicians and
exemptions: ``RosterTally`` (physicians on each institution's roster) and ``ExemptionTally``
(approved exemptions per cycle and institution). The enrollment tally (``EnrollmentTally``,
kept by ``models.workflow.tally``) is the third.

Kept by a session hook, in the same transaction as the change itself, whatever made it (the
roster's functions, a console form, an import, the state machine):

- after each flush, the physicians added, deleted or moved between institutions and the
  exemptions that became or stopped being approved are turned into deltas, kept on the
  session (``session.info``) until the transaction ends;
- just before the commit (after a last flush), the deltas are summed per row and written in
  one fixed order — roster rows by institution, then exemption rows by (cycle, institution),
  after the enrollment tally's rows — so that two transactions never take the tally rows'
  locks in opposite orders (a transfer A → B against one B → A would deadlock on PostgreSQL);
- a rollback drops them.

Bulk loads written with Core ``insert`` (``app.demo.generate_bulk``) bypass the ORM: they add
their deltas with ``add_roster``. ``rebuild_all`` (``flask dingkao retally``) recounts every
tally from the records themselves."""
from sqlalchemy import Column, ForeignKey, Integer
from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from flask_appbuilder import Model

ROSTER_KEY = "roster_tally"
EXEMPTION_KEY = "exemption_tally"
APPROVED = "approved"  # models.enrollment.EXEMPTION_STATE.APPROVED


class RosterTally(Model):
    """How many physicians are on each institution's roster (``Physician.institution_id``)."""

    __tablename__ = "roster_tally"
    institution_id = Column(Integer, ForeignKey("institution.id"), primary_key=True)
    count = Column(Integer, nullable=False, default=0)


class ExemptionTally(Model):
    """How many exemptions of a cycle are approved, per institution of the enrollment."""

    __tablename__ = "exemption_tally"
    cycle_id = Column(Integer, ForeignKey("cycle.id"), primary_key=True)
    institution_id = Column(Integer, ForeignKey("institution.id"), primary_key=True)
    count = Column(Integer, nullable=False, default=0)


# The switch the mutation tests turn off (and nothing else): with it False, no delta is kept.
ENABLED = True


def _add(session, key, row, delta):
    if not delta or row is None or None in (row if isinstance(row, tuple) else (row,)):
        return
    pending = session.info.setdefault(key, {})
    pending[row] = pending.get(row, 0) + delta


def add_roster(session, institution_id, delta):
    """Count ``delta`` more physicians on ``institution_id``'s roster at the commit (for rows
    written with Core, which the hook does not see)."""
    _add(session, ROSTER_KEY, institution_id, delta)


def _before_and_after(obj, attribute, deleted=False):
    """(value before this flush, value now) of a column attribute; now is None if deleted."""
    history = inspect(obj).attrs[attribute].history
    before = (history.deleted or history.unchanged or [None])[0]
    if not history.deleted and history.added:
        before = None  # set for the first time (a new row)
    now = None if deleted else getattr(obj, attribute)
    return before, now


@sa_event.listens_for(Session, "after_flush")
def _collect(session, _flush_context):
    if not ENABLED:
        return
    from models.enrollment import Enrollment, Exemption
    from models.physician import Physician

    for obj, new, deleted in _changed(session):
        if isinstance(obj, Physician):
            before, now = _before_and_after(obj, "institution_id", deleted)
            if new:
                before = None
            if before != now:
                _add(session, ROSTER_KEY, before, -1)
                _add(session, ROSTER_KEY, now, +1)
        elif isinstance(obj, Exemption):
            before, now = _before_and_after(obj, "state", deleted)
            was, is_ = (not new and before == APPROVED), now == APPROVED
            if was != is_:
                enrollment = obj.enrollment or session.get(Enrollment, obj.enrollment_id)
                _add(session, EXEMPTION_KEY, (enrollment.cycle_id, enrollment.institution_id),
                     1 if is_ else -1)
        elif isinstance(obj, Enrollment) and not new and not deleted:
            # A (cancelled) enrollment re-included by another institution takes its approved
            # exemptions with it.
            before, now = _before_and_after(obj, "institution_id")
            if before is not None and before != now:
                approved = sum(1 for e in obj.exemptions if e.state == APPROVED
                               and e not in session.new and e not in session.dirty)
                _add(session, EXEMPTION_KEY, (obj.cycle_id, before), -approved)
                _add(session, EXEMPTION_KEY, (obj.cycle_id, now), approved)


def _changed(session):
    for obj in session.new:
        yield obj, True, False
    for obj in session.dirty:
        yield obj, False, False
    for obj in session.deleted:
        yield obj, False, True


def _write(session):
    from sqlalchemy.dialects import postgresql, sqlite

    insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
    for key, table, columns in (
            (ROSTER_KEY, RosterTally.__table__, ("institution_id",)),
            (EXEMPTION_KEY, ExemptionTally.__table__, ("cycle_id", "institution_id"))):
        pending = session.info.pop(key, None) or {}
        for row, delta in sorted(pending.items()):
            if not delta:
                continue
            values = dict(zip(columns, row if isinstance(row, tuple) else (row,)))
            statement = insert(table).values(count=delta, **values)
            session.execute(statement.on_conflict_do_update(
                index_elements=[table.c[c] for c in columns],
                set_={"count": table.c.count + delta}))


@sa_event.listens_for(Session, "before_commit")
def _before_commit(session):
    # The commit flushes after this hook: flush first so the last changes are counted.
    if session.new or session.dirty or session.deleted:
        session.flush()
    _write(session)


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session):
    session.info.pop(ROSTER_KEY, None)
    session.info.pop(EXEMPTION_KEY, None)


def rebuild_roster(session):
    """Recount every institution's roster tally from the physicians."""
    from sqlalchemy import delete, func, insert, select

    from models.physician import Physician

    session.info.pop(ROSTER_KEY, None)
    session.execute(delete(RosterTally))
    session.execute(insert(RosterTally).from_select(
        ["institution_id", "count"],
        select(Physician.institution_id, func.count(Physician.id))
        .where(Physician.institution_id.is_not(None))
        .group_by(Physician.institution_id)))


def rebuild_exemptions(session, cycle_id=None):
    """Recount the approved-exemption tally (of one cycle, or of every cycle)."""
    from sqlalchemy import delete, func, insert, select

    from models.enrollment import Enrollment, Exemption

    session.info.pop(EXEMPTION_KEY, None)
    gone = delete(ExemptionTally)
    counted = (select(Enrollment.cycle_id, Enrollment.institution_id, func.count(Exemption.id))
               .join(Enrollment, Enrollment.id == Exemption.enrollment_id)
               .where(Exemption.state == APPROVED)
               .group_by(Enrollment.cycle_id, Enrollment.institution_id))
    if cycle_id is not None:
        gone = gone.where(ExemptionTally.cycle_id == cycle_id)
        counted = counted.where(Enrollment.cycle_id == cycle_id)
    session.execute(gone)
    session.execute(insert(ExemptionTally).from_select(
        ["cycle_id", "institution_id", "count"], counted))


def rebuild_all(session):
    """Every tally recounted from the records: the enrollment tally of every cycle, the
    rosters, the approved exemptions (``flask dingkao retally``)."""
    from sqlalchemy import select

    from models.cycle import Cycle
    from models.workflow import rebuild_tally

    if session.new or session.dirty or session.deleted:
        session.flush()
    session.info.pop(ROSTER_KEY, None)
    session.info.pop(EXEMPTION_KEY, None)
    for cycle_id in session.scalars(select(Cycle.id).order_by(Cycle.id)).all():
        rebuild_tally(cycle_id)
    rebuild_roster(session)
    rebuild_exemptions(session)

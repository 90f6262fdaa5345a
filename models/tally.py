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
tally from the records themselves.

The roll-up, ``RegionTally``: the same three tallies summed per region of the jurisdiction tree
(each province, city and district counts every institution below it), so that 周期总进度 and the
administrations' home pages read one row per region and state instead of summing institutions ×
states. It is derived at the commit from the institution-level deltas of the transaction (each
added to every administration on the institution's ``admin_path``), plus, for an institution
moved to another administration, its stored tallies taken from the old chain and given to the
new one. Its rows are written first — before the enrollment, roster and exemption rows, sorted
by (cycle, administration, measure) — again one fixed order for every transaction."""
from sqlalchemy import Column, ForeignKey, Integer, String
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


class RegionTally(Model):
    """The tallies rolled up per administration (its whole subtree): per cycle, the enrollments
    in each state (``measure`` = the state) and the approved exemptions (``EXEMPTED``); with
    ``cycle_id`` 0 (no cycle), the physicians on the rosters (``ROSTER``)."""

    __tablename__ = "region_tally"
    cycle_id = Column(Integer, primary_key=True, autoincrement=False)  # 0: not per cycle
    administration_id = Column(Integer, ForeignKey("administration.id"), primary_key=True,
                               autoincrement=False)
    measure = Column(String(32), primary_key=True)
    count = Column(Integer, nullable=False, default=0)


# The roll-up's measures besides the enrollment states (which never start with "_").
ROSTER = "_roster"
EXEMPTED = "_exempted"
NO_CYCLE = 0
MOVED_KEY = "region_moved"

# The switches the mutation tests turn off (and nothing else): with ENABLED False, no
# institution-level delta is kept; with ROLLUP_ENABLED False, the roll-up is not kept.
ENABLED = True
ROLLUP_ENABLED = True


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
    from models.institution import Institution
    from models.physician import Physician

    for obj, new, deleted in _changed(session):
        if isinstance(obj, Institution):
            if not new and not deleted:
                # Moved to another administration: its counts move along the tree at the
                # commit (from the path it had when the transaction began).
                before, now = _before_and_after(obj, "admin_path")
                if before is not None and before != now:
                    session.info.setdefault(MOVED_KEY, {}).setdefault(obj.id, before)
        elif isinstance(obj, Physician):
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


def add_counts(session, table, columns, deltas):
    """Add each delta of ``deltas`` [(key, delta)] to the row of ``table`` whose ``columns``
    are the key, creating the rows missing: one statement, its rows locked in the order given
    (the fixed lock order that keeps two writers from deadlocking on PostgreSQL)."""
    from sqlalchemy.dialects import postgresql, sqlite

    rows = [dict(zip(columns, key), count=delta) for key, delta in deltas if delta]
    if not rows:
        return
    insert = (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
    statement = insert(table).values(rows)
    session.execute(statement.on_conflict_do_update(
        index_elements=[table.c[c] for c in columns],
        set_={"count": table.c.count + statement.excluded.count}))


def _write(session):
    for key, table, columns in (
            (ROSTER_KEY, RosterTally.__table__, ("institution_id",)),
            (EXEMPTION_KEY, ExemptionTally.__table__, ("cycle_id", "institution_id"))):
        pending = session.info.pop(key, None) or {}
        add_counts(session, table, columns, sorted(
            ((row if isinstance(row, tuple) else (row,)), delta)
            for row, delta in pending.items()))


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
    session.info.pop(MOVED_KEY, None)


def chain(path):
    """The administrations of an ``admin_path`` ("/1/4/17/" → [1, 4, 17])."""
    return [int(part) for part in (path or "").strip("/").split("/") if part]


def _region_deltas(session):
    """({(cycle, administration, measure): delta}, {administration: depth}) of the transaction
    so far: the pending institution-level deltas (the enrollment tally's,
    ``models.workflow.tally``; the rosters'; the exemptions') added to every administration
    above the institution, and the stored tallies of the institutions moved to another
    administration taken along."""
    from sqlalchemy import select

    from models.enrollment import EnrollmentTally
    from models.institution import Institution

    enrollment = session.info.get("tally") or {}
    roster = session.info.get(ROSTER_KEY) or {}
    exemption = session.info.get(EXEMPTION_KEY) or {}
    moved = session.info.get(MOVED_KEY) or {}
    items = [((cycle_id, state), institution_id, delta)
             for (cycle_id, institution_id, state), delta in enrollment.items()]
    items += [((NO_CYCLE, ROSTER), institution_id, delta)
              for institution_id, delta in roster.items()]
    items += [((cycle_id, EXEMPTED), institution_id, delta)
              for (cycle_id, institution_id), delta in exemption.items()]
    items = [item for item in items if item[2] and item[1] is not None]
    ids = {institution_id for _key, institution_id, _delta in items} | set(moved)
    if not ids:
        return {}, {}
    paths = dict(session.execute(select(Institution.id, Institution.admin_path).where(
        Institution.id.in_(sorted(ids)))).all())
    deltas, depth = {}, {}

    def add(path, cycle_id, measure, delta):
        for level, administration_id in enumerate(chain(path)):
            key = (cycle_id, administration_id, measure)
            deltas[key] = deltas.get(key, 0) + delta
            depth[administration_id] = level

    for (cycle_id, measure), institution_id, delta in items:
        add(paths.get(institution_id), cycle_id, measure, delta)
    for institution_id, before in sorted(moved.items()):
        now = paths.get(institution_id)
        if now is None or now == before:
            continue
        # What was counted under the old administrations (the rows as stored: this
        # transaction's own deltas are not written yet and went to the new path above).
        stored = [(c, s, n) for c, s, n in session.execute(
            select(EnrollmentTally.cycle_id, EnrollmentTally.state, EnrollmentTally.count)
            .where(EnrollmentTally.institution_id == institution_id))]
        stored += [(NO_CYCLE, ROSTER, n) for (n,) in session.execute(
            select(RosterTally.count).where(RosterTally.institution_id == institution_id))]
        stored += [(c, EXEMPTED, n) for c, n in session.execute(
            select(ExemptionTally.cycle_id, ExemptionTally.count)
            .where(ExemptionTally.institution_id == institution_id))]
        for cycle_id, measure, n in stored:
            add(before, cycle_id, measure, -n)
            add(now, cycle_id, measure, n)
    return deltas, depth


@sa_event.listens_for(Session, "before_commit", insert=True)
def _before_commit_regions(session):
    """First of the commit hooks (``insert=True``): flush the last changes, then write every
    tally, each in one statement, in one fixed order: the enrollment tally, the rosters' and
    the exemptions', then the roll-up per region computed from them (the other hooks then find
    nothing left to write). The roll-up's rows are the ones every writer of a region shares
    (every state change of the province updates the province's rows): they are locked last,
    just before the commit, and among them the province's last of all."""
    from models.workflow import _write_tally

    if not ROLLUP_ENABLED:
        session.info.pop(MOVED_KEY, None)
        return
    if session.new or session.dirty or session.deleted:
        session.flush()
    deltas, depth = _region_deltas(session)  # before the writers below use up their deltas
    session.info.pop(MOVED_KEY, None)
    _write_tally(session)
    _write(session)
    # Districts, then cities, then the province; by key within a level: one total order.
    add_counts(session, RegionTally.__table__, ("cycle_id", "administration_id", "measure"),
               sorted(deltas.items(), key=lambda item: (-depth[item[0][1]], item[0])))


def rebuild_regions(session, cycle_id=None):
    """Recount the roll-up from the institution-level tallies (once those are right): every
    measure, or with ``cycle_id`` only that cycle's enrollment states (after
    ``models.workflow.rebuild_tally`` of the cycle). Sums per ``admin_path`` first (a few
    hundred paths), then adds each path to the administrations it lies under."""
    from sqlalchemy import and_, delete, func, insert, literal_column, select

    from models.enrollment import EnrollmentTally
    from models.institution import Institution
    from models.jurisdiction import Administration

    if session.new or session.dirty or session.deleted:
        session.flush()
    session.info.pop(MOVED_KEY, None)
    columns = ["cycle_id", "administration_id", "measure", "count"]

    def rolled_up(cycle, measure, count, tally, where=(), group_by=()):
        # ``group_by``: the columns of ``cycle`` and ``measure`` that are columns (a constant
        # in GROUP BY is a column position to PostgreSQL).
        per_path = (select(Institution.admin_path.label("admin_path"), cycle.label("cycle_id"),
                           measure.label("measure"), func.sum(count).label("n"))
                    .join(Institution, Institution.id == tally.institution_id)
                    .where(*where)
                    .group_by(Institution.admin_path, *group_by).subquery())
        session.execute(insert(RegionTally).from_select(columns, select(
            per_path.c.cycle_id, Administration.id, per_path.c.measure, func.sum(per_path.c.n))
            .join(Administration, per_path.c.admin_path.like(Administration.path.concat("%")))
            .group_by(per_path.c.cycle_id, Administration.id, per_path.c.measure)))

    states = (EnrollmentTally.cycle_id, EnrollmentTally.state)
    if cycle_id is not None:
        session.execute(delete(RegionTally).where(and_(
            RegionTally.cycle_id == cycle_id, RegionTally.measure.not_in([ROSTER, EXEMPTED]))))
        rolled_up(*states, EnrollmentTally.count, EnrollmentTally,
                  [EnrollmentTally.cycle_id == cycle_id], states)
        return
    session.execute(delete(RegionTally))
    rolled_up(*states, EnrollmentTally.count, EnrollmentTally, (), states)
    rolled_up(literal_column(str(NO_CYCLE)), literal_column(f"'{ROSTER}'"), RosterTally.count,
              RosterTally)
    rolled_up(ExemptionTally.cycle_id, literal_column(f"'{EXEMPTED}'"), ExemptionTally.count,
              ExemptionTally, (), (ExemptionTally.cycle_id,))


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
    rosters, the approved exemptions, then their roll-up per region (``flask dingkao
    retally``)."""
    from sqlalchemy import select

    from models.cycle import Cycle
    from models.workflow import rebuild_tally

    if session.new or session.dirty or session.deleted:
        session.flush()
    session.info.pop(ROSTER_KEY, None)
    session.info.pop(EXEMPTION_KEY, None)
    session.info.pop(MOVED_KEY, None)
    for cycle_id in session.scalars(select(Cycle.id).order_by(Cycle.id)).all():
        rebuild_tally(cycle_id)
    rebuild_roster(session)
    rebuild_exemptions(session)
    rebuild_regions(session)

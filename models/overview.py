"""周期总进度: a cycle's progress rolled up per region of the jurisdiction tree.

For a region (the user's own, or one below it they drilled into) there is one row per region
directly below it — the cities of a province, the districts of a city — and one per institution
attached to it directly (a district's institutions, a city's own hospitals). Each row counts
the physicians on the roster, those included in the cycle, submitted, at each review stage,
待测评, 合格, 不合格 and 免考, and the completion rate.

Enrollment counts are read from ``EnrollmentTally`` (kept by the state machine: at most
institutions × states rows), the roster from an index-only count per institution; the rows are
summed per region in SQL by the institutions' ``admin_path``. Nothing here reads one row per
enrollment, so a province of 330,000 physicians costs about what a district does."""
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from models import Administration, Enrollment, EnrollmentTally, Exemption, Institution, Physician
from models import workflow
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import EXEMPTION_STATE as X
from security import scope

# The enrollment states each column counts, derived from the state machine's tables.
INCLUDED = tuple(s for s in S.values() if s != S.CANCELLED)
SUBMITTED = tuple(s for s in INCLUDED if s not in workflow.EDITABLE)
AWAITING_ASSESSMENT = tuple(dict.fromkeys(
    workflow.ENROLLMENT.sources("exam_passed", "exam_failed") + workflow.MAKEUP_CONFIRMATION))
STATE_COLUMNS = (
    ("included", _l("Included"), INCLUDED),
    ("submitted", _l("Submitted"), SUBMITTED),
    ("institution_review", _l("Awaiting medical institution review"),
     workflow.INSTITUTION_STAGE),
    ("assessment_review", _l("Awaiting assessment institution re-review"),
     workflow.ASSESSMENT_STAGE),
    ("awaiting_assessment", _l("To be assessed"), AWAITING_ASSESSMENT),
    ("passed", _l("Passed"), (S.PASSED,)),
    ("failed", _l("Failed"), (S.FAILED,)),
)
COLUMNS = (("roster", _l("Physicians on roster")),) + tuple(
    (key, label) for key, label, _states in STATE_COLUMNS) + (
    ("exempted", _l("Exempted")), ("rate", _l("Completion rate")))
SORT_KEYS = ("name",) + tuple(key for key, _label in COLUMNS)

# The stacked bar: where the included physicians are, each segment one stage.
STAGES = (
    ("not_submitted", _l("Not submitted"), "#bdbdbd",
     tuple(s for s in INCLUDED if s in workflow.EDITABLE)),
    ("institution_review", _l("Awaiting medical institution review"), "#f0ad4e",
     workflow.INSTITUTION_STAGE),
    ("assessment_review", _l("Awaiting assessment institution re-review"), "#5bc0de",
     workflow.ASSESSMENT_STAGE),
    ("awaiting_assessment", _l("To be assessed"), "#337ab7", AWAITING_ASSESSMENT),
    ("passed", _l("Passed"), "#5cb85c", (S.PASSED,)),
    ("failed", _l("Failed"), "#d9534f", (S.FAILED,)),
)


def completion(states):
    """(done, included) of {state: n}: done is reviewed by every institution (the same rate
    as the home pages show)."""
    included = sum(states.get(s, 0) for s in INCLUDED)
    done = sum(states.get(s, 0) for s in workflow.DONE)
    return done, included


@dataclass
class RegionRow:
    """One row of 周期总进度: a region below (``administration_id``) or an institution."""

    name: str
    administration_id: int = None
    institution_id: int = None
    roster: int = 0
    exempted: int = 0
    states: dict = field(default_factory=dict)

    def count(self, key):
        if key == "roster":
            return self.roster
        if key == "exempted":
            return self.exempted
        if key == "rate":
            return self.rate
        for column, _label, states in STATE_COLUMNS:
            if column == key:
                return sum(self.states.get(s, 0) for s in states)
        raise KeyError(key)

    @property
    def rate(self):
        """The completion rate (0..1), or None with nobody included."""
        done, included = completion(self.states)
        return done / included if included else None

    def stages(self):
        return [(key, sum(self.states.get(s, 0) for s in states))
                for key, _label, _colour, states in STAGES]

    def add(self, other):
        self.roster += other.roster
        self.exempted += other.exempted
        for state, n in other.states.items():
            self.states[state] = self.states.get(state, 0) + n


@dataclass
class Overview:
    region: object  # the Administration whose regions are listed; None: every province
    rows: list
    total: RegionRow
    trail: list  # the administrations from the user's own down to ``region``


def regions_of(actor):
    """The administration an actor's 周期总进度 starts at (None: all of them, for the system)."""
    if actor.kind == scope.ADMINISTRATION:
        return db.session.query(Administration).filter(
            Administration.path == actor.admin_path).one()
    return None


def overview(actor, cycle, region_id=None):
    """周期总进度 of ``cycle`` for ``actor`` at ``region_id`` (their own region by default);
    a region outside the actor's subtree is a 404."""
    if actor.kind not in (scope.ADMINISTRATION, scope.ALL):
        from flask import abort

        abort(403)
    top = regions_of(actor)
    region = top if region_id is None else scope.require(actor, scope.READ, Administration,
                                                         region_id)
    rows, total = region_rows(actor, cycle, region)
    trail = _trail(top, region)
    return Overview(region=region, rows=rows, total=total, trail=trail)


def _trail(top, region):
    if region is None:
        return []
    ids = [int(part) for part in region.path.strip("/").split("/")]
    if top is not None:
        ids = ids[ids.index(top.id):]
    chain = {a.id: a for a in db.session.query(Administration).filter(
        Administration.id.in_(ids))}
    return [chain[i] for i in ids]


def region_rows(actor, cycle, region, states_only=False):
    """(rows, total) below ``region`` (None: the top of the tree) for ``cycle``;
    ``states_only``: the enrollment states alone (enough for the rates), without the roster
    and the exemptions."""
    path = region.path if region is not None else "/"
    children = db.session.query(Administration.id, Administration.name, Administration.path)
    if region is None:
        children = children.filter(Administration.parent_id.is_(None))
    else:
        children = children.filter(Administration.parent_id == region.id)
    rows = {}
    by_path = {}
    for admin_id, name, child_path in scope.restrict(children, Administration, actor).order_by(
            Administration.id):
        rows[("a", admin_id)] = RegionRow(name=name, administration_id=admin_id)
        by_path[child_path] = ("a", admin_id)
    if region is not None:
        direct = scope.restrict(db.session.query(Institution.id, Institution.name),
                                Institution, actor).filter(Institution.admin_path == path)
        for inst_id, name in direct.order_by(Institution.id):
            rows[("i", inst_id)] = RegionRow(name=name, institution_id=inst_id)

    def summed(build):
        """Run ``build(key)`` — a query of (key, …) grouped by key, over the institutions
        below ``path`` — twice: keyed by admin path for the regions below, by institution
        id for the institutions attached here; yield (row, …) for each result.

        (Two plain GROUP BYs rather than one over a CASE: PostgreSQL does not take a CASE
        with bound parameters in the select list as the same expression in GROUP BY.)"""
        below = build(Institution.admin_path).filter(
            Institution.admin_path.like(f"{path}_%"))
        for admin_path, *values in below:
            # The child region is the first step of the path below ``path``.
            step = admin_path[len(path):].split("/", 1)[0]
            row = rows.get(by_path.get(f"{path}{step}/"))
            if row is not None:
                yield row, *values
        if region is not None:
            for inst_id, *values in build(Institution.id).filter(Institution.admin_path == path):
                row = rows.get(("i", inst_id))
                if row is not None:
                    yield row, *values

    if cycle is not None:
        def tally(key):
            return scope.restrict(
                db.session.query(key, EnrollmentTally.state, func.sum(EnrollmentTally.count)),
                EnrollmentTally, actor,
            ).join(Institution, Institution.id == EnrollmentTally.institution_id).filter(
                EnrollmentTally.cycle_id == cycle.id).group_by(key, EnrollmentTally.state)

        for row, state, n in summed(tally):
            if n:
                row.states[state] = row.states.get(state, 0) + int(n)

        # Counted from the approved exemptions themselves (a small table), per institution,
        # then summed per region like the roster: never a walk over the region's enrollments.
        approved = (
            select(Enrollment.institution_id.label("institution_id"),
                   func.count(Exemption.id).label("n"))
            .join(Enrollment, Enrollment.id == Exemption.enrollment_id)
            # "+ 0": SQLite would otherwise walk the cycle's every enrollment by the
            # (cycle, state) index and probe each for an exemption, instead of reading the
            # approved exemptions and their enrollments by primary key.
            .where(Exemption.state == X.APPROVED, Enrollment.cycle_id + 0 == cycle.id)
            .group_by(Enrollment.institution_id)
            .subquery())

        def exempted(key):
            return scope.restrict(
                db.session.query(key, func.sum(approved.c.n)), Institution, actor,
            ).join(approved, approved.c.institution_id == Institution.id).group_by(key)

        if not states_only:
            for row, n in summed(exempted):
                row.exempted += int(n or 0)

    # The roster: counted per institution from the (institution, department) index alone,
    # then summed per region.
    subtree = scope.restrict(select(Institution.id), Institution, actor).where(
        Institution.admin_path.like(f"{path}%"))
    on_roster = (
        select(Physician.institution_id.label("institution_id"), func.count().label("n"))
        .where(Physician.institution_id.in_(subtree))
        .group_by(Physician.institution_id)
        .subquery())

    def roster(key):
        return db.session.query(key, func.sum(on_roster.c.n)).join(
            on_roster, on_roster.c.institution_id == Institution.id).group_by(key)

    if not states_only:
        for row, n in summed(roster):
            row.roster += int(n or 0)

    total = RegionRow(name=region.name if region is not None else "")
    for row in rows.values():
        total.add(row)
    return list(rows.values()), total


def sort_rows(rows, key="rate", descending=False):
    """Rows ordered by a column; rows without a rate (nobody included) go last."""
    if key not in SORT_KEYS:
        key = "rate"
    if key == "name":
        return sorted(rows, key=lambda row: row.name, reverse=descending)
    present = [row for row in rows if row.count(key) is not None]
    missing = [row for row in rows if row.count(key) is None]
    return sorted(present, key=lambda row: row.count(key), reverse=descending) + missing


def furthest_behind(actor, cycle, limit=5):
    """The regions (or institutions) below the actor's with the lowest completion rate."""
    if cycle is None or actor.kind not in (scope.ADMINISTRATION, scope.ALL):
        return []
    rows, _total = region_rows(actor, cycle, regions_of(actor), states_only=True)
    return [row for row in sort_rows(rows, "rate") if row.rate is not None][:limit]


def deadlines_near(cycle, today, days=14):
    """The cycle's windows open now or starting soon whose end lies within ``days``:
    [(window, days left)], nearest first."""
    if cycle is None:
        return []
    near = [(w, (w.end_date - today).days) for w in cycle.windows
            if w.end_date >= today and (w.end_date - today).days <= days]
    return sorted(near, key=lambda pair: pair[1])

"""周期总进度: a cycle's progress rolled up per region of the jurisdiction tree.

For a region (the user's own, or one below it they drilled into) there is one row per region
directly below it — the cities of a province, the districts of a city — and one per institution
attached to it directly (a district's institutions, a city's own hospitals). Each row counts
the physicians on the roster, those included in the cycle, submitted, at each review stage,
待测评, 合格, 不合格 and 免考, and the completion rate.

Every count is read from a tally: ``EnrollmentTally`` (kept by the state machine: at most
institutions × states rows), ``RosterTally`` and ``ExemptionTally`` (kept by the session hook of
``models.tally``); the rows are summed per region in SQL by the institutions' ``admin_path``.
Nothing here reads one row per physician or enrollment, so a province of 330,000 physicians
costs about what a district does."""
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import Float, cast, case, func, null, select, union_all

from app.extensions import db
from models import Administration, Cycle, EnrollmentTally, ExemptionTally, Institution, RosterTally
from models import workflow
from models.enrollment import ENROLLMENT_STATE as S
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
_STATES_OF = {key: frozenset(states) for key, _label, states in STATE_COLUMNS}
_INCLUDED, _DONE = frozenset(INCLUDED), frozenset(workflow.DONE)
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
    as the home pages show). Walks the states present (a handful), not every state."""
    included = done = 0
    for state, n in states.items():
        if state in _INCLUDED:
            included += n
            if state in _DONE:
                done += n
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
        chosen = _STATES_OF[key]
        return sum(n for state, n in self.states.items() if state in chosen)

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


def cycles():
    """The cycles to choose from (every user who sees 周期总进度 reads the calendar), newest
    first."""
    return db.session.query(Cycle).order_by(Cycle.start_date.desc(), Cycle.id.desc()).all()


def chosen_cycle(cycle_id=None):
    """The cycle ``cycle_id`` (a 404 if there is none such), by default the current one."""
    if cycle_id in (None, ""):
        return Cycle.current()
    try:
        cycle = db.session.get(Cycle, int(cycle_id))
    except (TypeError, ValueError):
        cycle = None
    if cycle is None:
        from flask import abort

        abort(404)
    return cycle


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

        # The approved exemptions, from their tally (kept with each decision).
        def exempted(key):
            return scope.restrict(
                db.session.query(key, func.sum(ExemptionTally.count)), Institution, actor,
            ).join(ExemptionTally, ExemptionTally.institution_id == Institution.id).filter(
                ExemptionTally.cycle_id == cycle.id).group_by(key)

        if not states_only:
            for row, n in summed(exempted):
                row.exempted += int(n or 0)

    # The roster, from its tally (kept with each roster change): one row per institution.
    def roster(key):
        return scope.restrict(
            db.session.query(key, func.sum(RosterTally.count)), Institution, actor,
        ).join(RosterTally, RosterTally.institution_id == Institution.id).group_by(key)

    if not states_only:
        for row, n in summed(roster):
            row.roster += int(n or 0)

    total = RegionRow(name=region.name if region is not None else "")
    for row in rows.values():
        total.add(row)
    return list(rows.values()), total


def sort_rows(rows, key="rate", descending=False):
    """Rows ordered by a column; rows without a rate (nobody included) go last. Each row's
    value is computed once (a district may list a thousand institutions)."""
    if key not in SORT_KEYS:
        key = "rate"
    if key == "name":
        return sorted(rows, key=lambda row: row.name, reverse=descending)
    keyed = [(row.count(key), index, row) for index, row in enumerate(rows)]
    present = [item for item in keyed if item[0] is not None]
    missing = [item[2] for item in keyed if item[0] is None]
    present.sort(key=lambda item: item[0], reverse=descending)
    return [item[2] for item in present] + missing


def furthest_behind(actor, cycle, limit=5):
    """The regions directly below the actor's (and the institutions attached to it) with the
    lowest completion rate, lowest first; those with nobody included are left out.

    Computed in SQL (ORDER BY the rate … LIMIT): the enrollment tally summed per institution
    path, then per child region, so only ``limit`` rows come back whatever the province's size."""
    if cycle is None or actor.kind not in (scope.ADMINISTRATION, scope.ALL):
        return []
    region = regions_of(actor)
    path = region.path if region is not None else "/"
    done = func.sum(case((EnrollmentTally.state.in_(workflow.DONE), EnrollmentTally.count),
                         else_=0))
    included = func.sum(case((EnrollmentTally.state.in_(INCLUDED), EnrollmentTally.count),
                             else_=0))
    # The tally per institution path below the region: at most (paths) rows.
    per_path = scope.restrict(
        select(Institution.admin_path.label("admin_path"), done.label("done"),
               included.label("included"))
        .join(Institution, Institution.id == EnrollmentTally.institution_id)
        .where(EnrollmentTally.cycle_id == cycle.id,
               Institution.admin_path.like(f"{path}%")),
        Institution, actor).group_by(Institution.admin_path).subquery()
    child = Administration.__table__.alias("child")
    parent = (child.c.parent_id.is_(None) if region is None
              else child.c.parent_id == region.id)
    regions = (
        select(child.c.id.label("administration_id"), null().label("institution_id"),
               child.c.name.label("name"), func.sum(per_path.c.done).label("done"),
               func.sum(per_path.c.included).label("included"))
        .join(per_path, per_path.c.admin_path.like(child.c.path + "%"))
        .where(parent).group_by(child.c.id, child.c.name))
    parts = [regions]
    if region is not None:
        direct = scope.restrict(
            select(null().label("administration_id"), Institution.id.label("institution_id"),
                   Institution.name.label("name"), done.label("done"),
                   included.label("included"))
            .join(EnrollmentTally, EnrollmentTally.institution_id == Institution.id)
            .where(EnrollmentTally.cycle_id == cycle.id, Institution.admin_path == path),
            Institution, actor).group_by(Institution.id, Institution.name)
        parts.append(direct)
    both = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    rate = cast(both.c.done, Float) / both.c.included
    query = (select(both.c.administration_id, both.c.institution_id, both.c.name,
                    both.c.done, both.c.included)
             .where(both.c.included > 0)
             .order_by(rate, both.c.name).limit(limit))
    return [BehindRow(name=name, administration_id=admin_id, institution_id=inst_id,
                      done=int(n_done or 0), included=int(n_included))
            for admin_id, inst_id, name, n_done, n_included in db.session.execute(query)]


@dataclass
class BehindRow:
    """A row of 进度最慢 on an administration's home page."""

    name: str
    administration_id: int
    institution_id: int
    done: int
    included: int

    @property
    def rate(self):
        return self.done / self.included if self.included else None

    def count(self, key):
        if key == "included":
            return self.included
        raise KeyError(key)


def deadlines_near(cycle, today, days=14):
    """The cycle's windows open now or starting soon whose end lies within ``days``:
    [(window, days left)], nearest first."""
    if cycle is None:
        return []
    near = [(w, (w.end_date - today).days) for w in cycle.windows
            if w.end_date >= today and (w.end_date - today).days <= days]
    return sorted(near, key=lambda pair: pair[1])

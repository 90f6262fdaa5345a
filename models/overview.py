"""周期总进度: a cycle's progress rolled up per region of the jurisdiction tree.

For a region (the user's own, or one below it they drilled into) there is one row per region
directly below it — the cities of a province, the districts of a city — and one per institution
attached to it directly (a district's institutions, a city's own hospitals). Each row counts
the physicians on the roster, those included in the cycle, submitted, at each review stage,
待测评, 合格, 不合格 and 免考, and the completion rate.

Every count is read from a tally: a region's row from the roll-up per region (``RegionTally``:
a few rows per region and state, whatever the region's size), an institution's from its own
tallies (``EnrollmentTally``, kept by the state machine; ``RosterTally`` and ``ExemptionTally``,
kept by the session hook of ``models.tally``, which keeps the roll-up too). The rows are sorted
and paged in SQL (``page_of``) and only the page's rows are read in full, so neither a province
of 330,000 physicians nor a district of a thousand institutions costs much more than a small
district."""
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import Float, cast, case, func, literal_column, null, select, union_all

from app.extensions import db
from models import Administration, Cycle, EnrollmentTally, ExemptionTally, Institution, RosterTally
from models.tally import EXEMPTED, NO_CYCLE, ROSTER, RegionTally
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
    rows: list  # the page shown, in the order chosen
    total: RegionRow
    trail: list  # the administrations from the user's own down to ``region``
    row_count: int = 0  # rows on every page
    page: int = 0  # the page shown (0-based)


def regions_of(actor):
    """The administration an actor's 周期总进度 starts at (None: all of them, for the system)."""
    if actor.kind == scope.ADMINISTRATION:
        return db.session.query(Administration).filter(
            Administration.path == actor.admin_path).one()
    return None


def overview(actor, cycle, region_id=None, key="rate", descending=False, page=0,
             page_size=None):
    """周期总进度 of ``cycle`` for ``actor`` at ``region_id`` (their own region by default),
    ordered by ``key``, the page ``page`` of ``page_size`` rows (None: all); a region outside
    the actor's subtree is a 404."""
    if actor.kind not in (scope.ADMINISTRATION, scope.ALL):
        from flask import abort

        abort(403)
    top = regions_of(actor)
    region = top if region_id is None else scope.require(actor, scope.READ, Administration,
                                                         region_id)
    rows, count, page = page_of(actor, cycle, region, key, descending, page, page_size)
    return Overview(region=region, rows=rows, total=total_of(actor, cycle, region),
                    trail=_trail(top, region), row_count=count, page=page)


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


def _region_rows(cycle, ids):
    """{administration id: RegionRow} for ``ids``, from the roll-up (each region's whole
    subtree): a few rows per region, whatever its size."""
    rows = {admin_id: RegionRow(name="", administration_id=admin_id) for admin_id in ids}
    if not rows:
        return rows
    cycles = [NO_CYCLE] + ([cycle.id] if cycle is not None else [])
    for admin_id, cycle_id, measure, n in db.session.execute(
            select(RegionTally.administration_id, RegionTally.cycle_id, RegionTally.measure,
                   RegionTally.count)
            .where(RegionTally.administration_id.in_(sorted(rows)),
                   RegionTally.cycle_id.in_(cycles))):
        row = rows[admin_id]
        if measure == ROSTER:
            row.roster += n
        elif measure == EXEMPTED:
            row.exempted += n
        elif cycle_id != NO_CYCLE and n:
            row.states[measure] = row.states.get(measure, 0) + n
    return rows


def _institution_rows(cycle, ids):
    """{institution id: RegionRow} for ``ids``, from the institution-level tallies."""
    rows = {inst_id: RegionRow(name="", institution_id=inst_id) for inst_id in ids}
    if not rows:
        return rows
    ids = sorted(rows)
    if cycle is not None:
        for inst_id, state, n in db.session.execute(
                select(EnrollmentTally.institution_id, EnrollmentTally.state,
                       EnrollmentTally.count)
                .where(EnrollmentTally.cycle_id == cycle.id,
                       EnrollmentTally.institution_id.in_(ids))):
            if n:
                rows[inst_id].states[state] = rows[inst_id].states.get(state, 0) + n
        for inst_id, n in db.session.execute(
                select(ExemptionTally.institution_id, ExemptionTally.count)
                .where(ExemptionTally.cycle_id == cycle.id,
                       ExemptionTally.institution_id.in_(ids))):
            rows[inst_id].exempted += n
    for inst_id, n in db.session.execute(
            select(RosterTally.institution_id, RosterTally.count)
            .where(RosterTally.institution_id.in_(ids))):
        rows[inst_id].roster += n
    return rows


_DONE_INCLUDED = tuple(s for s in INCLUDED if s in _DONE)


def _value(key, cycle, region_side):
    """The SQL value a row is sorted by: one correlated subquery over the row's own tally rows
    (one index range: the roll-up's rows of (cycle, administration) for a region, the
    enrollment tally's of (cycle, institution) for an institution), or None for the name."""
    zero = literal_column("0")
    if key == "name":
        return None
    if region_side:
        count, measure = RegionTally.count, RegionTally.measure
        own = RegionTally.administration_id == Administration.id
        of_cycle = RegionTally.cycle_id == (cycle.id if cycle is not None else None)
    else:
        count, measure = EnrollmentTally.count, EnrollmentTally.state
        own = EnrollmentTally.institution_id == Institution.id
        of_cycle = EnrollmentTally.cycle_id == (cycle.id if cycle is not None else None)

    def among(states):
        return func.sum(case((measure.in_(states), count), else_=0))

    if key == "roster":
        if region_side:
            return select(func.coalesce(func.sum(RegionTally.count), 0)).where(
                RegionTally.cycle_id == NO_CYCLE, own,
                RegionTally.measure == ROSTER).scalar_subquery()
        return select(func.coalesce(func.sum(RosterTally.count), 0)).where(
            RosterTally.institution_id == Institution.id).scalar_subquery()
    if cycle is None:
        return null() if key == "rate" else zero
    if key == "exempted" and not region_side:
        return select(func.coalesce(func.sum(ExemptionTally.count), 0)).where(
            ExemptionTally.cycle_id == cycle.id,
            ExemptionTally.institution_id == Institution.id).scalar_subquery()
    if key == "rate":
        included = among(INCLUDED)
        value = case((included > 0, cast(among(_DONE_INCLUDED), Float) / included),
                     else_=null())
    else:
        value = func.coalesce(among((EXEMPTED,) if key == "exempted" else _STATES_OF[key]), 0)
    return select(value).where(of_cycle, own).scalar_subquery()


def _listing(actor, cycle, region, key=None):
    """The rows below ``region`` as one SELECT of (kind, id, name, value): the regions directly
    below (kind 0) and the institutions attached to it (kind 1), within the actor's scope;
    ``value`` is what ``key`` sorts by (None: no value, the natural order)."""
    regions = select(literal_column("0").label("kind"), Administration.id.label("id"),
                     Administration.name.label("name"))
    if key not in (None, "name"):
        regions = regions.add_columns(_value(key, cycle, True).label("value"))
    regions = regions.where(scope.condition(Administration, actor)).where(
        Administration.parent_id.is_(None) if region is None
        else Administration.parent_id == region.id)
    if region is None:
        return regions.subquery()
    institutions = select(literal_column("1").label("kind"), Institution.id.label("id"),
                          Institution.name.label("name"))
    if key not in (None, "name"):
        institutions = institutions.add_columns(_value(key, cycle, False).label("value"))
    institutions = institutions.where(scope.condition(Institution, actor)).where(
        Institution.admin_path == region.path)
    return union_all(regions, institutions).subquery()


def _ordered(listing, key, descending):
    """ORDER BY of ``sort_rows``: the column, rows without a rate last, ties in the natural
    order (regions by id, then institutions by id), both ways."""
    natural = (listing.c.kind, listing.c.id)
    if key is None:
        return natural
    if key == "name":
        name = listing.c.name
        if db.session.get_bind().dialect.name == "postgresql":
            name = name.collate("C")  # code point order, as Python compares
        return (name.desc() if descending else name,) + natural
    value = listing.c.value
    return (value.is_(None), value.desc() if descending else value) + natural


def page_of(actor, cycle, region, key="rate", descending=False, page=0, page_size=None):
    """(rows of the page, number of rows, the page shown) below ``region``, ordered by ``key``
    in SQL (ORDER BY … LIMIT … OFFSET): only the rows shown are read in full, so a district
    of a thousand institutions costs a page of them. ``page_size`` None: every row."""
    if key is not None and key not in SORT_KEYS:
        key = "rate"
    listing = _listing(actor, cycle, region, key)
    count = db.session.execute(select(func.count()).select_from(
        _listing(actor, cycle, region))).scalar()
    query = select(listing.c.kind, listing.c.id, listing.c.name).order_by(
        *_ordered(listing, key, descending))
    if page_size:
        pages = max(1, -(-count // page_size))
        page = min(max(page, 0), pages - 1)
        query = query.limit(page_size).offset(page * page_size)
    else:
        page = 0
    chosen = db.session.execute(query).all()
    regions = _region_rows(cycle, [i for kind, i, _name in chosen if kind == 0])
    institutions = _institution_rows(cycle, [i for kind, i, _name in chosen if kind == 1])
    rows = []
    for kind, ident, name in chosen:
        row = regions[ident] if kind == 0 else institutions[ident]
        row.name = name
        rows.append(row)
    return rows, count, page


def total_of(actor, cycle, region):
    """The 合计 row below ``region``: the region's own roll-up (its whole subtree, which the
    actor sees in full: ``region`` was required in scope), or for the top the sum of the
    provinces the actor sees."""
    if region is not None:
        total = _region_rows(cycle, [region.id])[region.id]
        total.administration_id = None
        total.name = region.name
        return total
    total = RegionRow(name="")
    ids = db.session.execute(select(Administration.id).where(
        Administration.parent_id.is_(None), scope.condition(Administration, actor))).scalars()
    for row in _region_rows(cycle, list(ids)).values():
        total.add(row)
    return total


def region_rows(actor, cycle, region):
    """(rows, total) below ``region`` (None: the top of the tree) for ``cycle``, every row in
    the natural order (regions, then institutions, each by id)."""
    rows, _count, _page = page_of(actor, cycle, region, key=None)
    return rows, total_of(actor, cycle, region)


def sort_rows(rows, key="rate", descending=False):
    """Rows ordered by a column in Python (the page orders in SQL, ``page_of``; this is the
    reference it must agree with): rows without a rate go last."""
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

    Computed in SQL (ORDER BY the rate … LIMIT): each region below from its roll-up, each
    institution attached to the region from its tally, so only ``limit`` rows come back
    whatever the province's size."""
    if cycle is None or actor.kind not in (scope.ADMINISTRATION, scope.ALL):
        return []
    region = regions_of(actor)
    path = region.path if region is not None else "/"
    # The regions below: their roll-up rows (a few per region).
    done = func.sum(case((RegionTally.measure.in_(_DONE_INCLUDED), RegionTally.count), else_=0))
    included = func.sum(case((RegionTally.measure.in_(INCLUDED), RegionTally.count), else_=0))
    regions = (
        select(Administration.id.label("administration_id"), null().label("institution_id"),
               Administration.name.label("name"), done.label("done"),
               included.label("included"))
        .join(RegionTally, (RegionTally.administration_id == Administration.id)
              & (RegionTally.cycle_id == cycle.id))
        .where(scope.condition(Administration, actor),
               Administration.parent_id.is_(None) if region is None
               else Administration.parent_id == region.id)
        .group_by(Administration.id, Administration.name))
    parts = [regions]
    if region is not None:
        # The institutions attached to the region itself: their own tallies.
        done = func.sum(case((EnrollmentTally.state.in_(_DONE_INCLUDED), EnrollmentTally.count),
                             else_=0))
        included = func.sum(case((EnrollmentTally.state.in_(INCLUDED), EnrollmentTally.count),
                                 else_=0))
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

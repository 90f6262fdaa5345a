"""首页: each staff role's home page — the cycle's schedule and current window, pending tasks
with counts and a 去处理 link, progress, the contacts above — and the first-login 去确认 of the
cycle dates. Physicians are sent to their self-service home."""
import datetime

from flask import flash, g, redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Query

from app.extensions import db
from models import (
    Administration,
    AssessmentApplication,
    Cycle,
    CycleConfirmation,
    Enrollment,
    EnrollmentTally,
    Exemption,
    Institution,
    Physician,
    RegionTally,
)
from models import overview, workflow
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import EXEMPTION_STATE as X
from models.enrollment import PROCEDURE
from models.physician import ROSTER_STATUS
from security import roles, scope


def _count(model):
    return scope.restrict(db.session.query(func.count(model.id)), model)


class Counts:
    """The page's counts, asked of the database in one statement: each ``add`` takes a query
    of one value (a count, an EXISTS) and gives a slot whose ``value`` is set by ``run``.
    Each count keeps its own query and plan; only the round trips (a dozen, each with its
    ORM overhead) become one."""

    class Slot:
        value = None

    def __init__(self):
        self._queries, self._slots = [], []

    def add(self, query):
        slot = self.Slot()
        self._queries.append(query.scalar_subquery() if isinstance(query, Query) else query)
        self._slots.append(slot)
        return slot

    def run(self):
        if self._queries:
            for slot, value in zip(self._slots,
                                   db.session.execute(select(*self._queries)).one()):
                slot.value = value


def state_counts(cycle, actor=None):
    """{state: n} of the enrollments the current user may see in the cycle, read from the
    tally the state machine keeps: for an administration its region's roll-up (one row per
    state), for the system the provinces' roll-ups, for an institution its tally rows (not
    every enrollment)."""
    if actor is not None and actor.kind in (scope.ADMINISTRATION, scope.ALL):
        if actor.kind == scope.ADMINISTRATION:
            regions = [int(actor.admin_path.strip("/").split("/")[-1])]
        else:  # every institution is under one of the top administrations (the provinces)
            regions = select(Administration.id).where(Administration.parent_id.is_(None))
        rows = db.session.query(RegionTally.measure, func.sum(RegionTally.count)).filter(
            RegionTally.cycle_id == cycle.id, RegionTally.administration_id.in_(regions),
            RegionTally.measure.in_(S.values())).group_by(RegionTally.measure)
        return {state: int(n) for state, n in rows.all() if n}
    rows = scope.restrict(
        db.session.query(EnrollmentTally.state, func.sum(EnrollmentTally.count)),
        EnrollmentTally,
    ).filter(EnrollmentTally.cycle_id == cycle.id).group_by(EnrollmentTally.state)
    return {state: int(n) for state, n in rows.all() if n}


def _task(label, count, url):
    """A pending task; ``count`` a number, or a slot of ``Counts`` until the page's counts
    have been run (``_counted``)."""
    return {"label": label, "count": count, "url": url}


def _counted(tasks):
    for task in tasks:
        if isinstance(task["count"], Counts.Slot):
            task["count"] = task["count"].value or 0
    return tasks


REVIEW_TASKS = {
    (False, PROCEDURE.SIMPLE): _l("Simple procedure awaiting review"),
    (False, PROCEDURE.GENERAL): _l("General procedure awaiting review"),
    (True, PROCEDURE.SIMPLE): _l("Simple procedure awaiting re-review"),
    (True, PROCEDURE.GENERAL): _l("General procedure awaiting re-review"),
}


def review_tasks(own, cycle, batch, assessment=False, actor=None):
    """简易程序待审核 / 一般程序待审核 (002 2.2.6-2.2.7), or for an assessment institution the
    same two of 复核: a count per procedure over the indexed (institution, state) columns."""
    if assessment:
        where = (Enrollment.state.in_(workflow.ASSESSMENT_STAGE),
                 Enrollment.institution_id.in_(scope.covered_institutions(actor)))
    else:
        where = (Enrollment.state.in_(workflow.INSTITUTION_STAGE),
                 Enrollment.institution_id == own.id)
    stage = "assessment" if assessment else "institution"
    return [_task(REVIEW_TASKS[assessment, procedure],
                  batch.add(db.session.query(func.count(Enrollment.id)).filter(
                      Enrollment.cycle_id == cycle.id, *where,
                      Enrollment.procedure == procedure)),
                  url_for("ReviewView.index", stage=stage, procedure=procedure))
            for procedure in (PROCEDURE.SIMPLE, PROCEDURE.GENERAL)]


def exemptions_waiting(actor, action, state, cycle):
    """免考待审核: the applications in ``state`` that the actor may decide (scope's answer)."""
    return scope.restrict(db.session.query(func.count(Exemption.id)), Exemption, actor, action) \
        .join(Enrollment, Enrollment.id == Exemption.enrollment_id) \
        .filter(Exemption.state == state, Enrollment.cycle_id == cycle.id)


def institution_tasks(actor, cycle, counts, batch):
    own = db.session.get(Institution, actor.institution_id)
    tasks = []
    if cycle is not None:
        included = exists().where(Enrollment.physician_id == Physician.id,
                                  Enrollment.cycle_id == cycle.id,
                                  Enrollment.state != S.CANCELLED)
        not_included = db.session.query(func.count(Physician.id)).filter(
            Physician.institution_id == own.id,
            Physician.roster_status == ROSTER_STATUS.ACTIVE, ~included)
        tasks.append(_task(_("Physicians not yet confirmed for enrollment"),
                           batch.add(not_included),
                           url_for("PhysicianView.list", _flt_0_id="0")))
        tasks += review_tasks(own, cycle, batch)
        tasks.append(_task(_("Exemptions awaiting review"),
                           batch.add(exemptions_waiting(actor, scope.REVIEW, X.PENDING, cycle)),
                           url_for("ExemptionView.list", _flt_0_state=X.PENDING)))
        if own.is_assessment:
            tasks += review_tasks(own, cycle, batch, assessment=True, actor=actor)
            tasks.append(_task(_("Exemptions awaiting re-review"),
                               batch.add(exemptions_waiting(actor, scope.REREVIEW,
                                                            X.PENDING_ASSESSMENT, cycle)),
                               url_for("ExemptionView.list", _flt_0_state=X.PENDING_ASSESSMENT)))
    return tasks


def administration_tasks(actor, cycle, counts, batch):
    subtree = Institution.admin_path.like(actor.subtree)
    unassigned = batch.add(db.session.query(func.count(Institution.id)).filter(
        subtree, Institution.is_assessment.is_(False),
        Institution.assessment_institution_id.is_(None)))
    applications = batch.add(db.session.query(func.count(AssessmentApplication.id)).filter(
        AssessmentApplication.state.in_(workflow.APPLICATION.sources("approve")),
        AssessmentApplication.institution_id.in_(select(Institution.id).where(subtree))))
    tasks = [
        _task(_("Medical institutions without an assessment institution"), unassigned,
              url_for("InstitutionView.list", _flt_1_assessment_institution="1")),
        _task(_("Assessment institution applications awaiting approval"), applications,
              url_for("AssessmentApplicationView.list")),
    ]
    if cycle is not None:
        tasks.append(_task(S.label(S.AWAITING_MAKEUP_CONFIRMATION),
                           sum(counts.get(s, 0) for s in workflow.MAKEUP_CONFIRMATION),
                           url_for("MakeupView.list")))
    return tasks


def contacts_for(actor):
    """The assessment institution and the administrations above, with their contacts."""
    people = []
    if actor.kind == scope.INSTITUTION:
        own = db.session.get(Institution, actor.institution_id)
        if own.assessment_institution is not None:
            a = own.assessment_institution
            people.append((_("Assessment institution"), a.name, a.contact, a.phone or a.mobile))
        path = own.admin_path
    elif actor.kind == scope.ADMINISTRATION:
        path = actor.admin_path.rsplit("/", 2)[0] + "/" if actor.admin_path.count("/") > 2 else ""
    else:
        path = ""
    ids = [int(part) for part in path.strip("/").split("/") if part]
    if ids:
        chain = {a.id: a for a in db.session.query(Administration).filter(Administration.id.in_(ids))}
        for admin_id in reversed(ids):
            a = chain[admin_id]
            people.append((_("Health administration"), a.name, a.contact, a.phone))
    return people


class HomeView(IndexView):
    route_base = ""
    default_view = "index"
    index_template = "home/staff.html"

    @expose("/")
    def index(self):
        user = g.user
        if user is None or not user.is_authenticated:
            return redirect(url_for("DingkaoAuthView.login"))
        role_names = [role.name for role in user.roles]
        if roles.PHYSICIAN in role_names:
            return redirect(url_for("SelfServiceView.home"))
        actor = scope.current_actor()
        # The account's institution or administration, read once and held for the request
        # (the session keeps loaded records only while something refers to them: the tasks
        # and the contacts below would each read the institution again).
        scope_name = _scope_name(user)
        cycle = Cycle.current()
        today = datetime.date.today()
        windows = sorted(cycle.windows, key=lambda w: w.start_date) if cycle else []
        counts = state_counts(cycle, actor) if cycle is not None else {}
        batch = Counts()
        if actor.kind == scope.INSTITUTION:
            tasks = institution_tasks(actor, cycle, counts, batch)
        elif actor.kind == scope.ADMINISTRATION:
            tasks = administration_tasks(actor, cycle, counts, batch)
        else:
            tasks = []
        done, included = overview.completion(counts)
        # Administrations: the regions furthest behind, the windows closing soon.
        administration = actor.kind == scope.ADMINISTRATION
        behind = overview.furthest_behind(actor, cycle) if administration else []
        deadlines = overview.deadlines_near(cycle, today) if administration else []
        confirmation = None if cycle is None else batch.add(exists().where(
            CycleConfirmation.cycle_id == cycle.id, CycleConfirmation.user_id == user.id))
        institution_count = batch.add(_count(Institution))
        # Counting a whole province's roster on every home page view would cost O(physicians);
        # an institution's own roster is an indexed count.
        physician_count = batch.add(_count(Physician)) if actor.kind == scope.INSTITUTION \
            else None
        batch.run()
        confirmed = confirmation is None or bool(confirmation.value)
        return self.render_template(
            self.index_template,
            user=user,
            role_names=role_names,
            scope_name=scope_name,
            cycle=cycle,
            windows=windows,
            current_windows=[w for w in windows if w.is_open(today)],
            today=today,
            tasks=_counted(tasks),
            state_counts=[(S.label(s), counts[s]) for s in S.values() if s in counts],
            completion=(f"{done / included:.1%}" if included else "—"),
            institution_count=institution_count.value,
            physician_count=physician_count.value if physician_count is not None else None,
            contacts=contacts_for(actor),
            needs_confirmation=not confirmed,
            behind=behind,
            deadlines=deadlines,
        )

    @expose("/confirm-cycle", methods=["POST"])
    @has_access
    def confirm_cycle(self):
        from commands import institution

        if institution.confirm_cycle(scope.current_actor()):
            flash(_("The schedule of this cycle has been confirmed"), "success")
        return redirect(url_for(".index"))


def _scope_name(user):
    if user.institution is not None:
        return user.institution.name
    if user.administration is not None:
        return user.administration.name
    return ""

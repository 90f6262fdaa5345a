"""首页: each staff role's home page — the cycle's schedule and current window, pending tasks
with counts and a 去处理 link, progress, the contacts above — and the first-login 去确认 of the
cycle dates. Physicians are sent to their self-service home."""
import datetime

from flask import flash, g, redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from sqlalchemy import exists, func, select

from app.extensions import db
from models import (
    Administration,
    AssessmentApplication,
    Cycle,
    CycleConfirmation,
    Enrollment,
    EnrollmentTally,
    Institution,
    Physician,
)
from models import overview, workflow
from models.enrollment import ENROLLMENT_STATE as S
from models.physician import ROSTER_STATUS
from security import roles, scope


def _count(model):
    return scope.restrict(db.session.query(func.count(model.id)), model).scalar()


def state_counts(cycle):
    """{state: n} of the enrollments the current user may see in the cycle, read from the
    tally the state machine keeps (at most institutions × states rows, not every enrollment)."""
    rows = scope.restrict(
        db.session.query(EnrollmentTally.state, func.sum(EnrollmentTally.count)),
        EnrollmentTally,
    ).filter(EnrollmentTally.cycle_id == cycle.id).group_by(EnrollmentTally.state)
    return {state: int(n) for state, n in rows.all() if n}


def _task(label, count, url):
    return {"label": label, "count": count, "url": url}


def institution_tasks(actor, cycle, counts):
    own = db.session.get(Institution, actor.institution_id)
    tasks = []
    if cycle is not None:
        included = exists().where(Enrollment.physician_id == Physician.id,
                                  Enrollment.cycle_id == cycle.id,
                                  Enrollment.state != S.CANCELLED)
        not_included = db.session.query(func.count(Physician.id)).filter(
            Physician.institution_id == own.id,
            Physician.roster_status == ROSTER_STATUS.ACTIVE, ~included).scalar()
        tasks.append(_task(_("Physicians not yet confirmed for enrollment"), not_included,
                           url_for("PhysicianView.list", _flt_0_id="0")))
        own_counts = dict(db.session.query(EnrollmentTally.state, EnrollmentTally.count).filter(
            EnrollmentTally.cycle_id == cycle.id, EnrollmentTally.institution_id == own.id).all())
        for state in workflow.INSTITUTION_STAGE:
            tasks.append(_task(S.label(state), own_counts.get(state, 0),
                               url_for("ReviewView.index")))
        if own.is_assessment:
            assigned = db.session.query(func.sum(EnrollmentTally.count)).filter(
                EnrollmentTally.cycle_id == cycle.id,
                EnrollmentTally.state.in_(workflow.ASSESSMENT_STAGE),
                EnrollmentTally.institution_id.in_(scope.covered_institutions(actor))
            ).scalar() or 0
            tasks.append(_task(_("Awaiting assessment institution re-review"), assigned,
                               url_for("ReviewView.index", stage="assessment")))
    return tasks


def administration_tasks(actor, cycle, counts):
    subtree = Institution.admin_path.like(actor.subtree)
    unassigned = db.session.query(func.count(Institution.id)).filter(
        subtree, Institution.is_assessment.is_(False),
        Institution.assessment_institution_id.is_(None)).scalar()
    applications = db.session.query(func.count(AssessmentApplication.id)).filter(
        AssessmentApplication.state.in_(workflow.APPLICATION.sources("approve")),
        AssessmentApplication.institution_id.in_(select(Institution.id).where(subtree))).scalar()
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
        cycle = Cycle.current()
        today = datetime.date.today()
        windows = sorted(cycle.windows, key=lambda w: w.start_date) if cycle else []
        counts = state_counts(cycle) if cycle is not None else {}
        if actor.kind == scope.INSTITUTION:
            tasks = institution_tasks(actor, cycle, counts)
        elif actor.kind == scope.ADMINISTRATION:
            tasks = administration_tasks(actor, cycle, counts)
        else:
            tasks = []
        done, included = overview.completion(counts)
        # Administrations: the regions furthest behind, the windows closing soon.
        administration = actor.kind == scope.ADMINISTRATION
        behind = overview.furthest_behind(actor, cycle) if administration else []
        deadlines = overview.deadlines_near(cycle, today) if administration else []
        confirmed = cycle is None or db.session.query(CycleConfirmation.id).filter_by(
            cycle_id=cycle.id, user_id=user.id).first() is not None
        return self.render_template(
            self.index_template,
            user=user,
            role_names=role_names,
            scope_name=_scope_name(user),
            cycle=cycle,
            windows=windows,
            current_windows=[w for w in windows if w.is_open(today)],
            today=today,
            tasks=tasks,
            state_counts=[(S.label(s), counts[s]) for s in S.values() if s in counts],
            completion=(f"{done / included:.1%}" if included else "—"),
            institution_count=_count(Institution),
            # Counting a whole province's roster on every home page view would cost O(physicians);
            # an institution's own roster is an indexed count.
            physician_count=_count(Physician) if actor.kind == scope.INSTITUTION else None,
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

"""首页: the home page of each staff role; physicians are sent to their self-service home."""
import datetime

from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose

from app.extensions import db
from models import Cycle, Enrollment, Institution, Physician
from models.enrollment import ENROLLMENT_STATE
from security import roles, scope


def current_cycle():
    return db.session.query(Cycle).filter(Cycle.is_current.is_(True)).first()


def _count(model):
    return scope.restrict(db.session.query(model), model).count()


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
        cycle = current_cycle()
        today = datetime.date.today()
        windows = sorted(cycle.windows, key=lambda w: w.start_date) if cycle else []
        pending = {}
        if cycle is not None:
            enrollments = scope.restrict(
                db.session.query(Enrollment.state, db.func.count(Enrollment.id)),
                Enrollment,
            ).filter(Enrollment.cycle_id == cycle.id).group_by(Enrollment.state)
            pending = {state: n for state, n in enrollments}
        return self.render_template(
            self.index_template,
            user=user,
            role_names=role_names,
            scope_name=_scope_name(user),
            cycle=cycle,
            windows=windows,
            today=today,
            state_counts=[(ENROLLMENT_STATE.label(s), pending[s]) for s in pending],
            institution_count=_count(Institution),
            physician_count=_count(Physician),
        )


def _scope_name(user):
    if user.institution is not None:
        return user.institution.name
    if user.administration is not None:
        return user.administration.name
    return ""

"""The physicians' self-service pages (phone-sized): home with the cycle and their state.

Physicians never reach the console's generated views; their role grants only these."""
from flask import g
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access

from app.extensions import db
from models import Enrollment
from views.home import current_cycle


class SelfServiceView(BaseView):
    route_base = "/me"
    default_view = "home"

    @expose("/")
    @has_access
    def home(self):
        physician = g.user.physician
        cycle = current_cycle()
        enrollment = None
        if cycle is not None and physician is not None:
            enrollment = (
                db.session.query(Enrollment)
                .filter(Enrollment.cycle_id == cycle.id, Enrollment.physician_id == physician.id)
                .first()
            )
        return self.render_template(
            "selfservice/home.html",
            physician=physician,
            cycle=cycle,
            windows=sorted(cycle.windows, key=lambda w: w.start_date) if cycle else [],
            enrollment=enrollment,
        )


def register(appbuilder):
    appbuilder.add_view_no_menu(SelfServiceView)

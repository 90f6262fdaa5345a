"""Assessment cycles (考核周期) and their schedule windows."""
import datetime

from flask_appbuilder import Model
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from models.base import ChoiceSet, Refused, now

WINDOW_KIND = ChoiceSet(
    ("assessment_application", _l("Assessment institution application")),
    ("enrollment", _l("Physician enrollment")),
    ("enrollment_review", _l("Enrollment review")),
    ("exemption_application", _l("Exemption application")),
    ("exemption_review", _l("Exemption review")),
    ("exam", _l("Humanities and professional assessment")),
    ("makeup_exam", _l("Make-up exam")),
)


class WindowClosed(Refused):
    """The action's schedule window is not open today; the message says which and when."""


class Cycle(Model):
    __tablename__ = "cycle"
    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    start_date = Column(Date, nullable=False)
    end_date = Column(Date, nullable=False)
    # Years of practice are counted up to this date (e.g. 2025-12-31).
    cutoff_date = Column(Date, nullable=False)
    is_current = Column(Boolean, nullable=False, default=False, index=True)
    administration_id = Column(Integer, ForeignKey("administration.id"), nullable=False)
    administration = relationship("Administration")

    @classmethod
    def current(cls):
        """The cycle in progress (at most one is marked current), or None."""
        from app.extensions import db

        return db.session.query(cls).filter(cls.is_current.is_(True)).first()

    @staticmethod
    def require_current(cycle):
        if cycle is None:
            raise WindowClosed(_("There is no assessment cycle in progress"))
        return cycle

    def check(self):
        """Before a cycle is saved: a name, dates in order, and at most one current cycle (the
        one marked current now; the province's others stop being current)."""
        from app.extensions import db

        self.name = (self.name or "").strip()
        if not self.name:
            raise Refused(_("Please enter the name"))
        if self.administration_id is None:
            raise Refused(_("Assessment cycles are set by the provincial administration"))
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise Refused(_("The start date cannot be after the end date"))
        if self.is_current:
            db.session.query(Cycle).filter(Cycle.is_current.is_(True),
                                           Cycle.id != (self.id or -1)).update(
                {Cycle.is_current: False}, synchronize_session=False)

    def window(self, kind):
        return next((w for w in self.windows if w.kind == kind), None)

    def require_open(self, kind, today=None):
        """The window of ``kind`` if today lies inside it (start and end inclusive); otherwise
        WindowClosed saying whether it is unscheduled, not yet open or over. Every windowed
        action asks this one question."""
        window = self.window(kind)
        stage = WINDOW_KIND.label(kind)
        if window is None:
            raise WindowClosed(_("%(stage)s is not scheduled in this cycle", stage=stage))
        today = today or datetime.date.today()
        dates = {"stage": stage, "start": window.start_date, "end": window.end_date}
        if today < window.start_date:
            raise WindowClosed(_("%(stage)s has not started yet (%(start)s ~ %(end)s)", **dates))
        if today > window.end_date:
            raise WindowClosed(_("%(stage)s has closed (%(start)s ~ %(end)s)", **dates))
        return window

    def __str__(self):
        return self.name


class ScheduleWindow(Model):
    __tablename__ = "schedule_window"
    id = Column(Integer, primary_key=True)
    cycle_id = Column(Integer, ForeignKey("cycle.id"), nullable=False)
    cycle = relationship("Cycle", backref="windows")
    kind = Column(String(32), nullable=False)
    start_date = Column(Date, nullable=False)
    end_date = Column(Date, nullable=False)

    __table_args__ = (UniqueConstraint("cycle_id", "kind", name="uq_window_cycle_kind"),)

    def is_open(self, today=None):
        today = today or datetime.date.today()
        return self.start_date <= today <= self.end_date

    def check(self):
        from app.extensions import db

        if self.kind not in WINDOW_KIND:
            raise Refused(_("Please choose the stage"))
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise Refused(_("The start date cannot be after the end date"))
        cycle_id = self.cycle.id if self.cycle is not None else self.cycle_id
        with db.session.no_autoflush:  # this window is not complete yet
            clash = db.session.query(ScheduleWindow.id).filter(
                ScheduleWindow.cycle_id == cycle_id, ScheduleWindow.kind == self.kind,
                ScheduleWindow.id != (self.id or -1)).first()
        if clash:
            raise Refused(_("%(stage)s is already scheduled in this cycle: edit it instead",
                            stage=WINDOW_KIND.label(self.kind)))

    @property
    def kind_label(self):
        return WINDOW_KIND.label(self.kind)

    def __str__(self):
        return f"{self.kind_label} {self.start_date} ~ {self.end_date}"


class CycleConfirmation(Model):
    """That a user confirmed the cycle dates at their first login in the cycle (去确认)."""

    __tablename__ = "cycle_confirmation"
    id = Column(Integer, primary_key=True)
    cycle_id = Column(Integer, ForeignKey("cycle.id"), nullable=False)
    user_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    confirmed_at = Column(DateTime, default=now, nullable=False)

    __table_args__ = (UniqueConstraint("cycle_id", "user_id", name="uq_confirmation"),)

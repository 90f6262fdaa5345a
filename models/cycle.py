"""Assessment cycles (考核周期) and their schedule windows."""
import datetime

from flask_appbuilder import Model
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

from models.base import ChoiceSet, now

WINDOW_KIND = ChoiceSet(
    ("assessment_application", _l("Assessment institution application")),
    ("enrollment", _l("Physician enrollment")),
    ("enrollment_review", _l("Enrollment review")),
    ("exemption_application", _l("Exemption application")),
    ("exemption_review", _l("Exemption review")),
    ("exam", _l("Humanities and professional assessment")),
    ("makeup_exam", _l("Make-up exam")),
)


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

    def window(self, kind):
        return next((w for w in self.windows if w.kind == kind), None)

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

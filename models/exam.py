"""Papers, questions, exam attempts, answers and per-paper results (测评)."""
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from models.base import ChoiceSet

PAPER_KIND = ChoiceSet(
    ("humanities", _l("Medical humanities")),
    ("professional", _l("Professional level")),
)
QUESTION_TYPE = ChoiceSet(
    ("single", _l("Single choice")),
    ("multiple", _l("Multiple choice")),
    ("judge", _l("True or false")),
)


class Paper(Model):
    __tablename__ = "paper"
    id = Column(Integer, primary_key=True)
    cycle_id = Column(Integer, ForeignKey("cycle.id"), nullable=False, index=True)
    cycle = relationship("Cycle")
    name = Column(String(128), nullable=False)
    kind = Column(String(16), nullable=False)
    procedure = Column(String(16), nullable=False)
    practice_category = Column(String(16))
    level = Column(String(16))
    is_mock = Column(Boolean, nullable=False, default=False)
    opens_at = Column(DateTime)
    closes_at = Column(DateTime)
    duration_minutes = Column(Integer, nullable=False, default=60)
    pass_mark = Column(Integer, nullable=False, default=60)
    max_attempts = Column(Integer, nullable=False, default=1)

    @property
    def kind_label(self):
        return PAPER_KIND.label(self.kind)

    def __str__(self):
        return self.name


class Question(Model):
    __tablename__ = "question"
    id = Column(Integer, primary_key=True)
    paper_id = Column(Integer, ForeignKey("paper.id"), nullable=False, index=True)
    paper = relationship("Paper", backref="questions")
    type = Column(String(16), nullable=False)
    stem = Column(Text, nullable=False)
    options = Column(JSON, nullable=False, default=list)
    answer = Column(String(16), nullable=False)
    score = Column(Integer, nullable=False, default=1)


class ExamAttempt(Model):
    __tablename__ = "exam_attempt"
    id = Column(Integer, primary_key=True)
    paper_id = Column(Integer, ForeignKey("paper.id"), nullable=False)
    paper = relationship("Paper")
    enrollment_id = Column(Integer, ForeignKey("enrollment.id"), nullable=False, index=True)
    enrollment = relationship("Enrollment", backref="attempts")
    started_at = Column(DateTime, nullable=False)
    submitted_at = Column(DateTime)
    score = Column(Integer)
    passed = Column(Boolean)
    face_verified = Column(Boolean, nullable=False, default=False)


class Answer(Model):
    __tablename__ = "answer"
    id = Column(Integer, primary_key=True)
    attempt_id = Column(Integer, ForeignKey("exam_attempt.id"), nullable=False, index=True)
    attempt = relationship("ExamAttempt", backref="answers")
    question_id = Column(Integer, ForeignKey("question.id"), nullable=False)
    response = Column(String(16))
    correct = Column(Boolean)

    __table_args__ = (UniqueConstraint("attempt_id", "question_id", name="uq_answer"),)


class PaperResult(Model):
    """The best outcome of one enrollment on one paper; the cycle result is on the enrollment."""

    __tablename__ = "paper_result"
    id = Column(Integer, primary_key=True)
    enrollment_id = Column(Integer, ForeignKey("enrollment.id"), nullable=False)
    enrollment = relationship("Enrollment", backref="paper_results")
    paper_id = Column(Integer, ForeignKey("paper.id"), nullable=False)
    paper = relationship("Paper")
    best_score = Column(Integer)
    passed = Column(Boolean, nullable=False, default=False)
    attempts_used = Column(Integer, nullable=False, default=0)
    exempted = Column(Boolean, nullable=False, default=False)
    note = Column(Text)

    __table_args__ = (UniqueConstraint("enrollment_id", "paper_id", name="uq_paper_result"),)

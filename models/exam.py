"""测评: the question bank, papers, attempts with their saved answers, and per-paper results.

A paper is a 医学人文 (humanities) or a 业务水平 (professional) paper, or — for the general
procedure — the manual's 医学人文与业务水平综合试卷 (combined): one paper with a humanities part
and a professional part, the professional questions matching the physician's category and level.

A question lives in the bank, tagged by the paper kind it serves and, for professional
questions, by practice category and level (empty = any). A paper takes its questions either as
a fixed list or by drawing N of each type at random from the bank for every attempt. An attempt
keeps the questions it drew and the order they and their options are shown in, so a reload or
another device resumes the very same paper.
"""
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from models.base import ChoiceSet, now

PAPER_KIND = ChoiceSet(
    ("humanities", _l("Medical humanities")),
    ("professional", _l("Professional level")),
    ("combined", _l("Medical humanities and professional level combined")),
)
# The bank's question kinds (a combined paper draws from both).
QUESTION_KIND = ChoiceSet(
    ("humanities", _l("Medical humanities")),
    ("professional", _l("Professional level")),
)
QUESTION_TYPE = ChoiceSet(
    ("single", _l("Single choice")),
    ("multiple", _l("Multiple choice")),
    ("judge", _l("True or false")),
)
ATTEMPT_STATE = ChoiceSet(
    ("in_progress", _l("Answering")),
    ("submitted", _l("Handed in")),
    ("expired", _l("Handed in at the deadline")),
)
# Options are lettered A, B, C…; a judge question's two options are 正确 / 错误 (A / B).
LETTERS = "ABCDEFGH"

paper_question = Table(
    "paper_question",
    Model.metadata,
    Column("paper_id", Integer, ForeignKey("paper.id"), primary_key=True),
    Column("question_id", Integer, ForeignKey("question.id"), primary_key=True),
)


class Paper(Model):
    __tablename__ = "paper"
    id = Column(Integer, primary_key=True)
    cycle_id = Column(Integer, ForeignKey("cycle.id"), nullable=False, index=True)
    cycle = relationship("Cycle")
    name = Column(String(128), nullable=False)
    kind = Column(String(16), nullable=False)
    procedure = Column(String(16), nullable=False)
    # For a professional paper: whom it is for (empty = any category / level).
    practice_category = Column(String(16))
    level = Column(String(16))
    is_mock = Column(Boolean, nullable=False, default=False)
    is_makeup = Column(Boolean, nullable=False, default=False)
    opens_at = Column(DateTime)
    closes_at = Column(DateTime)
    duration_minutes = Column(Integer, nullable=False, default=60)
    pass_mark = Column(Integer, nullable=False, default=60)
    max_attempts = Column(Integer, nullable=False, default=1)
    # Drawn per attempt when set: how many questions of each type; otherwise the fixed list.
    draw_single = Column(Integer)
    draw_multiple = Column(Integer)
    draw_judge = Column(Integer)
    # A combined paper: the draws above are its humanities part, these its professional part.
    draw_professional_single = Column(Integer)
    draw_professional_multiple = Column(Integer)
    draw_professional_judge = Column(Integer)
    questions = relationship("Question", secondary=paper_question, order_by="Question.id")

    @property
    def kind_label(self):
        return PAPER_KIND.label(self.kind)

    @property
    def procedure_label(self):
        from models.enrollment import PROCEDURE

        return PROCEDURE.label(self.procedure)

    @property
    def draws(self):
        return {"single": self.draw_single, "multiple": self.draw_multiple,
                "judge": self.draw_judge}

    @property
    def professional_draws(self):
        return {"single": self.draw_professional_single,
                "multiple": self.draw_professional_multiple,
                "judge": self.draw_professional_judge}

    @property
    def parts(self):
        """[(question kind, {type: count drawn})]: one part, or a combined paper's two, in the
        order they are shown (humanities first)."""
        if self.kind == "combined":
            return [("humanities", self.draws), ("professional", self.professional_draws)]
        return [(self.kind, self.draws)]

    @property
    def is_drawn(self):
        return any(count for _kind, draws in self.parts for count in draws.values())

    def __str__(self):
        return self.name


class Question(Model):
    """A question of the bank (题库)."""

    __tablename__ = "question"
    id = Column(Integer, primary_key=True)
    kind = Column(String(16), nullable=False, default="humanities")
    practice_category = Column(String(16))
    level = Column(String(16))
    type = Column(String(16), nullable=False)
    stem = Column(Text, nullable=False)
    options = Column(JSON, nullable=False, default=list)
    # Letters of the right options: "B", "ACD"; a judge question "A" (正确) or "B" (错误).
    answer = Column(String(16), nullable=False)
    score = Column(Integer, nullable=False, default=1)
    explanation = Column(Text)
    enabled = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime, default=now, nullable=False)

    __table_args__ = (Index("ix_question_kind_type", "kind", "type"),)

    @property
    def type_label(self):
        return QUESTION_TYPE.label(self.type)

    @property
    def kind_label(self):
        return QUESTION_KIND.label(self.kind)

    def __str__(self):
        return self.stem[:40]


class ExamAttempt(Model):
    __tablename__ = "exam_attempt"
    id = Column(Integer, primary_key=True)
    paper_id = Column(Integer, ForeignKey("paper.id"), nullable=False)
    paper = relationship("Paper")
    enrollment_id = Column(Integer, ForeignKey("enrollment.id"), nullable=False, index=True)
    enrollment = relationship("Enrollment", backref="attempts")
    number = Column(Integer, nullable=False, default=1)
    state = Column(String(16), nullable=False, default=ATTEMPT_STATE.IN_PROGRESS)
    started_at = Column(DateTime, nullable=False)
    # Fixed by the server at the start: start + duration, never past the paper's close.
    deadline = Column(DateTime)
    # The questions drawn, in the order shown, and each one's option order (letters).
    question_ids = Column(JSON, nullable=False, default=list)
    option_orders = Column(JSON, nullable=False, default=dict)
    # The device answering now; starting on another device takes the attempt over.
    device = Column(String(32))
    submitted_at = Column(DateTime)
    score = Column(Integer)
    passed = Column(Boolean)
    face_verified = Column(Boolean, nullable=False, default=False)
    # 监考管理's order and filter (models.proctoring.risk_of over the attempt's snapshots and
    # page events; the lowest similarity), kept by commands.proctoring in the same transaction
    # as every face-check result, page event and purge of the attempt.
    proctor_risk = Column(Float, nullable=False, default=0, server_default="0")
    proctor_lowest = Column(Float)

    __table_args__ = (Index("ix_exam_attempt_state_deadline", "state", "deadline"),
                      Index("ix_exam_attempt_proctor_risk", "proctor_risk", "id"))

    @property
    def state_label(self):
        return ATTEMPT_STATE.label(self.state)

    @property
    def pass_mark(self):
        """The score this attempt passes with (less than the paper's when a part is waived)."""
        from models.exam_rules import required_score

        return required_score(self)


class Answer(Model):
    __tablename__ = "answer"
    id = Column(Integer, primary_key=True)
    attempt_id = Column(Integer, ForeignKey("exam_attempt.id"), nullable=False, index=True)
    attempt = relationship("ExamAttempt", backref="answers")
    question_id = Column(Integer, ForeignKey("question.id"), nullable=False)
    response = Column(String(16))
    flagged = Column(Boolean, nullable=False, default=False)
    correct = Column(Boolean)
    answered_at = Column(DateTime)

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

    @property
    def attempts_left(self):
        return max(self.paper.max_attempts - self.attempts_used, 0)

    @property
    def physician_name(self):
        return self.enrollment.physician.name

    @property
    def institution_name(self):
        return self.enrollment.institution.name

    @property
    def procedure_label(self):
        return self.enrollment.procedure_label

    @property
    def status_label(self):
        if self.exempted:
            return str(_l("Exempted"))
        if self.passed:
            return str(_l("Passed"))
        if self.attempts_used >= self.paper.max_attempts:
            return str(_l("Not passed"))
        return str(_l("Not yet passed"))


class PracticeMistake(Model):
    """错题本: a question the physician answered wrong while studying (我要学习)."""

    __tablename__ = "practice_mistake"
    id = Column(Integer, primary_key=True)
    physician_id = Column(Integer, ForeignKey("physician.id"), nullable=False, index=True)
    question_id = Column(Integer, ForeignKey("question.id"), nullable=False)
    question = relationship("Question")
    times = Column(Integer, nullable=False, default=1)
    last_at = Column(DateTime, default=now, nullable=False)

    __table_args__ = (UniqueConstraint("physician_id", "question_id", name="uq_mistake"),)

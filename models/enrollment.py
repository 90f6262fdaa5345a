"""Enrollments (one per physician per cycle), their submissions, reviews and exemptions.

States are listed here with the labels users know; which transitions are allowed, and the only
code that changes ``state``, live in the enrollment state machine.
"""
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import mapped_column, relationship

from models.base import ChoiceSet, now

ENROLLMENT_STATE = ChoiceSet(
    ("pending_enrollment", _l("Awaiting enrollment")),
    ("rejected_by_institution", _l("Awaiting enrollment (rejected by institution)")),
    ("rejected_by_administration", _l("Awaiting enrollment (rejected by administration)")),
    ("pending_institution_review", _l("Awaiting medical institution review")),
    (
        "returned_by_assessment",
        _l("Awaiting medical institution review (rejected by assessment institution)"),
    ),
    ("pending_assessment_review", _l("Awaiting assessment institution re-review")),
    ("awaiting_exam", _l("Awaiting assessment")),
    ("awaiting_makeup_confirmation", _l("Awaiting make-up confirmation")),
    ("awaiting_makeup", _l("Awaiting make-up exam")),
    ("passed", _l("Passed")),
    ("failed", _l("Failed")),
    ("cancelled", _l("Enrollment cancelled")),
)
PROCEDURE = ChoiceSet(("general", _l("General procedure")), ("simple", _l("Simple procedure")))
RATING = ChoiceSet(("pass", _l("Qualified")), ("fail", _l("Unqualified")))
REVIEW_STAGE = ChoiceSet(
    ("institution", _l("Medical institution review")),
    ("assessment", _l("Assessment institution re-review")),
    ("administration", _l("Administration")),
)
DECISION = ChoiceSet(("approve", _l("Approve")), ("reject", _l("Reject")))
EXEMPTION_STATE = ChoiceSet(
    ("pending", _l("Awaiting review")),
    ("pending_assessment", _l("Awaiting assessment institution re-review")),
    ("approved", _l("Exemption approved")),
    ("rejected", _l("Rejected")),
)


class Enrollment(Model):
    __tablename__ = "enrollment"
    id = Column(Integer, primary_key=True)
    cycle_id = Column(Integer, ForeignKey("cycle.id"), nullable=False)
    cycle = relationship("Cycle")
    physician_id = Column(Integer, ForeignKey("physician.id"), nullable=False)
    physician = relationship("Physician", backref="enrollments")
    # The institution that included the physician; reviews and scoping follow it.
    institution_id = mapped_column(Integer, ForeignKey("institution.id"), nullable=False,
                                   active_history=True)  # the tallies subtract from the old one
    institution = relationship("Institution")
    state = Column(String(32), nullable=False, default=ENROLLMENT_STATE.PENDING_ENROLLMENT)
    # The physician's department, copied for 报名进度's 科室 filter at province scale. The
    # database keeps it (triggers of migration f1a9d3c7b2e8): written by no code, read by the
    # filter only.
    department_id = Column(Integer)
    procedure = Column(String(16))
    simple_condition = Column(String(16))
    statement = Column(Text)
    # Saved step data of 我要报名 (steps 1-5), kept as entered so that a step can be resumed.
    form_data = Column(JSON, nullable=False, default=dict)
    completed_steps = Column(Integer, nullable=False, default=0)
    work_rating = Column(String(8))
    ethics_rating = Column(String(8))
    result = Column(String(8))
    reject_reason = Column(Text)
    submitted_at = Column(DateTime)
    included_at = Column(DateTime, default=now, nullable=False)
    updated_at = Column(DateTime, default=now, onupdate=now, nullable=False)

    __table_args__ = (
        UniqueConstraint("cycle_id", "physician_id", name="uq_enrollment_cycle_physician"),
        # procedure and cycle after the two: the review lists count from the index alone
        Index("ix_enrollment_institution_state", "institution_id", "state", "procedure",
              "cycle_id"),
        # then the review lists' order: a page of the re-review list read in its order
        Index("ix_enrollment_cycle_state", "cycle_id", "state", "procedure", "submitted_at",
              "id"),
        Index("ix_enrollment_physician", "physician_id"),
        Index("ix_enrollment_department_state", "department_id", "state"),
    )

    @property
    def state_label(self):
        return ENROLLMENT_STATE.label(self.state)

    @property
    def procedure_label(self):
        return PROCEDURE.label(self.procedure)


class Submission(Model):
    """A frozen copy of what the physician submitted, so reviewers see what changed since."""

    __tablename__ = "submission"
    id = Column(Integer, primary_key=True)
    enrollment_id = Column(Integer, ForeignKey("enrollment.id"), nullable=False, index=True)
    enrollment = relationship("Enrollment", backref="submissions")
    version = Column(Integer, nullable=False)
    data = Column(JSON, nullable=False)
    # The files it showed, by kind ({"photo": [id], "licence": [ids], "proof": [ids]}), so that
    # 修改对比 can show a changed picture; None for submissions made before it was kept.
    images = Column(JSON)
    submitted_at = Column(DateTime, default=now, nullable=False)


class ReviewRecord(Model):
    __tablename__ = "review_record"
    id = Column(Integer, primary_key=True)
    enrollment_id = Column(Integer, ForeignKey("enrollment.id"), nullable=False, index=True)
    enrollment = relationship("Enrollment", backref="reviews")
    stage = Column(String(16), nullable=False)
    decision = Column(String(8), nullable=False)
    work_rating = Column(String(8))
    work_comment = Column(Text)
    ethics_rating = Column(String(8))
    ethics_comment = Column(Text)
    reason = Column(Text)
    reviewer_id = Column(Integer, ForeignKey("ab_user.id"))
    created_at = Column(DateTime, default=now, nullable=False)


class OtherOpinion(Model):
    """新增意见: the opinion of another institution where the physician also practises."""

    __tablename__ = "other_opinion"
    id = Column(Integer, primary_key=True)
    enrollment_id = Column(Integer, ForeignKey("enrollment.id"), nullable=False, index=True)
    enrollment = relationship("Enrollment", backref="other_opinions")
    institution_name = Column(String(128), nullable=False)
    opinion = Column(Text, nullable=False)
    created_at = Column(DateTime, default=now, nullable=False)


class Exemption(Model):
    __tablename__ = "exemption"
    id = Column(Integer, primary_key=True)
    enrollment_id = Column(Integer, ForeignKey("enrollment.id"), nullable=False, index=True)
    enrollment = relationship("Enrollment", backref="exemptions")
    condition = Column(String(64), nullable=False)
    proof_id = Column(Integer, ForeignKey("stored_file.id"))
    proof = relationship("StoredFile")
    state = mapped_column(String(24), nullable=False, default=EXEMPTION_STATE.PENDING,
                          active_history=True)  # the exemption tally subtracts from the old one
    waived_paper = Column(String(16))
    reject_reason = Column(Text)
    created_at = Column(DateTime, default=now, nullable=False)
    decided_at = Column(DateTime)

    @property
    def state_label(self):
        return EXEMPTION_STATE.label(self.state)


class EnrollmentTally(Model):
    """How many enrollments of a cycle are in each state, per institution.

    Kept by the state machine as states change, so that home pages and progress summaries read
    at most (institutions × states) rows instead of counting 330,000 enrollments."""

    __tablename__ = "enrollment_tally"
    cycle_id = Column(Integer, ForeignKey("cycle.id"), primary_key=True)
    institution_id = Column(Integer, ForeignKey("institution.id"), primary_key=True)
    state = Column(String(32), primary_key=True)
    count = Column(Integer, nullable=False, default=0)

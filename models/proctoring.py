"""Proctoring snapshots taken during an exam and compared with the registered photo (监考)."""
from flask_appbuilder import Model
from sqlalchemy import Boolean, Column, DateTime, Float, ForeignKey, Index, Integer, Text
from sqlalchemy.orm import relationship

from models.base import now


class Snapshot(Model):
    __tablename__ = "snapshot"
    id = Column(Integer, primary_key=True)
    attempt_id = Column(Integer, ForeignKey("exam_attempt.id"), nullable=False, index=True)
    attempt = relationship("ExamAttempt", backref="snapshots")
    file_id = Column(Integer, ForeignKey("stored_file.id"), nullable=False)
    file = relationship("StoredFile")
    taken_at = Column(DateTime, default=now, nullable=False)
    # 0..1, filled in by the face-check job; None until it has run.
    similarity = Column(Float)
    suspected = Column(Boolean, nullable=False, default=False)
    marked_by_id = Column(Integer, ForeignKey("ab_user.id"))
    marked_at = Column(DateTime)
    note = Column(Text)

    __table_args__ = (Index("ix_snapshot_similarity", "similarity"),)

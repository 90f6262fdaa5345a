"""User accounts linked to an administration, an institution or a physician; the SMS outbox."""
from flask_appbuilder.security.sqla.models import User
from flask_appbuilder import Model
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import relationship

from models.base import now


class AppUser(User):
    """FAB's user extended with the link to the record the account acts for."""

    __tablename__ = "ab_user"
    administration_id = Column(Integer, ForeignKey("administration.id"), index=True)
    administration = relationship("Administration")
    institution_id = Column(Integer, ForeignKey("institution.id"), index=True)
    institution = relationship("Institution", foreign_keys=[institution_id])
    physician_id = Column(Integer, ForeignKey("physician.id"), index=True)
    physician = relationship("Physician", foreign_keys=[physician_id])
    must_change_password = Column(Boolean, nullable=False, default=True)
    mobile = Column(String(16))
    mobile_bound_at = Column(DateTime)
    locked_until = Column(DateTime)


class SmsMessage(Model):
    """A text message sent, or in the default configuration written to the outbox."""

    __tablename__ = "sms_message"
    id = Column(Integer, primary_key=True)
    mobile = Column(String(16), nullable=False, index=True)
    purpose = Column(String(16), nullable=False)
    code = Column(String(8), nullable=False)
    body = Column(String(255), nullable=False)
    user_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    created_at = Column(DateTime, default=now, nullable=False)
    expires_at = Column(DateTime, nullable=False)
    used_at = Column(DateTime)
    # Entries checked against this code, right or wrong (security.sms: a few, then it is dead).
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    # Killed before use: a newer code was sent for the same purpose, or too many wrong entries.
    voided_at = Column(DateTime)

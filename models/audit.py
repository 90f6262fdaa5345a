"""The audit log: every state change and roster action, with who, when, from, to and why."""
from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, String, Text

from models.base import now


class AuditLog(Model):
    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, default=now, nullable=False)
    user_id = Column(Integer, ForeignKey("ab_user.id"))
    username = Column(String(128))
    entity = Column(String(32), nullable=False)
    entity_id = Column(Integer, nullable=False)
    action = Column(String(32), nullable=False)
    from_state = Column(String(32))
    to_state = Column(String(32))
    reason = Column(Text)
    # Where the record belongs, so the administration above can read it (scoping).
    institution_id = Column(Integer, ForeignKey("institution.id"))
    admin_path = Column(String(255))

    __table_args__ = (
        Index("ix_audit_entity", "entity", "entity_id"),
        Index("ix_audit_admin_path", "admin_path"),
        Index("ix_audit_institution", "institution_id"),
    )


def _acting_user(user):
    from flask import g, has_request_context

    if user is None and has_request_context():
        user = getattr(g, "user", None)
        if user is not None and not user.is_authenticated:
            user = None
    return user


def record_many(rows, user=None):
    """Audit many changes in one multi-row insert (batch actions on hundreds of records).

    ``rows``: dicts with entity, entity_id, action and optionally institution (or, for a
    record of an administration such as the question bank, admin_path) and the rest."""
    from sqlalchemy import insert

    from app.extensions import db

    user = _acting_user(user)
    values = [{
        "at": now(), "user_id": user.id if user else None,
        "username": user.username if user else "system",
        "entity": row["entity"], "entity_id": row["entity_id"], "action": row["action"],
        "from_state": row.get("from_state"), "to_state": row.get("to_state"),
        "reason": row.get("reason"),
        "institution_id": row["institution"].id if row.get("institution") else None,
        "admin_path": row["institution"].admin_path if row.get("institution")
        else row.get("admin_path"),
    } for row in rows]
    if values:
        db.session.execute(insert(AuditLog), values)


def record(entity, entity_id, action, *, institution=None, admin_path=None, from_state=None,
           to_state=None, reason=None, user=None):
    """Add an audit row to the session (committed with the change it describes)."""
    from app.extensions import db

    user = _acting_user(user)
    row = AuditLog(
        user_id=user.id if user is not None else None,
        username=user.username if user is not None else "system",
        entity=entity,
        entity_id=entity_id,
        action=action,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        institution_id=institution.id if institution is not None else None,
        admin_path=institution.admin_path if institution is not None else admin_path,
    )
    db.session.add(row)
    return row

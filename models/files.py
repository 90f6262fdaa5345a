"""Uploaded files: the record of a file stored under UPLOAD_DIR with a random name."""
from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String

from models.base import now


class StoredFile(Model):
    __tablename__ = "stored_file"
    id = Column(Integer, primary_key=True)
    # Random name relative to UPLOAD_DIR; the user's file name is kept only for display.
    storage_name = Column(String(64), nullable=False, unique=True)
    original_name = Column(String(255), nullable=False)
    content_type = Column(String(128), nullable=False)
    size = Column(Integer, nullable=False)
    sha256 = Column(String(64), nullable=False)
    purpose = Column(String(32), nullable=False)
    institution_id = Column(Integer, ForeignKey("institution.id"), index=True)
    physician_id = Column(Integer, ForeignKey("physician.id"), index=True)
    uploaded_by_id = Column(Integer, ForeignKey("ab_user.id"))
    created_at = Column(DateTime, default=now, nullable=False)

    def __str__(self):
        return self.original_name

"""The jurisdiction tree: province, city and district health administrations.

Each node stores its materialised ``path`` ("/1/4/17/") so that "this node and everything under
it" is one indexed prefix comparison, which is how scoping asks the question.
"""
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, ForeignKey, Index, Integer, String
from sqlalchemy.orm import relationship

from models.base import ChoiceSet

ADMIN_LEVEL = ChoiceSet(
    ("province", _l("Province")),
    ("city", _l("City")),
    ("district", _l("District")),
)


class Administration(Model):
    __tablename__ = "administration"
    id = Column(Integer, primary_key=True)
    name = Column(String(128), nullable=False)
    level = Column(String(16), nullable=False)
    region_code = Column(String(12))
    parent_id = Column(Integer, ForeignKey("administration.id"))
    parent = relationship("Administration", remote_side=[id], backref="children")
    path = Column(String(255), nullable=False, default="/")
    contact = Column(String(64))
    phone = Column(String(32))

    __table_args__ = (Index("ix_administration_path", "path"),)

    def assign_path(self):
        """Set ``path`` from the parent's; call after the row has an id."""
        base = self.parent.path if self.parent is not None else "/"
        self.path = f"{base}{self.id}/"

    @property
    def level_label(self):
        return ADMIN_LEVEL.label(self.level)

    def __str__(self):
        return self.name

"""The jurisdiction tree: province, city and district health administrations.

Each node stores its materialised ``path`` ("/1/4/17/") so that "this node and everything under
it" is one indexed prefix comparison, which is how scoping asks the question.
"""
from flask_appbuilder import Model
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, ForeignKey, Index, Integer, String
from sqlalchemy.orm import relationship

from models.base import ChoiceSet, Refused

ADMIN_LEVEL = ChoiceSet(
    ("province", _l("Province")),
    ("city", _l("City")),
    ("district", _l("District")),
)
# The level each level hangs under: the tree is province → cities → districts.
PARENT_LEVEL = {"province": None, "city": "province", "district": "city"}
MAX_ACCOUNT = 32


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

    def check(self):
        """Before an administration is saved: a name, a level, the superior administration that
        level hangs under, and (when new) an account nobody has."""
        from sqlalchemy import inspect

        self.name = (self.name or "").strip()
        if not self.name:
            raise Refused(_("Please enter the name"))
        if self.level not in PARENT_LEVEL:
            raise Refused(_("Please choose the level"))
        expected = PARENT_LEVEL[self.level]
        found = self.parent.level if self.parent is not None else None
        if expected is None and found is not None:
            raise Refused(_("A provincial administration has no superior administration"))
        if expected is not None and found != expected:
            raise Refused(_("The superior administration of a %(level)s administration must be "
                            "a %(parent)s administration", level=ADMIN_LEVEL.label(self.level),
                            parent=ADMIN_LEVEL.label(expected)))
        if self.id is not None:
            state = inspect(self)
            if state.attrs.parent.history.has_changes() or state.attrs.level.history.has_changes():
                # Its institutions, accounts and the nodes below hang off its place in the tree.
                raise Refused(_("The level and the superior administration of an existing "
                                "administration cannot be changed"))
            return
        check_new_account(self.account)

    def open_account(self, user=None):
        """A new administration's login: its account, the initial password, forced change."""
        from models.audit import record as audit
        from security import accounts, roles

        role = {"province": roles.PROVINCE, "city": roles.CITY,
                "district": roles.DISTRICT}[self.level]
        accounts.create_account(self.account, [role], name=self.name, administration=self)
        audit("administration", self.id, "create", admin_path=self.path, user=user)

    @property
    def account(self):
        """The administration's login (the first account made for it)."""
        pending = getattr(self, "_account", None)
        if pending is not None or self.id is None:
            return pending
        from app.extensions import db
        from models.account import AppUser

        return db.session.query(AppUser.username).filter(
            AppUser.administration_id == self.id).order_by(AppUser.id).limit(1).scalar()

    @account.setter
    def account(self, value):
        self._account = (value or "").strip()

    @property
    def level_label(self):
        return ADMIN_LEVEL.label(self.level)

    def __str__(self):
        return self.name


def check_new_account(account, taken=()):
    """An account for a new administration or institution: given, short, no spaces, and not
    used by any login (nor by another row of the same import, ``taken``)."""
    from app.extensions import db
    from models.account import AppUser
    from models.institution import Institution

    account = (account or "").strip()
    if not account:
        raise Refused(_("Please enter the account"))
    if len(account) > MAX_ACCOUNT or any(c.isspace() for c in account):
        raise Refused(_("The account must be at most %(count)s characters without spaces",
                        count=MAX_ACCOUNT))
    with db.session.no_autoflush:  # the new record is not complete yet
        used = account in taken or db.session.query(AppUser.id).filter_by(
            username=account).first() is not None or db.session.query(
            Institution.id).filter_by(account=account).first() is not None
    if used:
        raise Refused(_('The account "%(account)s" is already in use', account=account))
    return account

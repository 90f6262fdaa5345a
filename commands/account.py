"""重置密码 by the level above: the accounts linked to the selected records go back to the
initial password with a forced change (a physician's mobile is unbound too)."""
from flask_babel import gettext as _

from app.extensions import db
from commands import Refused, command, user_of
from models.account import AppUser
from models.audit import record as audit
from security import accounts, scope


@command
def reset_passwords(actor, model, ids, account_link, place):
    """``account_link``: the AppUser column pointing at ``model``; ``place(item)`` gives the
    audit row's institution or admin_path."""
    items = scope.require_all(actor, scope.READ, model, ids)
    if not all(scope.condition_holds(actor, scope.MANAGE, model, item.id) for item in items):
        raise Refused(_("Only accounts of the levels below can be reset; change your own "
                        "password under [Account settings]"))
    link = getattr(AppUser, account_link)
    for user in db.session.query(AppUser).filter(link.in_([item.id for item in items])):
        accounts.reset_password(user)
    user = user_of(actor)
    for item in items:
        audit(model.__tablename__, item.id, "reset_password", user=user, **place(item))
    return items

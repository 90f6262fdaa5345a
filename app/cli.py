"""Command-line tasks: `flask dingkao init | demo | worker`."""
import click
from flask import current_app
from flask.cli import AppGroup

dingkao = AppGroup("dingkao", help="定考: set-up, demo data and workers.")


@dingkao.command("init")
def init_command():
    """Apply migrations and create the roles."""
    from flask_migrate import upgrade

    upgrade()
    ensure_roles()
    click.echo("database ready")


def ensure_roles():
    """Create the role rows the builtin role table names (permissions come from config)."""
    sm = current_app.appbuilder.sm
    for name in list(current_app.config["FAB_ROLES"]) + [sm.auth_role_public]:
        if sm.find_role(name) is None:
            sm.add_role(name)


@dingkao.command("demo")
@click.option("--physicians", default=0, type=int, help="Also generate N physicians in bulk.")
@click.option("--institutions", default=0, type=int, help="Institutions for the bulk physicians.")
def demo_command(physicians, institutions):
    """Fill a demo province (idempotent): administrations, institutions, accounts, physicians."""
    from app import demo

    ensure_roles()
    demo.seed_demo_province()
    demo.seed_demo_exams()
    if physicians:
        demo.generate_bulk(physicians, institutions or max(1, physicians // 110))
    click.echo("demo data ready")


@dingkao.command("retally")
def retally_command():
    """Recount the current cycle's per-institution state tally from the enrollments."""
    from app.extensions import db
    from models import Cycle
    from models.workflow import rebuild_tally

    for cycle in db.session.query(Cycle).filter(Cycle.is_current.is_(True)):
        rebuild_tally(cycle.id)
    db.session.commit()
    click.echo("tally rebuilt")


@dingkao.command("sweep-exams")
def sweep_exams_command():
    """Hand in every exam attempt whose deadline has passed (run it every minute, e.g. from a
    timer; the worker also does it for each attempt at its deadline)."""
    from commands import exam

    total = 0
    while True:
        done = exam.expire_overdue()
        total += done
        if done < 500:
            break
    click.echo(f"{total} attempts handed in")


@dingkao.command("worker")
def worker_command():
    """Run an RQ worker on the configured (or embedded) Redis."""
    from rq import Worker

    from app.jobs import connection

    # The scheduler runs the hand-in jobs queued for each attempt's deadline.
    Worker(["default"], connection=connection()).work(with_scheduler=True)


def register(app):
    app.cli.add_command(dingkao)


@dingkao.command("facecheck-worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def facecheck_worker_command(burst):
    """Run an RQ worker for the snapshots' face checks. It runs the jobs in its own process
    (no fork per job), so the face models are loaded once per worker; run one per core."""
    from rq import SimpleWorker

    from app.jobs import FACE_CHECK_QUEUE, connection, preload_face_models

    preload_face_models()
    # No scheduler: its retries are immediate (app.jobs.queue_face_check), and a scheduler
    # would be a second process that outlives a worker stopped with SIGTERM.
    SimpleWorker([FACE_CHECK_QUEUE], connection=connection()).work(burst=burst,
                                                                  with_scheduler=False)


@dingkao.command("sweep-snapshots")
@click.option("--older-than", default=None, type=int,
              help="Seconds since the snapshot was taken (default SNAPSHOT_SWEEP_AFTER_SECONDS).")
def sweep_snapshots_command(older_than):
    """Queue again the face check of every snapshot without a result (a worker killed mid-job,
    a Redis that was down). Run it every few minutes, e.g. from a timer."""
    from app.jobs import sweep_snapshots

    click.echo(f"{sweep_snapshots(older_than)} snapshots queued")


@dingkao.command("purge-snapshots")
def purge_snapshots_command():
    """Delete the snapshots of cycles that ended more than SNAPSHOT_RETENTION_DAYS ago (run it
    daily); every deletion is written to the audit log."""
    from commands import proctoring

    total = 0
    while True:
        done = proctoring.purge_snapshots()
        total += done
        if done < 2000:
            break
    click.echo(f"{total} snapshots deleted")

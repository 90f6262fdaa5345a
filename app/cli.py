"""Command-line tasks: `flask dingkao init | demo | worker`."""
import click
from flask import current_app
from flask.cli import AppGroup

dingkao = AppGroup("dingkao", help="定考: set-up, demo data and workers.")


@dingkao.command("init")
def init_command():
    """Apply migrations and create the roles."""
    from flask_migrate import upgrade

    from app.extensions import analyze

    upgrade()
    ensure_roles()
    analyze()
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
    from app.extensions import analyze

    ensure_roles()
    demo.seed_demo_province()
    demo.seed_demo_exams()
    if physicians:
        demo.generate_bulk(physicians, institutions or max(1, physicians // 110))
    analyze()
    click.echo("demo data ready")


@dingkao.command("retally")
def retally_command():
    """Recount the current cycle's per-institution state tally from the enrollments."""
    from app.extensions import analyze, db
    from models import Cycle
    from models.workflow import rebuild_tally

    for cycle in db.session.query(Cycle).filter(Cycle.is_current.is_(True)):
        rebuild_tally(cycle.id)
    db.session.commit()
    analyze()
    click.echo("tally rebuilt")


@dingkao.command("sweep-exams")
def sweep_exams_command():
    """Hand in every exam attempt whose deadline has passed (run it every minute, e.g. from a
    timer; the worker also does it for each attempt at its deadline), then move on whoever a
    closed paper leaves unpassed (待确认补考, or 不合格 after a make-up)."""
    from commands import exam

    total = 0
    while True:
        done = exam.expire_overdue()
        total += done
        if done < 500:
            break
    moved = exam.close_papers()
    click.echo(f"{total} attempts handed in; {moved} physicians moved on after a paper closed")


@dingkao.command("worker")
def worker_command():
    """Run an RQ worker on the configured (or embedded) Redis."""
    from rq import Worker

    from app.jobs import connection

    # The scheduler runs the hand-in jobs queued for each attempt's deadline.
    Worker(["default"], connection=connection()).work(with_scheduler=True)


def register(app):
    app.cli.add_command(dingkao)

"""Command-line tasks: `flask dingkao init | create-admin | demo | worker | …`."""
import click
from flask import current_app
from flask.cli import AppGroup

dingkao = AppGroup("dingkao", help="定考: set-up, demo data and workers.")


@dingkao.command("init")
def init_command():
    """Apply migrations, create the roles and load the 诊疗科目 catalogue: the reference data a
    real province needs, and nothing else (no accounts, no administrations, no cycle)."""
    from flask_migrate import upgrade

    from app.extensions import analyze, db
    from models import Subject
    from models.catalogue import seed_catalogue

    upgrade()
    ensure_roles()
    seed_catalogue(db.session)
    db.session.commit()
    analyze()
    subjects = db.session.query(Subject).count()
    click.echo(f"database ready: {len(current_app.config['FAB_ROLES'])} roles, "
               f"{subjects} subjects (诊疗科目)")


@dingkao.command("create-admin")
@click.option("--username", default="admin", show_default=True)
@click.option("--name", default="系统管理员", show_default=True)
@click.option("--password", envvar="DINGKAO_ADMIN_PASSWORD", default=None,
              help="The first password (or DINGKAO_ADMIN_PASSWORD); without one a random one "
                   "is made and printed once. It must be changed at the first login.")
def create_admin_command(username, name, password):
    """Create the first system administrator (系统管理员), who must change the password at the
    first login."""
    import secrets

    from app.extensions import db
    from models import AppUser
    from security import accounts, roles

    ensure_roles()
    if db.session.query(AppUser.id).filter_by(username=username).first():
        raise click.ClickException(f'account "{username}" already exists')
    shown = password is None
    if not shown:
        from security.passwords import complexity_error

        problem = complexity_error(password)
        if problem:
            raise click.ClickException(problem)
    password = password or secrets.token_urlsafe(12)
    accounts.create_account(username, [roles.SYSADMIN], name=name, password=password,
                            must_change=True)
    db.session.commit()
    click.echo(f'administrator "{username}" created; it must change the password at the '
               "first login")
    if shown:
        click.echo(f"first password (shown once): {password}")


def ensure_roles():
    """Create the role rows the builtin role table names (permissions come from config)."""
    sm = current_app.appbuilder.sm
    for name in list(current_app.config["FAB_ROLES"]) + [sm.auth_role_public]:
        if sm.find_role(name) is None:
            sm.add_role(name)


@dingkao.command("demo")
@click.option("--physicians", default=0, type=int, help="Also generate N physicians in bulk.")
@click.option("--institutions", default=0, type=int, help="Institutions for the bulk physicians.")
@click.option("--enrolled", default=0.0, type=click.FloatRange(0, 1),
              help="Include this share (0–1) of the physicians in the current cycle, in a "
                   "spread of states, as in the middle of a cycle (as the benchmarks do).")
@click.option("--yes-demo-accounts", is_flag=True,
              help="Confirm: the demo accounts (admin included) share a published password.")
def demo_command(physicians, institutions, enrolled, yes_demo_accounts):
    """Fill a demo province (idempotent): administrations, institutions, accounts, physicians.
    Never on a real province's database."""
    from app import demo
    from app.extensions import analyze

    problem = demo.refusal(confirmed=yes_demo_accounts)
    if problem:
        raise click.ClickException(problem)
    ensure_roles()
    demo.seed_demo_province()
    demo.seed_demo_exams()
    if physicians:
        demo.generate_bulk(physicians, institutions or max(1, physicians // 110))
    if enrolled:
        count = enroll_share(enrolled)
        click.echo(f"{count} physicians included in the current cycle")
    analyze()
    click.echo("demo data ready")


# A mid-cycle spread of states for enroll_share, in this order by physician id.
ENROLLED_STATES = ("pending_enrollment", "pending_institution_review",
                   "pending_assessment_review", "awaiting_exam", "passed", "failed",
                   "awaiting_makeup_confirmation", "cancelled")


def enroll_share(fraction, keep_out=()):
    """Include ``fraction`` of the physicians not yet in the current cycle (by id: those whose
    id % 100 falls below it), in a spread of states, in one INSERT … SELECT; then recount the
    cycle's tally. A demo and benchmark load behind the state machine's back, never for a real
    province. Returns how many were included."""
    import datetime

    from sqlalchemy import bindparam, text

    from app.extensions import db
    from models import Cycle
    from models.workflow import rebuild_tally

    cycle = Cycle.current()
    if cycle is None:
        raise click.ClickException("no current cycle")
    states = " ".join(f"WHEN {k} THEN '{state}'" for k, state in enumerate(ENROLLED_STATES))
    empty_json = "CAST('{}' AS JSON)" if db.engine.dialect.name == "postgresql" else "'{}'"
    statement = text(f"""
        INSERT INTO enrollment (cycle_id, physician_id, institution_id, state, procedure,
                                form_data, completed_steps, included_at, updated_at)
        SELECT :cycle, p.id, p.institution_id, CASE p.id % {len(ENROLLED_STATES)} {states} END,
               CASE WHEN p.id % 3 = 0 THEN 'general' ELSE 'simple' END,
               {empty_json}, 0, :now, :now
        FROM physician p
        WHERE p.institution_id IS NOT NULL AND p.id % 100 < :percent
          AND p.id NOT IN :keep_out
          AND NOT EXISTS (SELECT 1 FROM enrollment e
                          WHERE e.cycle_id = :cycle AND e.physician_id = p.id)
    """).bindparams(bindparam("keep_out", expanding=True))
    result = db.session.execute(statement, {
        "cycle": cycle.id, "now": datetime.datetime.now(),
        "percent": round(fraction * 100), "keep_out": list(keep_out) or [-1]})
    rebuild_tally(cycle.id)
    db.session.commit()
    return result.rowcount


@dingkao.command("retally")
def retally_command():
    """Recount every tally from the records: each cycle's per-institution enrollment states,
    the physicians on each institution's roster, the approved exemptions (repair, and after
    bulk loads)."""
    from app.extensions import analyze, db
    from models.tally import rebuild_all

    rebuild_all(db.session)
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

"""What the region roll-up costs the writers: exam-day state changes in parallel, with and
without it, in one run (issue 14).

Every state change of an enrollment also updates, at commit, the roll-up rows of each
administration above its institution (district, city, province): every writer of the province
updates the same province rows. This bench measures what that costs when many change states at
once, as at the end of an exam window, when thousands of hand-ins move enrollments from 待测评
to 合格.

Data: migrations, roles, the demo province, ``generate_bulk(--physicians)``, every bulk
physician included in the current cycle as 待测评, tallies recounted. Then --threads threads,
each with its own session and connection, change distinct enrollments to 合格 the way a
command does (row lock, the state machine, commit), --per-round changes a round. Rounds
alternate between the roll-up kept (the code as it runs) and the roll-up switched off
(``models.tally.ROLLUP_ENABLED``, the switch the mutation tests use), so the machine's other
work falls on both alike. Reported: changes per second and the p95 of one change (lock to
commit) each way, and every error (a deadlock would show here). That the roll-up stays equal
to a recount under such writers is the tests' job (tests/test_overview.py).

PostgreSQL (row locks, the database of a real province): ``--database-url``, e.g. through
``scripts/with-postgres.sh`` (``TEST_DATABASE_URL``). SQLite serialises writers on its
database lock, so the roll-up's own rows cannot make it wait more than it already does.
Results: bench/results/rollup-<date>-<backend>.md and .json.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.roster import _percentile, institutions_for  # noqa: E402


def _app(url, workdir, threads):
    import logging

    from app import create_app

    return create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": workdir / "uploads",
        "SECRET_KEY": "bench-secret", "SERVER_NAME": None, "LOG_LEVEL": logging.WARNING,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": threads + 2, "max_overflow": 0},
    })


def _build(app, physicians, log):
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import demo
    from app.cli import ensure_roles
    from app.extensions import db
    from models import Cycle
    from models.tally import rebuild_all

    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        ensure_roles()
        demo.seed_demo_province()
        demo.generate_bulk(physicians, institutions_for(physicians))
        cycle = Cycle.current()
        db.session.execute(text(
            "INSERT INTO enrollment (cycle_id, physician_id, institution_id, state, form_data, "
            "completed_steps, included_at, updated_at) SELECT :cycle, p.id, p.institution_id, "
            "'awaiting_exam', CAST('{}' AS JSON), 5, :now, :now FROM physician p "
            "WHERE p.institution_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM enrollment e "
            "WHERE e.cycle_id = :cycle AND e.physician_id = p.id)"),
            {"cycle": cycle.id, "now": datetime.datetime.now()})
        rebuild_all(db.session)
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        ids = [row[0] for row in db.session.execute(text(
            "SELECT id FROM enrollment WHERE state = 'awaiting_exam' ORDER BY id"))]
        db.session.remove()
    log(f"data: {physicians:,} bulk physicians, {len(ids):,} enrollments awaiting the exam")
    return ids


def _round(app, ids, threads):
    """``ids`` changed to 合格 by ``threads`` threads; (seconds, per-change ms, errors)."""
    from app.extensions import db
    from commands import lock
    from models import Enrollment, workflow
    from models.enrollment import ENROLLMENT_STATE as S

    slices = [ids[k::threads] for k in range(threads)]
    durations, errors = [], []
    barrier = threading.Barrier(threads + 1)

    def work(chunk):
        with app.app_context():
            barrier.wait()
            for enrollment_id in chunk:
                started = time.perf_counter()
                try:
                    enrollment = db.session.get(Enrollment, enrollment_id)
                    lock(enrollment)
                    workflow.force(enrollment, S.PASSED, reason="bench")
                    db.session.commit()
                except Exception as error:  # a deadlock or a failed change: counted, shown
                    db.session.rollback()
                    errors.append(f"{type(error).__name__}: {str(error)[:200]}")
                durations.append((time.perf_counter() - started) * 1000)
            db.session.remove()

    workers = [threading.Thread(target=work, args=(chunk,)) for chunk in slices]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, durations, errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--physicians", type=int, default=12000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--per-round", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=4, help="per way (with, without)")
    parser.add_argument("--output-dir", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    if not args.database_url:
        raise SystemExit("--database-url (or TEST_DATABASE_URL) is required")

    import models.tally as tally

    log = lambda message: print(message, flush=True)  # noqa: E731
    workdir = Path(tempfile.mkdtemp(prefix="dingkao-bench-rollup-"))
    app = _app(args.database_url, workdir, args.threads)
    ids = _build(app, args.physicians, log)
    needed = 2 * args.rounds * args.per_round
    if len(ids) < needed:
        raise SystemExit(f"{len(ids):,} enrollments, {needed:,} needed: more --physicians")
    results = {True: {"seconds": 0.0, "durations": [], "errors": [], "rates": []},
               False: {"seconds": 0.0, "durations": [], "errors": [], "rates": []}}
    offset = 0
    try:
        for number in range(2 * args.rounds):
            # with, without, without, with, …: neither way always goes first
            kept = (number % 4) in (0, 3)
            tally.ROLLUP_ENABLED = kept
            chunk = ids[offset:offset + args.per_round]
            offset += args.per_round
            seconds, durations, errors = _round(app, chunk, args.threads)
            entry = results[kept]
            entry["seconds"] += seconds
            entry["durations"] += durations
            entry["errors"] += errors
            entry["rates"].append(len(chunk) / seconds)
            log(f"round {number + 1}: roll-up {'kept' if kept else 'off '}  "
                f"{len(chunk) / seconds:7.1f} changes/s  p95 {_percentile(durations, 0.95):6.1f} ms"
                f"  errors {len(errors)}")
    finally:
        tally.ROLLUP_ENABLED = True
    with app.app_context():
        from app.extensions import db
        backend = db.engine.dialect.name
        server = db.session.execute(__import__("sqlalchemy").text(
            "SELECT version()" if backend == "postgresql" else "SELECT sqlite_version()")).scalar()
        db.session.remove()
    report = {
        "date": datetime.date.today().isoformat(), "backend": backend, "server": server,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "load_average": os.getloadavg()},
        "physicians": args.physicians, "threads": args.threads, "per_round": args.per_round,
        "rounds": args.rounds,
        "ways": {("kept" if way else "off"): {
            "changes": len(entry["durations"]),
            "changes_per_s": len(entry["durations"]) / entry["seconds"],
            "round_rates": [round(r, 1) for r in entry["rates"]],
            "median_ms": statistics.median(entry["durations"]),
            "p95_ms": _percentile(entry["durations"], 0.95),
            "errors": entry["errors"][:20], "error_count": len(entry["errors"]),
        } for way, entry in results.items()},
    }
    kept, off = report["ways"]["kept"], report["ways"]["off"]
    lines = [
        f"# The region roll-up under parallel state changes — {backend}", "",
        f"{report['machine']['platform']}, {report['machine']['cpus']} CPUs, Python "
        f"{report['machine']['python']}; {server}; load average at the end "
        f"{tuple(round(x, 1) for x in report['machine']['load_average'])}.", "",
        f"Demo province + {args.physicians:,} bulk physicians, every one 待测评; {args.threads} "
        f"threads change distinct enrollments to 合格 (row lock, state machine, commit), "
        f"{args.per_round:,} a round, {args.rounds} rounds each way, alternating.", "",
        "| roll-up | changes | changes/s | rounds (changes/s) | median ms | p95 ms | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("kept", "off"):
        way = report["ways"][name]
        lines.append(f"| {name} | {way['changes']:,} | {way['changes_per_s']:.1f} | "
                     f"{', '.join(f'{r:.0f}' for r in way['round_rates'])} | "
                     f"{way['median_ms']:.1f} | {way['p95_ms']:.1f} | {way['error_count']} |")
    lines += ["", f"Throughput with the roll-up kept: {kept['changes_per_s'] / off['changes_per_s']:.0%}"
              " of without it.", ""]
    for name in ("kept", "off"):
        for error in report["ways"][name]["errors"]:
            lines.append(f"- {name}: {error}")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"rollup-{report['date']}-{backend}"
    (out / f"{stem}.md").write_text(text)
    (out / f"{stem}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1,
                                                 default=str))


if __name__ == "__main__":
    main()

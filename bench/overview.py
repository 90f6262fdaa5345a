"""周期总进度 and administration home pages at 1,000 and 330,000 physicians (issue 14), and how
often an export reports its progress.

For each size a database is built the way the app builds it — migrations, roles, the demo
province, ``app.demo.generate_bulk`` — then every bulk physician is included in the current
cycle in a spread of states (one INSERT … SELECT, as ``bench/roster.py --enrolled``), a share
of the enrollments gets an approved exemption, and every tally is recounted (``flask dingkao
retally``). Building 330,000 physicians takes minutes, so each size's database is built once and
reused by later runs: a SQLite file in --data-dir (default /var/tmp/dingkao-bench), or, with
--database-url, a PostgreSQL database ``<name>_<size>`` created next to the one given. A reused
database is migrated to the head and its tallies recounted; --rebuild builds it afresh.

The worker freezes the start-up objects out of the garbage collector (``gc.freeze()``) before
timing, as a production worker does after loading the app. For each page the statements of one
request are recorded, and the query plan (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on
PostgreSQL) of the slowest ones goes into the results.

Timed through Flask's test client, in-process (routing, login session, scoping, SQL, template
rendering; no network): ``/overview/`` and ``/`` as the demo ``province``, ``city`` and
``district`` accounts. Before timing, each page's totals are checked against a recount.

Export granularity: the district's 报名进度 export is run in-process (the job body a worker runs)
and every progress report is recorded: the largest gap in rows (as % of the total, target ≤ 5 %)
and in seconds, and the rows per second.

Each size runs in its own child process (``--worker``) so neither warms the other, and the
parent times every page of every size in turns: batches of 5 requests, the sizes alternating,
--repeat (100) per page and size (bench/interleave.py), so the machine's other work falls on
both sizes alike and the ratio is the pages'. Results:
a table on stdout and bench/results/overview-<date>[-<backend>].md and .json (``--name`` for
another name). ``--before RUN.json``: the results of the earlier code on the same data, run just
before, are set beside this run's (p95 wall and CPU, the CPU ratio); ``--from-json`` writes the
report of a finished run again (e.g. with ``--before``) without running anything.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.interleave import Sizes, serve  # noqa: E402
from bench.roster import _enroll_bulk, _login, _percentile, _summary, institutions_for  # noqa

DEFAULT_SIZES = (1000, 330000)
TARGET_P95_MS = 150.0
TARGET_RATIO = 2.0
DEMO_PASSWORD = "Demo@2026"
ACCOUNTS = ("province", "city", "district")
PAGES = (("overview", "/overview/"), ("home", "/"))


def run_worker(args):
    size = args.worker
    workdir = Path(tempfile.mkdtemp(prefix=f"dingkao-bench-overview-{size}-"))
    if args.database_url:
        url = _postgres_database(args.database_url, size)
    else:
        data_dir = Path(args.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{data_dir / f'overview-{size}.db'}"
    try:
        result = _run_size(url, workdir, size, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    Path(args.result_file).write_text(json.dumps(result, ensure_ascii=False, indent=1,
                                                 default=str))


def _postgres_database(base_url, size):
    """The URL of the database ``<name>_<size>`` on the server of ``base_url``, created if it
    does not exist."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(base_url)
    name = f"{base.database}_{size}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s",
                                    (name,)).first():
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _built(db, size):
    """Whether the database already holds this size's data (a finished earlier build)."""
    from sqlalchemy import inspect, text

    if "bench_built" not in inspect(db.engine).get_table_names():
        return False
    return db.session.execute(text("SELECT size FROM bench_built")).scalar() == size


def _run_size(url, workdir, size, args):
    import gc
    import logging

    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from app import create_app, demo
    from app.cli import ensure_roles
    from app.extensions import db
    from models import Cycle, Enrollment, Exemption, Institution, Physician
    from models.tally import rebuild_all

    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": workdir / "uploads",
        "CAPTCHA_ENABLED": False, "AUTH_RATE_LIMIT": "1000000 per minute",
        "SECRET_KEY": "bench-secret", "SERVER_NAME": None, "LOG_LEVEL": logging.WARNING,
    })
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    log = lambda message: print(f"  [{size:,}] {message}", flush=True)  # noqa: E731
    timings = {}
    with app.app_context():
        reused = not args.rebuild and _built(db, size)
        if not reused:
            if backend == "postgresql":
                db.drop_all()
                with db.engine.begin() as conn:
                    conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
                    conn.exec_driver_sql("DROP TABLE IF EXISTS bench_built")
            else:
                db.session.remove()
                db.engine.dispose()
                path = Path(url.removeprefix("sqlite:///"))
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        started = time.perf_counter()
        upgrade()
        for name in ("alembic", "flask_appbuilder", "sqlalchemy"):
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger().setLevel(logging.WARNING)
        if not reused:
            ensure_roles()
            demo.seed_demo_province()
            demo.generate_bulk(size, institutions_for(size))
            timings["data_s"] = time.perf_counter() - started
            cycle_id = Cycle.current().id
            started = time.perf_counter()
            _enroll_bulk(db, cycle_id, 1.0, [0], backend)
            db.session.execute(text(
                "INSERT INTO exemption (enrollment_id, condition, state, created_at) "
                "SELECT id, 'bench', 'approved', :now FROM enrollment "
                "WHERE cycle_id = :cycle AND state = 'awaiting_exam' AND (id / 8) % 4 = 0"),
                {"now": datetime.datetime.now(), "cycle": cycle_id})
            db.session.execute(text("CREATE TABLE bench_built (size INTEGER)"))
            db.session.execute(text("INSERT INTO bench_built (size) VALUES (:size)"),
                               {"size": size})
            db.session.commit()
            timings["enroll_s"] = time.perf_counter() - started
        # Rows were written behind the hooks' backs: recount every tally, as
        # `flask dingkao retally` does (a reused database too: the code may have changed).
        started = time.perf_counter()
        rebuild_all(db.session)
        db.session.commit()
        timings["retally_s"] = time.perf_counter() - started
        if backend == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        else:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        counts = {
            "physicians": db.session.scalar(select(func.count(Physician.id))),
            "institutions": db.session.scalar(select(func.count(Institution.id))),
            "enrollments": db.session.scalar(select(func.count(Enrollment.id))),
            "approved_exemptions": db.session.scalar(select(func.count(Exemption.id)).where(
                Exemption.state == "approved")),
        }
        log(f"data ({'reused' if reused else 'built'}): {counts}; {timings}")
        db.session.remove()

    clients = {}
    for account in ACCOUNTS:
        clients[account] = _login(app.test_client(), account, DEMO_PASSWORD)
        _check(app, clients[account], account)
    # As a production worker after loading the app: start-up objects out of the collector.
    gc.collect()
    gc.freeze()
    # The parent times every page of every size in turns (bench/interleave.py).
    samples = serve({f"{page}_{account}": (clients[account], path)
                     for account in ACCOUNTS for page, path in PAGES})
    results, plans = {}, {}
    for account in ACCOUNTS:
        for page, path in PAGES:
            key = f"{page}_{account}"
            wall, cpu = samples[key]
            results[key] = _summary(wall)
            # CPU time of this process (SQLite runs in it): what the request costs, without
            # the waiting that other work on a loaded machine adds to the wall-clock time.
            results[key]["cpu"] = _summary(cpu)
            plans[key] = _plans(app, clients[account], path, backend)
            log(f"{page:9} {account:9} median {results[key]['median_ms']:7.1f} ms  p95 "
                f"{results[key]['p95_ms']:7.1f} ms  (CPU median {results[key]['cpu']['median_ms']:6.1f}"
                f" p95 {results[key]['cpu']['p95_ms']:6.1f}); {plans[key]['statements']} "
                f"statements, {plans[key]['sql_ms']:.1f} ms in SQL")
    export = _export_granularity(app, log) if args.export else None
    return {"size": size, "backend": backend, "counts": counts, "timings": timings,
            "reused": reused, "load_average": os.getloadavg(),
            "pages": results, "plans": plans, "export": export}


def _plans(app, client, path, backend, slowest=3):
    """One more request of ``path`` with every statement timed; the query plans of the
    ``slowest`` ones: {"statements", "sql_ms", "slowest": [{"ms", "sql", "plan"}]}."""
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        seen.append(((time.perf_counter() - conn.info.pop("bench_started")) * 1000,
                     statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    selects = sorted((s for s in seen if s[1].lstrip().upper().startswith(("SELECT", "WITH"))),
                     key=lambda s: -s[0])[:slowest]
    out = []
    prefix = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
    with app.app_context():
        with engine.connect() as conn:
            for ms, statement, parameters in selects:
                rows = conn.exec_driver_sql(prefix + statement, parameters).fetchall()
                plan = ([f"{row[0]}/{row[1]}: {row[-1]}" for row in rows]
                        if backend == "sqlite" else [row[0] for row in rows])
                out.append({"ms": round(ms, 2), "sql": " ".join(statement.split()),
                            "plan": plan})
    return {"statements": len(seen), "sql_ms": round(sum(s[0] for s in seen), 2),
            "slowest": out}


def _check(app, client, account):
    """The page's 合计 row equals a recount of the account's region from the enrollments."""
    from sqlalchemy import func

    from app.extensions import db
    from models import AppUser, Enrollment, Institution, Physician

    page = client.get("/overview/").get_data(as_text=True)
    total = re.search(r'id="overview-total">(.*?)</tr>', page, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<th[^>]*>(.*?)</th>",
                                                                      total, re.S)]
    with app.app_context():
        user = db.session.query(AppUser).filter_by(username=account).one()
        path = user.administration.path
        included = db.session.query(func.count(Enrollment.id)).join(Institution).filter(
            Institution.admin_path.like(f"{path}%"), Enrollment.state != "cancelled").scalar()
        roster = db.session.query(func.count(Physician.id)).join(
            Institution, Institution.id == Physician.institution_id).filter(
            Institution.admin_path.like(f"{path}%")).scalar()
        db.session.remove()
    assert cells[2] == str(included), (account, cells, included)
    assert cells[1] == str(roster), (account, cells, roster)


def _export_granularity(app, log):
    """Run the district's 报名进度 export as the worker does; record each progress report."""
    from app import jobs
    from app.extensions import db
    from commands import export as export_command
    from models import AppUser, ExportJob
    from models import reports
    from security import scope

    reported = []
    real = reports.write_workbook

    def recording(path, kind, rows, heading, total=0, progress=None):
        def record(done):
            reported.append((time.perf_counter(), done))
            progress(done)
        return real(path, kind, rows, heading, total, record)

    reports.write_workbook = recording
    try:
        with app.app_context():
            user = db.session.query(AppUser).filter_by(username="district").one()
            export_id = export_command.request_export(
                scope.actor_for(user), "enrollment_progress", {}, "", "zh")
            started = time.perf_counter()
            import tracemalloc

            tracemalloc.start()
            jobs._run_export(export_id)
            _current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            elapsed = time.perf_counter() - started
            export = db.session.get(ExportJob, export_id)
            total, status, size = export.rows_total, export.status, export.file.size
            db.session.remove()
    finally:
        reports.write_workbook = real
    points = [(started, 0)] + reported
    row_gaps = [b[1] - a[1] for a, b in zip(points, points[1:])]
    time_gaps = [b[0] - a[0] for a, b in zip(points, points[1:])]
    result = {"rows": total, "status": status, "seconds": round(elapsed, 2),
              "rows_per_s": round(total / elapsed) if elapsed else None,
              "reports": len(reported), "max_gap_rows": max(row_gaps),
              "max_gap_pct": round(100 * max(row_gaps) / total, 2) if total else None,
              "max_gap_s": round(max(time_gaps), 2), "file_bytes": size,
              "python_peak_mb": round(peak / 1e6, 1)}
    log(f"export (district): {result}")
    return result


# --- the parent: one child per size, then the table --------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-export", dest="export", action="store_false")
    parser.add_argument("--data-dir", default="/var/tmp/dingkao-bench",
                        help="where the SQLite databases are kept between runs")
    parser.add_argument("--rebuild", action="store_true", help="build the data afresh")
    parser.add_argument("--tag", default="", help="appended to the results' file name")
    parser.add_argument("--name", default=None,
                        help="the results' file name without suffix (instead of the default)")
    parser.add_argument("--before", default=None,
                        help="the .json of a run of the earlier code on the same data, just "
                             "before this one: the report sets the two side by side")
    parser.add_argument("--from-json", default=None,
                        help="no run: write the report of the runs in this .json (with --before)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)

    sizes = [int(s) for s in args.sizes.split(",")]
    runs = json.loads(Path(args.from_json).read_text()) if args.from_json else []
    if not args.from_json:
        files, commands = {}, {}
        for size in sizes:
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
                files[size] = handle.name
            command = [sys.executable, __file__, "--worker", str(size), "--result-file",
                       files[size]]
            if args.database_url:
                command += ["--database-url", args.database_url]
            if not args.export:
                command.append("--no-export")
            commands[size] = command + ["--data-dir", args.data_dir] + (
                ["--rebuild"] if args.rebuild else [])
        # One child per size, set up side by side; then every page timed in turns.
        children = Sizes(commands, env={**os.environ, "PYTHONPATH": str(ROOT)})
        children.run([f"{page}_{account}" for account in ACCOUNTS for page, _ in PAGES],
                     args.warmup, args.repeat)
        children.finish()
        for size in sizes:
            runs.append(json.loads(Path(files[size]).read_text()))
            os.unlink(files[size])
    before = json.loads(Path(args.before).read_text()) if args.before else None
    report = _report(runs, before)
    print(report)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name or f"overview-{datetime.date.today()}-{runs[0]['backend']}{args.tag}"
    (out / f"{stem}.md").write_text(report)
    (out / f"{stem}.json").write_text(json.dumps(runs, ensure_ascii=False, indent=1))


def _compared(runs, before):
    """Lines setting a run of the earlier code (``before``, same data, just before) beside
    this one: p95 and median, wall and CPU at each size, and the CPU ratio largest/smallest."""
    sizes = [r["size"] for r in runs]
    old = {r["size"]: r for r in before}
    new = {r["size"]: r for r in runs}

    def table(stat, intro):
        def cell(run, key):
            page = run["pages"][key]
            return f"{page[stat]:.1f} / {page['cpu'][stat]:.1f}"

        def ratio(group, key):
            first, last = group[sizes[0]], group[sizes[-1]]
            return last["pages"][key]["cpu"][stat] / first["pages"][key]["cpu"][stat]

        rows = [intro, "",
                "| page | " + " | ".join(f"before {n:,}" for n in sizes) + " | "
                + " | ".join(f"after {n:,}" for n in sizes)
                + " | CPU ratio before | CPU ratio after |",
                "|---|" + "---|" * (2 * len(sizes) + 2)]
        for key in runs[0]["pages"]:
            rows.append(f"| {key} | " + " | ".join(cell(old[n], key) for n in sizes) + " | "
                        + " | ".join(cell(new[n], key) for n in sizes)
                        + f" | {ratio(old, key):.2f} | {ratio(new, key):.2f} |")
        return rows

    lines = ["## Before (the code without the roll-up) and after, on the same data", ""]
    lines += table("p95_ms", "p95 ms, wall / CPU (this process), each size; the ratio is the "
                   "CPU p95 of the largest size over the smallest's.")
    lines += [""] + table("median_ms", "Median ms, wall / CPU (less swayed by the other "
                          "sessions' load than the p95); the ratio is the CPU "
                          "median of the largest size over the smallest's.")
    lines += ["", "Load average at the end of each size, before: " + "; ".join(
        f"{r['size']:,}: {tuple(round(x, 1) for x in r['load_average'])}" for r in before)
        + "; after: " + "; ".join(
        f"{r['size']:,}: {tuple(round(x, 1) for x in r['load_average'])}" for r in runs), ""]
    return lines


def _report(runs, before=None):
    small, large = runs[0], runs[-1]
    lines = [f"# 周期总进度 and administration home — {runs[0]['backend']}", "",
             f"{platform.platform()}, Python {platform.python_version()}, "
             f"{os.cpu_count()} CPUs; {datetime.datetime.now():%Y-%m-%d %H:%M}", "",
             "| page | " + " | ".join(f"{r['size']:,} median / p95 ms" for r in runs)
             + " | p95 ratio | target (p95 ≤ 150 ms, ratio ≤ 2) |",
             "|---|" + "---|" * len(runs) + "---|---|"]
    for key in small["pages"]:
        ratio = large["pages"][key]["p95_ms"] / small["pages"][key]["p95_ms"]
        ok = large["pages"][key]["p95_ms"] <= TARGET_P95_MS and ratio <= TARGET_RATIO
        lines.append(f"| {key} | " + " | ".join(
            f"{r['pages'][key]['median_ms']:.1f} / {r['pages'][key]['p95_ms']:.1f}"
            for r in runs) + f" | {ratio:.2f} | {'met' if ok else 'NOT met'} |")
    where = ("this process; SQLite runs in it" if runs[0]["backend"] == "sqlite"
             else "this process; PostgreSQL's own CPU is not in it")
    lines += ["", f"CPU time of the request ({where}), median / p95 ms:", "",
              "| page | " + " | ".join(f"{r['size']:,}" for r in runs) + " | p95 ratio |",
              "|---|" + "---|" * len(runs) + "---|"]
    for key in small["pages"]:
        ratio = large["pages"][key]["cpu"]["p95_ms"] / small["pages"][key]["cpu"]["p95_ms"]
        lines.append(f"| {key} | " + " | ".join(
            f"{r['pages'][key]['cpu']['median_ms']:.1f} / {r['pages'][key]['cpu']['p95_ms']:.1f}"
            for r in runs) + f" | {ratio:.2f} |")
    lines += ["", "Load average (1, 5, 15 min) at the end of each size: " + "; ".join(
        f"{r['size']:,}: {tuple(round(x, 1) for x in r['load_average'])}" for r in runs)]
    lines += ["", "Data: " + "; ".join(
        f"{r['size']:,}: {r['counts']} ({'reused' if r.get('reused') else 'built'}, "
        f"{ {k: round(v, 1) for k, v in r['timings'].items()} } s)" for r in runs), ""]
    lines += ["The start-up objects were frozen out of the garbage collector (gc.freeze()) before "
              "timing.", ""]
    if before:
        lines += _compared(runs, before)
    lines += ["## Query plans", "",
              f"The slowest statements of one request of each page at {large['size']:,} "
              "(EXPLAIN QUERY PLAN on SQLite, EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL):", ""]
    for key, plan in large.get("plans", {}).items():
        lines.append(f"### {key}: {plan['statements']} statements, {plan['sql_ms']} ms in SQL")
        lines.append("")
        for item in plan["slowest"][:2]:
            lines += [f"{item['ms']} ms: `{item['sql'][:600]}`", "", "```"] + \
                [str(p) for p in item["plan"]] + ["```", ""]
    for r in runs:
        if r.get("export"):
            lines.append(f"Export of the district's 报名进度 at {r['size']:,}: {r['export']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""周期总进度 and administration home pages at 1,000 and 330,000 physicians (issue 14), and how
often an export reports its progress.

For each size a fresh database (SQLite file in a temp dir, or the PostgreSQL database given by
--database-url, emptied first) is built the way the app builds it — migrations, roles, the demo
province, ``app.demo.generate_bulk`` — then every bulk physician is included in the current
cycle in a spread of states (one INSERT … SELECT, as ``bench/roster.py --enrolled``), 5 % of the
enrollments get an approved exemption, and the tally is rebuilt (``flask dingkao retally``).

Timed through Flask's test client, in-process (routing, login session, scoping, SQL, template
rendering; no network): ``/overview/`` and ``/`` as the demo ``province``, ``city`` and
``district`` accounts. Before timing, each page's totals are checked against a recount.

Export granularity: the district's 报名进度 export is run in-process (the job body a worker runs)
and every progress report is recorded: the largest gap in rows (as % of the total, target ≤ 5 %)
and in seconds, and the rows per second.

Each size runs in its own child process (``--worker``) so neither warms the other. Results:
a table on stdout and bench/results/overview-<date>[-<backend>].md and .json.
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
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    try:
        result = _run_size(url, workdir, size, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    Path(args.result_file).write_text(json.dumps(result, ensure_ascii=False, indent=1,
                                                 default=str))


def _run_size(url, workdir, size, args):
    import logging

    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from app import create_app, demo
    from app.cli import ensure_roles
    from app.extensions import db
    from models import Cycle, Enrollment, Institution, Physician
    from models.workflow import rebuild_tally

    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": workdir / "uploads",
        "CAPTCHA_ENABLED": False, "AUTH_RATE_LIMIT": "1000000 per minute",
        "SECRET_KEY": "bench-secret", "SERVER_NAME": None, "LOG_LEVEL": logging.WARNING,
    })
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    log = lambda message: print(f"  [{size:,}] {message}", flush=True)  # noqa: E731
    timings = {}
    with app.app_context():
        if backend == "postgresql":
            db.drop_all()
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        started = time.perf_counter()
        upgrade()
        for name in ("alembic", "flask_appbuilder", "sqlalchemy"):
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger().setLevel(logging.WARNING)
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
            "WHERE cycle_id = :cycle AND state = 'awaiting_exam' AND id % 4 = 0"),
            {"now": datetime.datetime.now(), "cycle": cycle_id})
        rebuild_tally(cycle_id)
        db.session.commit()
        if backend == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        timings["enroll_s"] = time.perf_counter() - started
        counts = {
            "physicians": db.session.scalar(select(func.count(Physician.id))),
            "institutions": db.session.scalar(select(func.count(Institution.id))),
            "enrollments": db.session.scalar(select(func.count(Enrollment.id))),
        }
        log(f"data: {counts} in {timings['data_s'] + timings['enroll_s']:.1f} s")
        db.session.remove()

    results = {}
    clients = {}
    for account in ACCOUNTS:
        clients[account] = _login(app.test_client(), account, DEMO_PASSWORD)
        _check(app, clients[account], account)
    for account in ACCOUNTS:
        client = clients[account]
        for page, path in PAGES:
            for _ in range(args.warmup):
                assert client.get(path).status_code == 200
            samples, cpu = [], []
            for _ in range(args.repeat):
                started, started_cpu = time.perf_counter(), time.process_time()
                response = client.get(path)
                samples.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - started_cpu) * 1000)
                assert response.status_code == 200, (account, path, response.status_code)
            key = f"{page}_{account}"
            results[key] = _summary(samples)
            # CPU time of this process (SQLite runs in it): what the request costs, without
            # the waiting that other work on a loaded machine adds to the wall-clock time.
            results[key]["cpu"] = _summary(cpu)
            log(f"{page:9} {account:9} median {results[key]['median_ms']:7.1f} ms  p95 "
                f"{results[key]['p95_ms']:7.1f} ms  (CPU median {results[key]['cpu']['median_ms']:6.1f}"
                f" p95 {results[key]['cpu']['p95_ms']:6.1f})")
    export = _export_granularity(app, log) if args.export else None
    return {"size": size, "backend": backend, "counts": counts, "timings": timings,
            "load_average": os.getloadavg(),
            "pages": results, "export": export}


def _check(app, client, account):
    """The page's 合计 row equals a recount of the account's region from the enrollments."""
    from sqlalchemy import func

    from app.extensions import db
    from models import AppUser, Enrollment, Institution

    page = client.get("/overview/").get_data(as_text=True)
    total = re.search(r'id="overview-total">(.*?)</tr>', page, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<th[^>]*>(.*?)</th>",
                                                                      total, re.S)]
    with app.app_context():
        user = db.session.query(AppUser).filter_by(username=account).one()
        path = user.administration.path
        included = db.session.query(func.count(Enrollment.id)).join(Institution).filter(
            Institution.admin_path.like(f"{path}%"), Enrollment.state != "cancelled").scalar()
        db.session.remove()
    assert cells[2] == str(included), (account, cells, included)


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
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-export", dest="export", action="store_false")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)

    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    for size in sizes:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            result_file = handle.name
        command = [sys.executable, __file__, "--worker", str(size), "--result-file",
                   result_file, "--repeat", str(args.repeat), "--warmup", str(args.warmup)]
        if args.database_url:
            command += ["--database-url", args.database_url]
        if not args.export:
            command.append("--no-export")
        print(f"size {size:,}", flush=True)
        subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        runs.append(json.loads(Path(result_file).read_text()))
        os.unlink(result_file)
    report = _report(runs)
    print(report)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"overview-{datetime.date.today()}-{runs[0]['backend']}"
    (out / f"{stem}.md").write_text(report)
    (out / f"{stem}.json").write_text(json.dumps(runs, ensure_ascii=False, indent=1))


def _report(runs):
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
    lines += ["", "CPU time of the request (this process; SQLite runs in it), median / p95 ms:", "",
              "| page | " + " | ".join(f"{r['size']:,}" for r in runs) + " | p95 ratio |",
              "|---|" + "---|" * len(runs) + "---|"]
    for key in small["pages"]:
        ratio = large["pages"][key]["cpu"]["p95_ms"] / small["pages"][key]["cpu"]["p95_ms"]
        lines.append(f"| {key} | " + " | ".join(
            f"{r['pages'][key]['cpu']['median_ms']:.1f} / {r['pages'][key]['cpu']['p95_ms']:.1f}"
            for r in runs) + f" | {ratio:.2f} |")
    lines += ["", "Load average (1, 5, 15 min) at the end of each size: " + "; ".join(
        f"{r['size']:,}: {tuple(round(x, 1) for x in r['load_average'])}" for r in runs)]
    lines += ["", "Data: " + "; ".join(f"{r['size']:,}: {r['counts']}" for r in runs), ""]
    for r in runs:
        if r.get("export"):
            lines.append(f"Export of the district's 报名进度 at {r['size']:,}: {r['export']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

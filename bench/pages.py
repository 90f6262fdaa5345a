"""Lists at province scale (1,000 and 330,000 physicians, same run): 报名进度, the review and
re-review lists, the province's 医师 roster, 测评进度 and 监考管理.

Data per size (an SQLite file, built once and kept in --data-dir to be reused by later runs):
migrations, roles, the demo province and exams, ``generate_bulk(N, N/110)``, then
``app.cli.enroll_share(--enrolled)`` (as ``flask dingkao demo --enrolled``), a third of the
bulk institutions re-reviewed by the demo assessment institution (演示省人民医院), one
attempt and one 测评进度 row per enrollment awaiting or past the exam, ``ANALYZE``.

Timed in-process through Flask's test client (routing, session, scoping, SQL, templates; no
network), after ``gc.freeze()`` once the app and its clients are up: 2 warm-ups, then
--repeat (60) timed requests (median, nearest-rank p95). Each size runs in its own child
process, and the parent times every page of every size in turns (batches of 5, the sizes
alternating: bench/interleave.py), so the machine's other work falls on both sizes alike.
Then every page is requested once more with its SQL captured: statement count, and the plan
(EXPLAIN QUERY PLAN) of its slowest SELECT. Results: bench/results/pages-<date>-<suffix>.md
and .json, with machine and data size.
"""
import argparse
import datetime
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.interleave import Sizes, serve  # noqa: E402
from bench.roster import _login, _percentile, _summary, institutions_for  # noqa: E402

DEFAULT_SIZES = (1000, 330000)
TARGET_P95_MS = 150.0
TARGET_RATIO = 2.0
DEMO_PASSWORD = "Demo@2026"
BENCH_PASSWORD = "Bench@2026"


def _app(url, workdir):
    import logging

    from app import create_app

    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": workdir / "uploads",
        "CAPTCHA_ENABLED": False, "AUTH_RATE_LIMIT": "1000000 per minute",
        "SECRET_KEY": "bench-secret", "SERVER_NAME": None, "LOG_LEVEL": logging.WARNING,
    })
    for name in ("alembic", "flask_appbuilder", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    return app


def _build(app, size, enrolled, log):
    """The database of one size, as described in the module's docstring."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import demo
    from app.cli import enroll_share, ensure_roles
    from app.extensions import analyze, db
    from models import Cycle, Institution, Paper

    started = time.perf_counter()
    upgrade()
    ensure_roles()
    demo.seed_demo_province()
    demo.seed_demo_exams()
    demo.generate_bulk(size, institutions_for(size))
    included = enroll_share(enrolled)
    assessor = db.session.query(Institution).filter_by(account="NX1008600").one()
    db.session.execute(text(
        "UPDATE institution SET assessment_institution_id = :a "
        "WHERE account LIKE 'BK%' AND id % 3 = 0"), {"a": assessor.id})
    cycle = Cycle.current()
    paper = db.session.query(Paper).filter(Paper.cycle_id == cycle.id,
                                           Paper.is_mock.is_(False)).order_by(Paper.id).first()
    now = datetime.datetime.now()
    db.session.execute(text(
        "INSERT INTO exam_attempt (paper_id, enrollment_id, number, state, started_at, "
        "question_ids, option_orders, face_verified, submitted_at, score, passed) "
        "SELECT :paper, id, 1, 'submitted', :now, '[]', '{}', 0, :now, 50 + id % 50, "
        "id % 50 >= 10 FROM enrollment WHERE cycle_id = :cycle "
        "AND state IN ('awaiting_exam', 'passed', 'failed', 'awaiting_makeup_confirmation')"),
        {"paper": paper.id, "now": now, "cycle": cycle.id})
    db.session.execute(text(
        "INSERT INTO paper_result (enrollment_id, paper_id, best_score, passed, attempts_used, "
        "exempted) SELECT enrollment_id, paper_id, score, passed, 1, 0 FROM exam_attempt"))
    db.session.commit()
    analyze()
    log(f"built in {time.perf_counter() - started:.1f} s ({included:,} enrollments added)")


def _upgrade(app, log):
    """A database kept from an earlier run, brought to this code's schema (and analysed)."""
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    from app.extensions import analyze, db

    with db.engine.connect() as conn:
        before = MigrationContext.configure(conn).get_current_revision()
    upgrade()
    with db.engine.connect() as conn:
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        analyze()
        log(f"upgraded {before} -> {after}")


SNAPSHOT_SHARE = 10  # one attempt in SNAPSHOT_SHARE has snapshots, SNAPSHOTS_EACH of them
SNAPSHOTS_EACH = 6


def _snapshots(app, log):
    """监考管理's data, once per database: one attempt in SNAPSHOT_SHARE has SNAPSHOTS_EACH
    checked snapshots (similarities and flags spread by the attempt's id, one shared stored
    file), its figures stored as commands.proctoring keeps them."""
    from sqlalchemy import func, select, text

    from app.extensions import analyze, db
    from models import Snapshot, StoredFile
    from models.proctoring import store_figures

    if db.session.scalar(select(func.count(Snapshot.id))):
        return
    started = time.perf_counter()
    stored = StoredFile(storage_name="bench-snapshot", original_name="snapshot.jpg",
                        content_type="image/jpeg", size=1, sha256="0" * 64, purpose="snapshot")
    db.session.add(stored)
    db.session.flush()
    now = datetime.datetime.now()
    for number in range(SNAPSHOTS_EACH):
        db.session.execute(text(
            "INSERT INTO snapshot (attempt_id, file_id, taken_at, kind, similarity, faces, "
            "no_face, multiple_faces, looking_away, low_similarity, checked_at, suspected) "
            "SELECT id, :file, :now, 'interval', "
            "CASE WHEN (id + :n) % 17 = 0 THEN NULL ELSE ((id * 7 + :n * 13) % 100) / 100.0 END, "
            "CASE WHEN (id + :n) % 17 = 0 THEN 0 WHEN (id + :n) % 29 = 0 THEN 2 ELSE 1 END, "
            "(id + :n) % 17 = 0, (id + :n) % 29 = 0, (id + :n) % 11 = 0, "
            "(id * 7 + :n * 13) % 100 < 40, :now, false "
            "FROM exam_attempt WHERE id % :share = 0"),
            {"file": stored.id, "now": now, "n": number, "share": SNAPSHOT_SHARE})
    attempts = db.session.scalars(select(Snapshot.attempt_id).distinct()).all()
    store_figures(db.session, attempts, chunk=2000)
    db.session.commit()
    analyze()
    log(f"{len(attempts) * SNAPSHOTS_EACH:,} snapshots of {len(attempts):,} attempts added in "
        f"{time.perf_counter() - started:.1f} s")


def _postgres_url(base_url, size):
    """The database ``pages_<size>`` on the server of ``base_url`` (created when missing)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"pages_{size}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _load_postgres(app, sqlite_path, log):
    """The SQLite database of the same size (built, upgraded and given its snapshots by the
    SQLite run) copied into PostgreSQL: the schema by the migrations, every row by COPY (foreign
    keys checked by the SQLite run already), the sequences moved past the ids, ANALYZE."""
    import csv
    import io
    import sqlite3

    from flask_migrate import upgrade
    from sqlalchemy import text

    from app.extensions import analyze, db

    started = time.perf_counter()
    upgrade()
    source = sqlite3.connect(str(sqlite_path))
    tables = [row[0] for row in source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != 'alembic_version' ORDER BY name")]
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) +
                       " RESTART IDENTITY CASCADE")
        rows_total = 0
        for table in tables:
            cursor.execute("SELECT column_name FROM information_schema.columns "
                           "WHERE table_name = %s", (table,))
            target = {row[0] for row in cursor.fetchall()}
            columns = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')
                       if row[1] in target]
            select = source.execute(
                "SELECT " + ", ".join(f'"{c}"' for c in columns) + f' FROM "{table}"')
            while True:
                chunk = select.fetchmany(50000)
                if not chunk:
                    break
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                for row in chunk:
                    writer.writerow(["\\N" if value is None else
                                     ("\\x" + value.hex() if isinstance(value, bytes) else value)
                                     for value in row])
                buffer.seek(0)
                cursor.copy_expert(
                    f'COPY "{table}" (' + ", ".join(f'"{c}"' for c in columns) +
                    ") FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
                rows_total += len(chunk)
            if "id" in columns:
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                               f'coalesce(max(id), 1)) FROM "{table}" '
                               f"WHERE pg_get_serial_sequence('\"{table}\"', 'id') IS NOT NULL")
        cursor.execute("SET session_replication_role = DEFAULT")
        raw.commit()
    finally:
        raw.close()
        source.close()
    db.session.execute(text("SELECT 1"))
    analyze()
    log(f"copied {rows_total:,} rows of {len(tables)} tables from {sqlite_path.name} in "
        f"{time.perf_counter() - started:.1f} s")


def _prepare(app, log):
    """Accounts for the busiest institution (most enrollments awaiting its review)."""
    from sqlalchemy import func

    from app.extensions import db
    from models import AppUser, Enrollment, Institution
    from models.workflow import INSTITUTION_STAGE
    from security import roles
    from security.accounts import create_account

    busiest_id, waiting = db.session.query(Enrollment.institution_id, func.count()).filter(
        Enrollment.state.in_(INSTITUTION_STAGE),
        Enrollment.institution_id.in_(db.session.query(Institution.id).filter(
            Institution.account.like("BK%")))).group_by(
        Enrollment.institution_id).order_by(func.count().desc()).first()
    busiest = db.session.get(Institution, busiest_id)
    if db.session.query(AppUser).filter_by(username=busiest.account).first() is None:
        create_account(busiest.account, [roles.INSTITUTION], name=busiest.name,
                       password=BENCH_PASSWORD, must_change=False, institution=busiest)
        db.session.commit()
    return busiest.account, waiting


def _pages(app):
    """(key, account, password, url, what must be on the page)."""
    from app.extensions import db
    from models import Enrollment

    with app.app_context():
        busiest, waiting = _prepare(app, print)
        total = db.session.query(Enrollment).count()
    last = min(-(-total // 20), 5000 // 20) - 1
    return busiest, waiting, [
        ("progress_first", "province", DEMO_PASSWORD, "/enrollmentview/list/", "dk-row"),
        ("progress_state_dept", "province", DEMO_PASSWORD,
         "/enrollmentview/list/?_flt_0_state=awaiting_exam&_flt_2_id=%E5%86%85%E7%A7%91",
         "dk-row"),
        ("progress_city", "city", DEMO_PASSWORD, "/enrollmentview/list/", "dk-row"),
        ("progress_district", "district", DEMO_PASSWORD, "/enrollmentview/list/", "dk-row"),
        ("progress_last", "province", DEMO_PASSWORD,
         f"/enrollmentview/list/?page_EnrollmentView={last}", "dk-row"),
        ("review_busiest", busiest, BENCH_PASSWORD,
         "/review/?stage=institution&procedure=simple", "<tr"),
        ("rereview_assessment", "NX1008600", DEMO_PASSWORD,
         "/review/?stage=assessment&procedure=simple", "<tr"),
        ("rereview_general", "NX1008600", DEMO_PASSWORD,
         "/review/?stage=assessment&procedure=general", "<tr"),
        ("roster_province", "province", DEMO_PASSWORD, "/physicianview/list/", "dk-row"),
        ("paper_results", "province", DEMO_PASSWORD, "/paperresultview/list/", "dk-row"),
        ("proctoring", "province", DEMO_PASSWORD, "/proctoring/", "<tr"),
        ("related_search", "province", DEMO_PASSWORD,
         "/enrollmentview/related/institution?q=%E6%89%B9%E9%87%8F", '"id"'),
    ]


def _capture(app, client, url):
    """The page once more with its statements and their durations."""
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    rows, starts = [], {}

    def before(conn, cursor, statement, parameters, context, executemany):
        starts[id(cursor)] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        rows.append({"sql": statement, "params": parameters,
                     "ms": (time.perf_counter() - starts.pop(id(cursor), time.perf_counter()))
                     * 1000})

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    plan = None
    selects = [r for r in rows if r["sql"].lstrip().upper().startswith("SELECT")]
    if selects:
        slowest = max(selects, key=lambda r: r["ms"])
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                plan = [row[0] for row in conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"], slowest["params"] or ())]
            else:
                plan = [" ".join(str(c) for c in row[1:]) for row in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + slowest["sql"], slowest["params"] or ())]
        slowest = {"sql": slowest["sql"][:1500], "ms": round(slowest["ms"], 2),
                   "params": str(slowest["params"])[:300], "plan": plan}
    else:
        slowest = None
    return {"statements": len(rows), "sql_ms": round(sum(r["ms"] for r in rows), 2),
            "slowest": slowest}


def run_worker(args):
    from sqlalchemy import func, select

    from app.extensions import db
    from models import Enrollment, ExamAttempt, Institution, Physician

    size = args.worker
    data_dir = Path(args.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"pages-{size}-enrolled{args.enrolled}.db"
    workdir = Path(tempfile.mkdtemp(prefix=f"dingkao-bench-pages-{size}-"))
    log = lambda message: print(f"  [{size:,}] {message}", flush=True)  # noqa: E731
    fresh = not path.exists()
    build_s = None
    if args.postgres:
        if fresh:
            raise SystemExit(f"no {path}: run the SQLite mode first (the same data is copied)")
        url = _postgres_url(args.postgres, size)
        app = _app(url, workdir)
        with app.app_context():
            from sqlalchemy import inspect as sa_inspect

            loaded = sa_inspect(db.engine).has_table("physician") and db.session.scalar(
                select(func.count(Physician.id)))
            db.session.remove()
            if not loaded:
                started = time.perf_counter()
                _load_postgres(app, path, log)
                build_s = time.perf_counter() - started
            else:
                _upgrade(app, log)
        fresh = False
    else:
        app = _app(f"sqlite:///{path}", workdir)
    if fresh:
        started = time.perf_counter()
        with app.app_context():
            try:
                _build(app, size, args.enrolled, log)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        build_s = time.perf_counter() - started
    elif not args.postgres:
        log(f"reusing {path}")
        with app.app_context():
            _upgrade(app, log)
    with app.app_context():
        _snapshots(app, log)
    busiest, waiting, pages = _pages(app)
    with app.app_context():
        counts = {
            "physicians": db.session.scalar(select(func.count(Physician.id))),
            "institutions": db.session.scalar(select(func.count(Institution.id))),
            "enrollments": db.session.scalar(select(func.count(Enrollment.id))),
            "attempts": db.session.scalar(select(func.count(ExamAttempt.id))),
            "busiest_institution": busiest, "busiest_waiting": waiting,
            "file_mb": round(path.stat().st_size / 1e6),
            "backend": db.engine.dialect.name,
        }
        db.session.remove()
    log(f"data: {counts}")
    clients = {}
    for _key, account, password, _url, _must in pages:
        if account not in clients:
            clients[account] = _login(app.test_client(), account, password)
    # Checks before timing: each page answers 200 with its rows.
    for key, account, _pw, url, must in pages:
        response = clients[account].get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, (key, response.status_code)
        assert must in body, (key, "no rows")
    gc.collect()
    gc.freeze()
    # The parent times every page of every size in turns (bench/interleave.py).
    samples = serve({key: (clients[account], url) for key, account, _pw, url, _must in pages})
    results = {}
    for key, account, _pw, url, _must in pages:
        wall, cpu = samples[key]
        results[key] = {**_summary(wall), "cpu_median_ms": round(statistics.median(cpu), 1),
                        "url": url, "account": account, "load_average": os.getloadavg()}
        log(f"{key:22} median {results[key]['median_ms']:7.1f} ms  p95 "
            f"{results[key]['p95_ms']:7.1f} ms  cpu {results[key]['cpu_median_ms']:7.1f} ms")
    for key, account, _pw, url, _must in pages:
        results[key]["sql"] = _capture(app, clients[account], url)
    Path(args.result_file).write_text(json.dumps({
        "size": size, "counts": counts, "build_s": build_s, "database": str(path),
        "load_average": os.getloadavg(), "pages": results}, ensure_ascii=False, indent=1,
        default=str))


def _machine():
    import flask_appbuilder
    import sqlalchemy
    import sqlite3

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        mem = next(line.split(":", 1)[1].strip() for line in open("/proc/meminfo")
                   if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", ":!bench"], cwd=ROOT,
                           capture_output=True, text=True).stdout.split("\n")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "sqlalchemy": sqlalchemy.__version__, "fab": flask_appbuilder.__version__,
            "commit": commit, "uncommitted": [line for line in dirty if line.strip()]}


def _markdown(report):
    sizes = report["sizes"]
    small, large = str(min(sizes)), str(max(sizes))
    runs = report["runs"]
    lines = [f"# Lists at province scale — {report['date']}", "",
             f"In-process (Flask test client), {report['backend']}, `gc.freeze()` after "
             "start-up; "
             f"{report['repeat']} timed requests after {report['warmup']} warm-ups per page. "
             f"Targets: p95 ≤ {TARGET_P95_MS:.0f} ms at the largest size and ≤ "
             f"{TARGET_RATIO:.0f}× the smallest size's median.", "",
             "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in report["machine"].items()]
    lines += ["", "## Data", ""]
    for size in sizes:
        run = runs[str(size)]
        build = (f"built in {run['build_s']:.0f} s" if run["build_s"] else
                 "database reused from an earlier run")
        lines.append(f"- {int(size):,}: {run['counts']} ({build}); load average "
                     f"{', '.join(f'{x:.2f}' for x in run['load_average'])}")
    before = report.get("before") or {}

    def cpu(page):
        return f" (CPU {page['cpu_median_ms']:.1f})" if "cpu_median_ms" in page else ""

    head = (f"| page | {int(small):,} median / p95 ms (CPU) | {int(large):,} median / p95 ms "
            "(CPU) | ratio (medians) | ratio (CPU) |")
    if before:
        head += f" before: {int(small):,} / {int(large):,} median (p95) ms |"
    lines += ["", "## Pages", "",
              "Wall clock, with the bench process's CPU time per request (median, "
              "`time.process_time()`) beside it: on this shared machine the wall clock is "
              "as much the other processes' load as the page's.", "",
              head + " statements | verdict |",
              "|---|---|---|---|---|" + ("---|" if before else "") + "---|---|"]
    for key, page in runs[large]["pages"].items():
        base = runs[small]["pages"][key]
        ratio = page["median_ms"] / base["median_ms"] if base["median_ms"] else 0
        cpu_ratio = (page["cpu_median_ms"] / base["cpu_median_ms"]
                     if base.get("cpu_median_ms") else 0)
        ok = page["p95_ms"] <= TARGET_P95_MS and ratio <= TARGET_RATIO
        row = (f"| {key} (`{page['url']}` as {page['account']}) | "
               f"{base['median_ms']:.1f} / {base['p95_ms']:.1f}{cpu(base)} | "
               f"{page['median_ms']:.1f} / {page['p95_ms']:.1f}{cpu(page)} | {ratio:.2f} | "
               f"{cpu_ratio:.2f} |")
        if before:
            old_small = before[small]["pages"].get(key)
            old_large = before[large]["pages"].get(key)
            row += (f" {old_small['median_ms']:.1f} ({old_small['p95_ms']:.1f}) / "
                    f"{old_large['median_ms']:.1f} ({old_large['p95_ms']:.1f}) |"
                    if old_small and old_large else " |")
        lines.append(row + f" {base['sql']['statements']} / {page['sql']['statements']} | "
                           f"{'PASS' if ok else 'FAIL'} |")
    if before:
        lines += ["", f"Before: {report.get('before_root')}, same data, each size just "
                  "before this code's; load average "
                  + "; ".join(f"{int(size):,}: " + ", ".join(f"{x:.2f}" for x in
                                                             run["load_average"])
                              for size, run in before.items()) + "."]
    lines += ["", f"## Slowest SELECT of each page at {int(large):,} and its plan", ""]
    for key, page in runs[large]["pages"].items():
        slowest = page["sql"]["slowest"]
        if not slowest:
            continue
        lines += [f"### {key}: {slowest['ms']} ms of {page['sql']['sql_ms']} ms SQL", "",
                  "```sql", re.sub(r"\s+", " ", slowest["sql"])[:1200], "```", "", "```"]
        lines += slowest["plan"] or []
        lines += ["```", ""]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--enrolled", type=float, default=0.8)
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "dingkao-pages"))
    parser.add_argument("--output-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--suffix")
    parser.add_argument("--postgres", nargs="?", const=os.environ.get("TEST_DATABASE_URL"),
                        help="a PostgreSQL server's URL (default TEST_DATABASE_URL, as set by "
                             "scripts/with-postgres.sh): each size's SQLite data copied into "
                             "its database pages_<size>, then the same pages")
    parser.add_argument("--before-root", help="a checkout of the code before a change "
                        "(git archive): its pages timed on the same data, each size just "
                        "before this code's (SQLite)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)
    sizes = [int(s) for s in args.sizes.split(",")]
    runs, before = {}, {}

    def worker(root, size, extra=()):
        out = Path(tempfile.mkstemp(suffix=".json")[1])
        subprocess.run([sys.executable, str(Path(root) / "bench" / "pages.py"), "--worker",
                        str(size), "--result-file", str(out), "--enrolled", str(args.enrolled),
                        "--repeat", str(args.repeat), "--warmup", str(args.warmup),
                        "--data-dir", args.data_dir, *extra], check=True, cwd=root)
        result = json.loads(out.read_text())
        out.unlink()
        return result

    if args.before_root:
        # The code before the change, on the same data, just before (SQLite only; its own
        # worker times its pages one size after the other).
        for size in sizes:
            before[str(size)] = worker(args.before_root, size)
    # This code: one child per size, every page timed in turns.
    files = {size: Path(tempfile.mkstemp(suffix=".json")[1]) for size in sizes}
    children = Sizes({size: [sys.executable, str(ROOT / "bench" / "pages.py"), "--worker",
                             str(size), "--result-file", str(files[size]), "--enrolled",
                             str(args.enrolled), "--data-dir", args.data_dir,
                             *(["--postgres", args.postgres] if args.postgres else [])]
                      for size in sizes}, cwd=ROOT)
    children.run(children.keys, args.warmup, args.repeat)
    children.finish()
    for size in sizes:
        runs[str(size)] = json.loads(files[size].read_text())
        files[size].unlink()
    date = datetime.date.today().isoformat()
    report = {"date": date, "sizes": sizes, "repeat": args.repeat, "warmup": args.warmup,
              "backend": "PostgreSQL" if args.postgres else "SQLite",
              "enrolled": args.enrolled, "machine": _machine(), "runs": runs,
              "before": before, "before_root": args.before_root}
    name = f"pages-{date}-{args.suffix or ('postgresql' if args.postgres else 'sqlite')}"
    output = Path(args.output_dir)
    (output / f"{name}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1,
                                                    default=str))
    (output / f"{name}.md").write_text(_markdown(report))
    print(_markdown(report))


if __name__ == "__main__":
    main()

"""Roster and home-page benchmark at two data sizes (default 1,000 and 330,000 physicians).

For each size a fresh database (SQLite file in a temp dir, or the PostgreSQL database given by
--database-url, emptied first) is built the way the app builds it — migrations, roles, the demo
province, then ``app.demo.generate_bulk`` — and these requests are timed through Flask's test
client, in-process (server time: routing, scoping, SQL, template rendering; no network, no
browser):

  1. roster list of one institution filtered by department and "not confirmed"
  2. the last page of that institution's unfiltered roster (20 per page)
  3. ID search with the 18-digit and the 15-digit form of a physician's number
  4. 允许报名 for 500 physicians in one POST (their enrollments and audit rows are deleted
     between repetitions, outside the timing, so every repetition really includes 500)
  5. the home page of the demo ``province`` and ``district`` accounts

Each size runs in its own child process (same script, ``--worker``) so neither warms the other.
Results: a table on stdout, plus bench/results/roster-<date>[-<backend>][-<sizes>].md and .json.
See bench/README.md.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = (1000, 330000)
TARGET_SIZE = 330000
TARGET_P95_MS = 150.0
TARGET_RATIO = 2.0
PAGE_SIZE = 20
BATCH = 500
MOVED = 600  # physicians moved into the benchmark institution so that it has > BATCH
BENCH_PASSWORD = "Bench@2026"
DEMO_PASSWORD = "Demo@2026"

MEASUREMENTS = [
    ("list_filtered", "Roster list, filtered by department + not confirmed (institution)"),
    ("list_last_page", "Roster list, last page unfiltered (institution)"),
    ("id_search_18", "ID search, 18-digit number (institution)"),
    ("id_search_15", "ID search, 15-digit number (institution)"),
    ("batch_allow_500", "Batch 允许报名 of 500 physicians, POST action_post (institution)"),
    ("home_province", "Home page / with pending counts (province)"),
    ("home_district", "Home page / with pending counts (district)"),
]


def institutions_for(size):
    """~10 institutions for the small size, 3,000 for 330,000 (about 110 each)."""
    if size <= 2000:
        return 10
    return max(10, round(size / 110))


# --- helpers used by the worker ---------------------------------------------------------------


class SqlCapture:
    """Collect every statement the engine runs while ``active`` (one profiled request)."""

    def __init__(self):
        self.active = False
        self.rows = []

    def install(self, engine):
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn, cursor, statement, parameters, context, executemany):
            conn.info.setdefault("bench_t0", []).append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn, cursor, statement, parameters, context, executemany):
            started = conn.info["bench_t0"].pop()
            if self.active:
                self.rows.append({
                    "ms": (time.perf_counter() - started) * 1000,
                    "sql": statement,
                    "params": parameters,
                    "executemany": executemany,
                })

    def start(self):
        self.rows = []
        self.active = True

    def stop(self):
        self.active = False
        return self.rows


def _percentile(samples, q):
    """Nearest-rank percentile (with 15 samples, p95 is the largest)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _summary(samples_ms):
    return {
        "n": len(samples_ms),
        "median_ms": statistics.median(samples_ms),
        "p95_ms": _percentile(samples_ms, 0.95),
        "min_ms": min(samples_ms),
        "max_ms": max(samples_ms),
        "samples_ms": [round(s, 3) for s in samples_ms],
    }


def _record_count(html):
    match = re.search(r"记录数目:</strong>\s*(\d+)", html) or re.search(
        r"Record Count:</strong>\s*(\d+)", html)
    return int(match.group(1)) if match else 0 if "没有找到记录" in html else None


def _row_ids(html):
    return re.findall(r'class="action_check" name="rowid" value="(\d+)"', html)


def _login(client, username, password):
    page = client.get("/login/").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'id="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, "no CSRF token on the login page"
    response = client.post("/login/", data={
        "kind": "staff", "username": username, "password": password, "agree": "y",
        "csrf_token": match.group(1)})
    assert response.status_code == 302, (username, response.get_data(as_text=True)[:500])
    return client


def _session_csrf(client):
    page = client.get("/account/password").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the account page"
    return match.group(1)


def _take_flashes(client):
    with client.session_transaction() as session:
        messages = [message for _, message in session.get("_flashes", [])]
        session.pop("_flashes", None)
    return messages


def _explain(app, statement, params):
    """The database's plan for one captured SELECT."""
    from app.extensions import db

    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if db.engine.dialect.name == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
                depth, lines = {0: -1}, []
                for node, parent, _, detail in cursor.fetchall():
                    depth[node] = depth.get(parent, -1) + 1
                    lines.append("  " * depth[node] + detail)
                return lines
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
            return [row[0] for row in cursor.fetchall()]
        finally:
            raw.rollback()
            raw.close()


ENROLLED_STATES = ("pending_enrollment", "pending_institution_review",
                   "pending_assessment_review", "awaiting_exam", "passed", "failed",
                   "awaiting_makeup_confirmation", "cancelled")


def _enroll_bulk(db, cycle_id, fraction, keep_out, backend):
    """--enrolled: put that fraction of the bulk physicians into the current cycle, in a
    spread of states (one INSERT … SELECT), as mid-cycle; the moved physicians stay out."""
    from sqlalchemy import bindparam, text

    states = " ".join(f"WHEN {k} THEN '{state}'" for k, state in enumerate(ENROLLED_STATES))
    empty_json = "CAST('{}' AS JSON)" if backend == "postgresql" else "'{}'"
    statement = text(f"""
        INSERT INTO enrollment (cycle_id, physician_id, institution_id, state, form_data,
                                completed_steps, included_at, updated_at)
        SELECT :cycle, p.id, p.institution_id, CASE p.id % {len(ENROLLED_STATES)} {states} END,
               {empty_json}, 0, :now, :now
        FROM physician p
        WHERE p.institution_id IS NOT NULL AND p.id % 1000 < :per_mille
          AND p.id NOT IN :keep_out
          AND NOT EXISTS (SELECT 1 FROM enrollment e
                          WHERE e.cycle_id = :cycle AND e.physician_id = p.id)
    """).bindparams(bindparam("keep_out", expanding=True))
    db.session.execute(statement, {"cycle": cycle_id, "now": datetime.datetime.now(),
                                   "per_mille": round(fraction * 1000),
                                   "keep_out": list(keep_out)})
    # Rows inserted behind the state machine's back: recount its tally, as an operator would
    # with `flask dingkao retally` after a bulk load.
    from models.workflow import rebuild_tally

    rebuild_tally(cycle_id)
    db.session.commit()


def _clip(value, limit):
    """Keep the JSON readable: long statements and parameter lists are cut."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + " …"
    if isinstance(value, dict) and len(value) > limit:
        return dict(list(value.items())[:limit]) | {"…": f"{len(value) - limit} more"}
    if isinstance(value, (list, tuple)) and len(value) > limit:
        return list(value[:limit]) + [f"… {len(value) - limit} more"]
    return value


def _is_select(row):
    return not row["executemany"] and row["sql"].lstrip().upper().startswith("SELECT")


def _replay_selects(app, rows):
    """Time each captured SELECT again on its own, with every row fetched.

    The execute time the engine events see is not the whole cost on SQLite, which computes
    the rows after the first while they are fetched (a GROUP BY over many rows, for one).
    ``full_ms`` is the larger of the two; for other statements it is the execute time.
    """
    from app.extensions import db

    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for row in rows:
                row["full_ms"] = row["ms"]
                if not _is_select(row):
                    continue
                started = time.perf_counter()
                cursor.execute(row["sql"], row["params"])
                cursor.fetchall()
                row["full_ms"] = max(row["ms"], (time.perf_counter() - started) * 1000)
        finally:
            raw.rollback()
            raw.close()


def _reset_postgres(app):
    from app.extensions import db

    with app.app_context():
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        db.session.remove()


# --- the worker: one size, one database ------------------------------------------------------


def run_worker(args):
    size, institution_count = args.worker
    workdir = Path(tempfile.mkdtemp(prefix=f"dingkao-bench-{size}-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    try:
        result = _run_size(url, workdir, size, institution_count, args)
    finally:
        if args.keep:
            print(f"  kept {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    Path(args.result_file).write_text(
        json.dumps(result, ensure_ascii=False, indent=1, default=str))


def _run_size(url, workdir, size, institution_count, args):
    import logging

    from flask_migrate import upgrade
    from sqlalchemy import delete, func, select, text, update

    from app import create_app, demo
    from app.cli import ensure_roles
    from app.extensions import db
    from models import AuditLog, Department, Enrollment, Institution, Physician
    from models.account import AppUser
    from security import roles, scope
    from security.accounts import create_account
    from models import Cycle

    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "UPLOAD_DIR": workdir / "uploads",
        "CAPTCHA_ENABLED": False,
        "AUTH_RATE_LIMIT": "1000000 per minute",
        "SECRET_KEY": "bench-secret",
        "SERVER_NAME": None,
        "LOG_LEVEL": logging.WARNING,
    })
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    log = lambda message: print(f"  [{size:,}] {message}", flush=True)  # noqa: E731
    timings = {}

    # --- data ---------------------------------------------------------------------------------
    if backend == "postgresql":
        _reset_postgres(app)
    with app.app_context():
        started = time.perf_counter()
        upgrade()
        logging.getLogger().setLevel(logging.WARNING)
        for name in ("alembic", "flask_appbuilder", "sqlalchemy"):
            logging.getLogger(name).setLevel(logging.WARNING)
        ensure_roles()
        demo.seed_demo_province()
        timings["migrate_and_seed_s"] = time.perf_counter() - started
        log(f"migrations + roles + demo province: {timings['migrate_and_seed_s']:.1f} s")

        started = time.perf_counter()
        demo.generate_bulk(size, institution_count)
        timings["generate_bulk_s"] = time.perf_counter() - started
        log(f"generate_bulk({size:,}, {institution_count:,}): {timings['generate_bulk_s']:.1f} s")

        started = time.perf_counter()
        bulk = select(Institution.id).where(Institution.account.like("BK%"))
        inst = db.session.scalars(
            select(Institution).where(Institution.account.like("BK%")).order_by(Institution.id)
        ).first()
        departments = db.session.scalars(
            select(Department.id).where(Department.institution_id == inst.id)
            .order_by(Department.id)).all()
        # Move MOVED physicians from the other bulk institutions into the benchmark one,
        # spread over all its departments (the generator gives each institution's physicians
        # only some of its departments), so it has enough for the 500-physician batch.
        moved = db.session.scalars(
            select(Physician.id).where(Physician.institution_id.in_(bulk),
                                       Physician.institution_id != inst.id)
            .order_by(Physician.id.desc()).limit(MOVED)).all()
        assert len(moved) == MOVED, f"only {len(moved)} physicians to move"
        for k, pid in enumerate(moved):
            db.session.execute(update(Physician).where(Physician.id == pid).values(
                institution_id=inst.id, department_id=departments[k % len(departments)]))
        create_account(inst.account, [roles.INSTITUTION], password=BENCH_PASSWORD,
                       must_change=False, institution=inst)
        db.session.commit()
        if args.enrolled:
            _enroll_bulk(db, Cycle.current().id, args.enrolled, moved, backend)
        if backend == "postgresql":
            # Autovacuum would analyze the freshly loaded tables within a minute or so in
            # production; do it now so that plans do not depend on when the timing starts.
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        timings["bench_setup_s"] = time.perf_counter() - started

        inst_id, inst_account = inst.id, inst.account
        roster_total = db.session.scalar(
            select(func.count(Physician.id)).where(Physician.institution_id == inst_id))
        cycle = Cycle.current()
        cycle_id = cycle.id
        included = select(Enrollment.id).where(
            Enrollment.physician_id == Physician.id, Enrollment.cycle_id == cycle_id,
            Enrollment.state != "cancelled").exists()
        per_department = db.session.execute(
            select(Physician.department_id, func.count(Physician.id))
            .where(Physician.institution_id == inst_id, ~included)
            .group_by(Physician.department_id).order_by(func.count(Physician.id).desc())
        ).all()
        filter_department, filter_expected = per_department[0]
        batch_ids = sorted(moved)[:BATCH]
        sample = db.session.scalars(
            select(Physician).where(Physician.institution_id == inst_id,
                                    Physician.id.not_in(moved)).order_by(Physician.id)
        ).first()
        id18 = sample.id_number
        id15 = id18[:6] + id18[8:17]
        probe = {"id": sample.id, "name": sample.name, "masked": sample.masked_id_number}
        expected_home = {}
        for account in ("province", "district"):
            user = db.session.scalars(select(AppUser).where(AppUser.username == account)).one()
            actor = scope.actor_for(user)
            expected_home[account] = {
                "institutions": scope.restrict(
                    db.session.query(func.count(Institution.id)), Institution, actor).scalar(),
                "physicians": scope.restrict(
                    db.session.query(func.count(Physician.id)), Physician, actor).scalar(),
            }
        counts = {
            "physicians": db.session.scalar(select(func.count(Physician.id))),
            "institutions": db.session.scalar(select(func.count(Institution.id))),
            "accounts": db.session.scalar(select(func.count(AppUser.id))),
            "enrollments": db.session.scalar(select(func.count(Enrollment.id))),
        }
        db_bytes = (workdir / "bench.db").stat().st_size if backend == "sqlite" else None
        db.session.remove()

    log(f"benchmark institution {inst_account} (id {inst_id}): {roster_total} physicians, "
        f"department {filter_department}: {filter_expected} not confirmed")

    capture = SqlCapture()
    with app.app_context():
        capture.install(db.engine)

    def reset_batch():
        with app.app_context():
            db.session.execute(delete(AuditLog).where(
                AuditLog.entity == "physician", AuditLog.action == "allow_enrollment",
                AuditLog.entity_id.in_(batch_ids)))
            db.session.execute(delete(Enrollment).where(
                Enrollment.cycle_id == cycle_id, Enrollment.physician_id.in_(batch_ids)))
            db.session.commit()
            db.session.remove()

    def batch_included():
        with app.app_context():
            n = db.session.scalar(select(func.count(Enrollment.id)).where(
                Enrollment.cycle_id == cycle_id, Enrollment.physician_id.in_(batch_ids)))
            db.session.remove()
            return n

    # --- clients ------------------------------------------------------------------------------
    institution = _login(app.test_client(), inst_account, BENCH_PASSWORD)
    province = _login(app.test_client(), "province", DEMO_PASSWORD)
    district = _login(app.test_client(), "district", DEMO_PASSWORD)
    batch_token = _session_csrf(institution)

    last_page = (roster_total - 1) // PAGE_SIZE  # FAB pages count from 0
    urls = {
        "list_filtered": f"/physicianview/list/?_flt_0_department={filter_department}&_flt_0_id=0",
        "list_last_page": f"/physicianview/list/?page_PhysicianView={last_page}",
        "id_search_18": f"/physicianview/list/?_flt_0_id_number={id18}",
        "id_search_15": f"/physicianview/list/?_flt_0_id_number={id15}",
    }

    # --- checks: each request does what it is meant to ----------------------------------------
    def check_list(key, expected_count, expected_rows, must_contain=()):
        response = institution.get(urls[key])
        html = response.get_data(as_text=True)
        assert response.status_code == 200, (key, response.status_code)
        count, rows = _record_count(html), len(_row_ids(html))
        assert count == expected_count, (key, "record count", count, expected_count)
        assert rows == expected_rows, (key, "rows", rows, expected_rows)
        for text_ in must_contain:
            assert text_ in html, (key, text_)
        return {"status": 200, "record_count": count, "rows_on_page": rows}

    checks = {
        "list_filtered": check_list("list_filtered", filter_expected,
                                    min(PAGE_SIZE, filter_expected)),
        "list_last_page": check_list("list_last_page", roster_total,
                                     roster_total - last_page * PAGE_SIZE),
        "id_search_18": check_list("id_search_18", 1, 1, (probe["masked"], probe["name"])),
        "id_search_15": check_list("id_search_15", 1, 1, (probe["masked"], probe["name"])),
    }
    assert filter_expected < roster_total, "the filter does not narrow the roster"
    for account, client in (("province", province), ("district", district)):
        response = client.get("/")
        html = response.get_data(as_text=True)
        assert response.status_code == 200, (account, response.status_code)
        assert 'id="tasks"' in html, (account, "no pending tasks panel")
        checks[f"home_{account}"] = {"status": 200}
        # The totals the page shows (the physician total may be left out for administrations).
        for what in ("institutions", "physicians"):
            shown = re.search(rf'id="count-{what}">(\d+)<', html)
            if shown is None and what == "physicians":
                continue
            assert shown and int(shown.group(1)) == expected_home[account][what], (
                account, what, shown and shown.group(1), expected_home[account][what])
            checks[f"home_{account}"][f"{what}_shown"] = int(shown.group(1))

    def post_batch():
        return institution.post("/physicianview/action_post", data={
            "csrf_token": batch_token, "action": "allow_enrollment",
            "rowid": [str(pid) for pid in batch_ids]})

    reset_batch()
    response = post_batch()
    flashed = _take_flashes(institution)
    assert response.status_code == 302, ("batch", response.status_code,
                                         response.get_data(as_text=True)[:300])
    assert f"已允许报名 {BATCH} 人" in flashed, ("batch", flashed)
    assert batch_included() == BATCH
    checks["batch_allow_500"] = {"status": 302, "flash": f"已允许报名 {BATCH} 人",
                                 "enrollments_created": BATCH}
    reset_batch()
    log("checks passed: filters filter, last page is the last, both ID forms find the "
        "physician, the batch includes 500, home pages show the right totals")

    # --- timing ------------------------------------------------------------------------------
    # Each runner returns the request's time in ms; with profile=True the SQL it ran is
    # captured too (around the request only, not the checks and resets after it).
    def timed(send, expected_status, profile=False):
        if profile:
            capture.start()
        started = time.perf_counter()
        response = send()
        elapsed = (time.perf_counter() - started) * 1000
        rows = capture.stop() if profile else None
        assert response.status_code == expected_status, (response.status_code,
                                                         response.get_data(as_text=True)[:300])
        return elapsed, rows

    def timed_get(client, url, profile=False):
        return timed(lambda: client.get(url), 200, profile)

    def timed_batch(profile=False):
        elapsed, rows = timed(post_batch, 302, profile)
        assert _take_flashes(institution) == [f"已允许报名 {BATCH} 人"]
        assert batch_included() == BATCH
        reset_batch()
        return elapsed, rows

    runners = {key: (lambda profile=False, key=key: timed_get(institution, urls[key], profile))
               for key in urls}
    runners["home_province"] = lambda profile=False: timed_get(province, "/", profile)
    runners["home_district"] = lambda profile=False: timed_get(district, "/", profile)
    runners["batch_allow_500"] = timed_batch

    results = {}
    load_before = os.getloadavg()
    for key, label in MEASUREMENTS:
        batch = key == "batch_allow_500"
        warmups = args.batch_warmups if batch else args.warmups
        reps = args.batch_reps if batch else args.reps
        for _ in range(warmups):
            runners[key]()
        samples = [runners[key]()[0] for _ in range(reps)]
        results[key] = _summary(samples)

        # One more, untimed, request with every SQL statement captured.
        profiled_ms, rows = runners[key](profile=True)
        _replay_selects(app, rows)
        sql_ms = sum(r["ms"] for r in rows)
        full_ms = sum(r["full_ms"] for r in rows)
        slowest = sorted(rows, key=lambda r: r["full_ms"], reverse=True)[:3]
        groups = {}
        for r in rows:
            group = groups.setdefault(re.sub(r"\s+", " ", r["sql"]).strip(), [0, 0.0])
            group[0] += 1
            group[1] += r["full_ms"]
        profile = {
            "request_ms": round(profiled_ms, 2),
            "queries": len(rows),
            "sql_execute_ms": round(sql_ms, 2),
            "sql_ms": round(full_ms, 2),
            "statement_groups": [
                {"count": n, "ms": round(ms, 2), "sql": _short_sql(sql)[:240]}
                for sql, (n, ms) in sorted(groups.items(), key=lambda kv: -kv[1][1])[:5]],
            "slowest": [{"ms": round(r["full_ms"], 2), "execute_ms": round(r["ms"], 2),
                         "sql": _clip(r["sql"], 4000),
                         "params": _clip(r["params"], 60) if not r["executemany"]
                         else "(executemany)"}
                        for r in slowest],
        }
        if slowest and _is_select(slowest[0]):
            try:
                profile["slowest_plan"] = _explain(app, slowest[0]["sql"], slowest[0]["params"])
            except Exception as error:  # the plan is a diagnostic, never a failure
                profile["slowest_plan"] = [f"(EXPLAIN failed: {error})"]
        results[key]["profile"] = profile
        log(f"{label}: median {results[key]['median_ms']:.1f} ms, "
            f"p95 {results[key]['p95_ms']:.1f} ms ({len(rows)} queries, "
            f"{full_ms:.1f} ms in SQL)")

    # Full (generation 2) collections scan the whole heap, most of it the app's own import-time
    # objects: a request that happens to trigger one pays for it (it shows as an outlier).
    import gc

    started = time.perf_counter()
    gc.collect()
    heap = {"tracked_objects": len(gc.get_objects()),
            "full_gc_ms": round((time.perf_counter() - started) * 1000, 1)}

    info = {"backend": backend}
    with app.app_context():
        if backend == "postgresql":
            info["server_version"] = db.session.scalar(text("SELECT version()"))
        else:
            info["server_version"] = "SQLite " + db.session.scalar(
                text("SELECT sqlite_version()"))
        db.session.remove()
    return {
        "size": size,
        "institutions": institution_count,
        "load_average": {"before_timing": load_before, "after_timing": os.getloadavg()},
        "database": info,
        "counts": counts,
        "sqlite_file_bytes": db_bytes,
        "python_heap": heap,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "benchmark_institution": {
            "account": inst_account, "id": inst_id, "roster": roster_total,
            "filter_department_id": filter_department, "filter_rows": filter_expected,
            "last_page": last_page, "probe_physician_id": probe["id"],
            "batch_physicians": BATCH,
        },
        "urls": urls,
        "checks": checks,
        "results": results,
    }


# --- the parent: run each size, compare, report ----------------------------------------------


def _code_state():
    """The commit measured, and whether app code (outside bench/) differs from it."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return None

    changed = git("status", "--porcelain", "--", ".", ":(exclude)bench")
    return {
        "commit": (git("rev-parse", "--short", "HEAD") or "").strip() or None,
        "subject": (git("log", "-1", "--format=%s") or "").strip() or None,
        "uncommitted_changes": sorted(line[3:] for line in (changed or "").splitlines()),
    }


def _machine():
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    ram = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    import flask_appbuilder
    import sqlalchemy

    return {
        "cpu": cpu or "unknown",
        "cores": os.cpu_count(),
        "ram": ram or "unknown",
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "flask_appbuilder": getattr(flask_appbuilder, "__version__", "?"),
    }


def _rows(runs, sizes):
    rows = [{"key": key, "label": label,
             "by_size": {size: runs[str(size)]["results"][key] for size in sizes}}
            for key, label in MEASUREMENTS]
    _verdicts(rows, sizes)
    return rows


def render(path):
    """--render: write the .md of a .json result again (e.g. after changing the report)."""
    path = Path(path)
    report = json.loads(path.read_text())
    rows = _rows(report["runs"], report["sizes"])
    path.with_suffix(".md").write_text(_markdown(report, rows))
    print(f"written: {path.with_suffix('.md')}")
    return 0


def _verdicts(rows, sizes):
    base, top = sizes[0], sizes[-1]
    for row in rows:
        b, t = row["by_size"][base], row["by_size"][top]
        row["ratio"] = t["median_ms"] / b["median_ms"]
        row["p95_ok"] = t["p95_ms"] <= TARGET_P95_MS
        row["ratio_ok"] = row["ratio"] <= TARGET_RATIO
        row["verdict"] = "PASS" if row["p95_ok"] and row["ratio_ok"] else "FAIL"


def _table(rows, sizes):
    base, top = sizes[0], sizes[-1]
    head = ["Measurement"]
    for size in sizes:
        head += [f"{size:,} median ms", f"{size:,} p95 ms"]
    head += [f"ratio {top:,}/{base:,} (medians)", f"queries @{top:,}",
             f"p95 ≤ {TARGET_P95_MS:.0f} ms", f"≤ {TARGET_RATIO:.0f}×", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["label"]]
        for size in sizes:
            cells += [f"{row['by_size'][size]['median_ms']:.1f}",
                      f"{row['by_size'][size]['p95_ms']:.1f}"]
        cells += [f"{row['ratio']:.2f}", str(row["by_size"][top]["profile"]["queries"]),
                  "PASS" if row["p95_ok"] else "FAIL", "PASS" if row["ratio_ok"] else "FAIL",
                  f"**{row['verdict']}**"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _short_sql(sql):
    """One line; long column lists and IN (?, ?, …) lists shortened."""
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r"\((?:\?, ){8,}\?\)", lambda m: f"(?, …{m.group(0).count('?')} params)", sql)
    sql = re.sub(r"SELECT ((?:\w+\.\w+(?: AS \w+)?, ){6,}\w+\.\w+(?: AS \w+)?) FROM",
                 lambda m: f"SELECT <{m.group(1).count(',') + 1} columns> FROM", sql)
    return sql


def _markdown(report, rows):
    sizes = report["sizes"]
    top = sizes[-1]
    m = report["machine"]
    code = report.get("code") or {}
    out = [f"# Roster benchmark — {report['date']}", ""]
    out += [
        "Server time: each request is timed around the Flask test-client call, handled "
        "in-process (routing, login session, scoping, SQL, template rendering; no network, "
        "no browser). Median and p95 (nearest rank) over "
        f"{report['reps']} requests after {report['warmups']} warm-ups; the batch over "
        f"{report['batch_reps']} after {report['batch_warmups']}.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM; {m['os']}",
        f"- Python {m['python']}, SQLite library {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}, "
        f"Flask-AppBuilder {m['flask_appbuilder']}",
        f"- Database: {report['backend']} ({report['server_version']})",
        f"- Code: commit {code.get('commit')} ({code.get('subject')})" + (
            "; uncommitted changes in " + ", ".join(code["uncommitted_changes"])
            if code.get("uncommitted_changes") else ", no uncommitted changes"),
        "- Load average (1/5/15 min) when timing started, per size: " + "; ".join(
            f"{size:,}: " + "/".join(f"{x:.2f}" for x in
                                      report["runs"][str(size)]["load_average"]["before_timing"])
            for size in sizes) + " (other work on the machine shows up as noise)",
    ]
    for size in sizes:
        r = report["runs"][str(size)]
        c, t, b = r["counts"], r["timings_s"], r["benchmark_institution"]
        extra = (f", SQLite file {r['sqlite_file_bytes'] / 1e6:.0f} MB"
                 if r.get("sqlite_file_bytes") else "")
        heap = (f"; Python heap after the run {r['python_heap']['tracked_objects']:,} objects, "
                f"a full gc.collect() {r['python_heap']['full_gc_ms']:.0f} ms"
                if r.get("python_heap") else "")
        out.append(
            f"- Size {size:,}: {c['physicians']:,} physicians, {c['institutions']:,} "
            f"institutions, {c['accounts']:,} accounts, {c['enrollments']:,} enrollments"
            f"{extra}; generate_bulk {t['generate_bulk_s']:.1f} s (migrations + demo "
            f"province {t['migrate_and_seed_s']:.1f} s); benchmark institution "
            f"{b['account']} with {b['roster']} physicians (last page {b['last_page']}, "
            f"filtered list {b['filter_rows']} rows){heap}")
    if report.get("enrolled_fraction"):
        out.append(f"- Mid-cycle data (--enrolled {report['enrolled_fraction']:g}): that "
                   "fraction of the bulk physicians included in the current cycle, in a spread "
                   "of states")
    out += [
        "",
        f"Targets (from the issue): every page ≤ {TARGET_P95_MS:.0f} ms p95 at "
        f"{TARGET_SIZE:,} physicians, and ≤ {TARGET_RATIO:.0f}× its time at 1,000 "
        "(ratio of medians).",
    ]
    if top != TARGET_SIZE or sizes[0] != 1000:
        out.append(f"*This run's sizes are {', '.join(f'{s:,}' for s in sizes)}: the verdicts "
                   f"apply the targets to {top:,} vs {sizes[0]:,}, not to the issue's sizes.*")
    out += ["", _table(rows, sizes), ""]
    outliers = [(row, size) for row in rows for size in sizes
                if row["by_size"][size]["p95_ms"] > 3 * row["by_size"][size]["median_ms"]]
    if outliers:
        out += ["p95 more than 3× the median (one slow sample; a full garbage collection of "
                "the process, or other work on the machine):", ""]
        out += [f"- {row['label']} at {size:,}: samples "
                + ", ".join(f"{x:.0f}" for x in row["by_size"][size]["samples_ms"]) + " ms"
                for row, size in outliers]
        out.append("")
    out += ["## Where the time goes at the largest size", "",
            "One extra (untimed) request per measurement, at the largest size, with every SQL "
            "statement captured. A statement's time is the larger of its execute time in the "
            "request and the time to run it again on its own with every row fetched (SQLite "
            "computes the rows after the first one while they are fetched, outside execute); "
            "\"in SQL\" is their sum.", "",
            "| Measurement | request ms | queries | in SQL ms | slowest statement ms |",
            "|---|---|---|---|---|"]
    for row in rows:
        p = row["by_size"][top]["profile"]
        slowest = p["slowest"][0]["ms"] if p["slowest"] else 0
        out.append(f"| {row['label']} | {p['request_ms']:.1f} | {p['queries']} | "
                   f"{p['sql_ms']:.1f} | {slowest:.1f} |")
    out.append("")
    for row in rows:
        if row["verdict"] == "PASS":
            continue
        profile = row["by_size"][top]["profile"]
        out.append(f"### {row['label']} — {row['verdict']}")
        out.append("")
        out.append(f"{profile['request_ms']:.1f} ms request, {profile['queries']} queries, "
                   f"{profile['sql_ms']:.1f} ms in SQL.")
        out.append("")
        repeated = [g for g in profile.get("statement_groups", []) if g["count"] > 1]
        if repeated:
            out += ["Statements run more than once:", ""]
            out += [f"- {g['count']}× ({g['ms']:.1f} ms in all) `{_short_sql(g['sql'])} …`"
                    for g in repeated]
            out.append("")
        out += ["Slowest statements:", ""]
        for s in profile["slowest"]:
            params = s["params"]
            params = params if isinstance(params, str) else json.dumps(
                params, ensure_ascii=False, default=str)
            if len(params) > 200:
                params = params[:200] + " …"
            out += [f"- {s['ms']:.1f} ms (execute {s['execute_ms']:.1f} ms), params "
                    f"`{params}`", "", "  ```sql",
                    f"  {_short_sql(s['sql'])}", "  ```", ""]
        if profile.get("slowest_plan"):
            out += ["Query plan of the slowest:", "", "```"]
            out += profile["slowest_plan"]
            out += ["```", ""]
    return "\n".join(out) + "\n"


def run_parent(args):
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    assert len(sizes) >= 2, "--sizes needs two sizes (the first is the baseline)"
    backend = "postgresql" if args.database_url else "sqlite"
    date = datetime.date.today().isoformat()
    print(f"Roster benchmark on {backend}, sizes {', '.join(f'{s:,}' for s in sizes)}; server "
          "time = the whole request handled in-process by Flask's test client.", flush=True)
    code = _code_state()
    if args.code_commit:  # measuring an export of a commit (no .git of its own)
        code = {"commit": args.code_commit, "subject": "exported tree",
                "uncommitted_changes": []}
    runs = {}
    for size in sizes:
        institutions = args.institutions or institutions_for(size)
        print(f"size {size:,} physicians in {institutions:,} bulk institutions", flush=True)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            result_file = handle.name
        command = [sys.executable, str(Path(__file__).resolve()), "--worker",
                   str(size), str(institutions), "--result-file", result_file,
                   "--reps", str(args.reps), "--warmups", str(args.warmups),
                   "--batch-reps", str(args.batch_reps),
                   "--batch-warmups", str(args.batch_warmups),
                   "--enrolled", str(args.enrolled)]
        if args.database_url:
            command += ["--database-url", args.database_url]
        if args.keep:
            command.append("--keep")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
        subprocess.run(command, check=True, cwd=ROOT, env=env)
        runs[str(size)] = json.loads(Path(result_file).read_text())
        os.unlink(result_file)

    rows = _rows(runs, sizes)
    top_run = runs[str(sizes[-1])]
    report = {
        "date": date,
        "backend": backend,
        "server_version": top_run["database"]["server_version"],
        "sizes": sizes,
        "enrolled_fraction": args.enrolled,
        "reps": args.reps, "warmups": args.warmups,
        "batch_reps": args.batch_reps, "batch_warmups": args.batch_warmups,
        "timing": "server time: the whole request handled in-process by Flask's test client",
        "targets": {"p95_ms_at_largest": TARGET_P95_MS, "max_ratio_of_medians": TARGET_RATIO,
                    "target_size": TARGET_SIZE},
        "machine": _machine(),
        "code": code,
        "runs": runs,
        "summary": [{
            "key": r["key"], "label": r["label"],
            **{f"median_ms_{s}": round(r["by_size"][s]["median_ms"], 2) for s in sizes},
            **{f"p95_ms_{s}": round(r["by_size"][s]["p95_ms"], 2) for s in sizes},
            "ratio_of_medians": round(r["ratio"], 3),
            "p95_ok": r["p95_ok"], "ratio_ok": r["ratio_ok"], "verdict": r["verdict"],
        } for r in rows],
    }

    print()
    print("Server time per request (in-process, Flask test client), ms:")
    print(_table(rows, sizes))
    print()
    for size in sizes:
        t = runs[str(size)]["timings_s"]
        print(f"data set {size:,}: generate_bulk {t['generate_bulk_s']:.1f} s, migrations + "
              f"demo province {t['migrate_and_seed_s']:.1f} s, bench set-up "
              f"{t['bench_setup_s']:.1f} s")

    if not args.no_write:
        name = f"roster-{date}"
        if backend != "sqlite":
            name += f"-{backend}"
        if tuple(sizes) != DEFAULT_SIZES:
            name += "-" + "-".join(str(s) for s in sizes)
        if args.enrolled:
            name += f"-enrolled{args.enrolled:g}"
        if args.suffix:
            name += f"-{args.suffix}"
        outdir = Path(args.output_dir) if args.output_dir else ROOT / "bench" / "results"
        outdir.mkdir(parents=True, exist_ok=True)
        (outdir / f"{name}.json").write_text(
            json.dumps(report, ensure_ascii=False, indent=1, default=str) + "\n")
        (outdir / f"{name}.md").write_text(_markdown(report, rows))
        print(f"\nwritten: {outdir / (name + '.md')} and .json")
    failed = [r["label"] for r in rows if r["verdict"] != "PASS"]
    print(f"{len(rows) - len(failed)}/{len(rows)} measurements meet the targets"
          + (f"; FAIL: {'; '.join(failed)}" if failed else ""))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                        help="comma-separated physician counts; the smallest is the baseline "
                             "(default 1000,330000)")
    parser.add_argument("--institutions", type=int, default=0,
                        help="bulk institutions for every size (default: 10 up to 2,000 "
                             "physicians, else physicians/110)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="run on this (empty, throw-away) PostgreSQL database instead of "
                             "SQLite files; everything in it is dropped")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--batch-reps", type=int, default=7)
    parser.add_argument("--batch-warmups", type=int, default=1)
    parser.add_argument("--enrolled", type=float, default=0.0, metavar="FRACTION",
                        help="also include this fraction of the bulk physicians in the current "
                             "cycle, in a spread of states, as mid-cycle (default 0: "
                             "generate_bulk's data as is, only the demo's 14 enrollments)")
    parser.add_argument("--output-dir", help="where to write the .md/.json (bench/results)")
    parser.add_argument("--suffix", help="appended to the result file names")
    parser.add_argument("--code-commit", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite temp dirs")
    parser.add_argument("--render", metavar="RESULT.json",
                        help="only write the .md of an earlier .json result again")
    parser.add_argument("--worker", nargs=2, type=int, metavar=("SIZE", "INSTITUTIONS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    if args.render:
        return render(args.render)
    return run_parent(args)


if __name__ == "__main__":
    sys.exit(main())

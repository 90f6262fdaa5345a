"""The province's 报名进度 export at 1,000 and 330,000 physicians (issues 9 and 14), against bare
xlsxwriter writing the same rows and columns, in one run.

Data per size: a copy of bench/pages.py's SQLite file (``--source``, never altered: it is
copied into ``--data-dir`` and the copy is migrated to the head), or, when there is none, a
database built as bench/pages.py builds one (migrations, roles, the demo province,
``generate_bulk(N, N/110)``); then every physician not yet in the current cycle is
included (``app.cli.enroll_share(--enrolled)``, default 1.0: all 330,000 physicians in the
export) and ``ANALYZE``. With ``--database-url`` (PostgreSQL) the data is built in databases
``<name>_export_<N>`` next to the given one.

Each measurement runs in its own child process, so that its peak RSS (``ru_maxrss``) is its own:

- ``job``: the export as an RQ worker runs it. The child creates the app as a worker does
  (``app.jobs._app``), records the export for the demo ``province`` account through
  ``commands.export.request_export`` (no filter, or with filters), queues
  ``app.jobs.run_export`` and runs it with an RQ ``SimpleWorker`` (``burst``) on the embedded
  Redis; every progress report the job writes to Redis is recorded (rows, seconds).
- ``bare``: the baseline, bare xlsxwriter (``constant_memory``) writing the same columns
  (row number, name, ID number, institution, department, category, level, procedure, state,
  submitted at, result: raw values, as they come) read by one plain SELECT with the same joins
  in chunks of 2,000 (``fetchmany``; a server-side cursor on PostgreSQL).

``--repeat N`` runs bare, the job (and the job of ``--before-root``, a checkout of the code
before a change) N times each, interleaved, and reports the medians. Recorded: wall and CPU
time (``time.process_time``) of the export itself (inside the job function; the worker's whole
run beside it), the process's RSS before it and its peak (``ru_maxrss``), rows, file size, the
progress reports and their largest gap (target ≤ 5 % of the rows). Each written file is
checked: its data rows (counted from the sheet's XML) equal SQL's count, and the job's file is
opened with openpyxl (read-only) for its first line, header, masked ID numbers and dates.
``--profile`` runs one more job under cProfile and keeps the top functions. Results:
bench/results/export-<date>[-<suffix>].md and .json.
"""
import argparse
import datetime
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_SIZES = (1000, 330000)
TARGET_RATIO = 1.5
TARGET_RSS_MB = 200
TARGET_STEP = 0.05
CHUNK = 2000
# 报名进度 filtered as a user would: 待参加考核 in departments named 内科 (as bench/pages.py).
FILTERED = {"_flt_0_state": "awaiting_exam", "_flt_2_id": "内科"}

BARE_SQL = """
SELECT p.name, p.id_number, i.name, d.name, p.practice_category, p.level, e.procedure,
       e.state, e.submitted_at, e.result
FROM enrollment e
JOIN physician p ON p.id = e.physician_id
JOIN institution i ON i.id = e.institution_id
LEFT JOIN department d ON d.id = p.department_id
ORDER BY e.institution_id, e.id
"""
BARE_HEADERS = ["序号", "姓名", "证件号码", "机构", "科室", "执业类别", "医师级别", "考核程序",
                "报名状态", "提交时间", "考核结果"]


def _rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- data ------------------------------------------------------------------------------------


def _env(url, workdir):
    return {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-secret-" + "x" * 32,
            "DINGKAO_VAR_DIR": str(workdir / "var"), "UPLOAD_DIR": str(workdir / "uploads"),
            "JOB_RETRIES": "0", "PYTHONPATH": str(ROOT)}


def _database(args, size):
    """(URL, SQLite path or None) of the size's data."""
    if args.database_url:
        from sqlalchemy.engine import make_url

        url = make_url(args.database_url)
        return url.set(database=f"{url.database}_export_{size}").render_as_string(
            hide_password=False), None
    path = Path(args.data_dir) / f"export-{size}-enrolled{args.enrolled}.db"
    return f"sqlite:///{path}", path


def _build(size):
    """A database of ``size`` bulk physicians as bench/pages.py builds one, less what the
    export does not read (exam attempts, re-review assignments): migrations, roles, the demo
    province, ``generate_bulk(N, N/110)``; the share is enrolled by the caller."""
    from bench.roster import institutions_for
    from flask_migrate import upgrade

    from app import demo
    from app.cli import ensure_roles
    from app.extensions import db

    started = time.perf_counter()
    upgrade()
    ensure_roles()
    demo.seed_demo_province()
    demo.generate_bulk(size, institutions_for(size))
    db.session.commit()
    print(f"  [{size:,}] built in {time.perf_counter() - started:.1f} s", flush=True)


def prepare_worker(args):
    """Child: bring the size's data to the head and enroll the share (built if missing)."""
    from bench.pages import _app
    from flask_migrate import upgrade

    from app.cli import enroll_share
    from app.extensions import analyze

    size = args.worker
    workdir = Path(tempfile.mkdtemp(prefix="dingkao-bench-export-"))
    app = _app(args.url, workdir)
    started = time.perf_counter()
    with app.app_context():
        if args.build:
            _build(size)
        upgrade()
        added = enroll_share(args.enrolled)
        analyze()
    print(f"  [{size:,}] ready in {time.perf_counter() - started:.1f} s "
          f"({added:,} more enrollments)", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)


def prepare(args, size):
    url, path = _database(args, size)
    build = False
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            source = Path(args.source.format(size=size))
            if source.exists():
                # A copy of the shared file (and its WAL): the shared one is never written.
                print(f"  [{size:,}] copying {source}", flush=True)
                shutil.copyfile(source, path)
                wal = Path(f"{source}-wal")
                if wal.exists():
                    shutil.copyfile(wal, Path(f"{path}-wal"))
            else:
                build = True
    else:
        from sqlalchemy import create_engine, text

        admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
        name = url.rsplit("/", 1)[1]
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                build = True
        admin.dispose()
    command = [sys.executable, __file__, "--worker", str(size), "--mode", "prepare",
               "--url", url, "--enrolled", str(args.enrolled)] + (["--build"] if build else [])
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return url, path


# --- the measured children -------------------------------------------------------------------


class _Recording:
    """The Redis client the job writes its progress through, recording each report."""

    def __init__(self, real, reports, started):
        self._real, self._reports, self._started = real, reports, started

    def hset(self, key, field=None, value=None, mapping=None, **kwargs):
        done = value if field == "done" else (mapping or {}).get("done")
        if done is not None:
            self._reports.append((int(done), round(time.perf_counter() - self._started[0], 3)))
        return self._real.hset(key, field, value, mapping=mapping, **kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


def job_worker(args):
    """Child: the export job as the worker runs it (see the module's docstring)."""
    rss_start = _rss_mb()
    import logging

    from rq import SimpleWorker

    from app import jobs
    from app.extensions import db
    from commands import export as exporting
    from models import AppUser, ExportJob
    from security import scope

    app = jobs._app()  # what the worker's first job does: the app, once per process
    filters = FILTERED if args.filtered else {}
    with app.app_context():
        jobs.connection().flushdb()
        user = db.session.query(AppUser).filter_by(username="province").one()
        export_id = exporting.request_export(scope.actor_for(user), "enrollment_progress",
                                             filters, "; ".join(f"{k}={v}" for k, v in
                                                                 filters.items()), "zh")
        rq_job = jobs.enqueue(jobs.run_export, export_id)
        exporting.queued(export_id, rq_job.id)
        redis = jobs.connection()
        db.session.remove()
    reports, started = [], [0.0]
    real_connection = jobs.connection
    jobs.connection = lambda app=None: _Recording(real_connection(app), reports, started)
    worker = SimpleWorker([jobs.queue("default", app)], connection=redis)
    logging.getLogger("rq.worker").setLevel(logging.WARNING)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    # The job function's own time (RQ resolves "app.jobs.run_export" when it runs the job);
    # the worker's (its start, its pub/sub thread, its end) is kept beside it.
    real_run, timing = jobs.run_export, {}

    def timed(*job_args):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return real_run(*job_args)
        finally:
            timing.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)

    jobs.run_export = timed
    rss_before = _rss_mb()
    started[0] = time.perf_counter()
    worker_cpu = time.process_time()
    if profiler:
        profiler.enable()
    worker.work(burst=True)
    if profiler:
        profiler.disable()
    worker_wall = time.perf_counter() - started[0]
    worker_cpu = time.process_time() - worker_cpu
    wall, cpu = timing["wall"], timing["cpu"]
    peak = _peak_mb()
    jobs.connection, jobs.run_export = real_connection, real_run
    with app.app_context():
        export = db.session.get(ExportJob, export_id)
        path = (app.config["UPLOAD_DIR"] / export.file.storage_name) if export.file else None
        result = {"status": export.status, "reason": export.reason, "rows": export.rows_done,
                  "rows_total": export.rows_total, "file": str(path) if path else None,
                  "file_bytes": path.stat().st_size if path else 0,
                  "started_s": round((export.started_at - export.created_at).total_seconds(), 3)}
    import models.reports

    result["code"] = str(Path(models.reports.__file__).parent.parent)
    result.update(wall_s=round(wall, 3), cpu_s=round(cpu, 3),
                  worker_wall_s=round(worker_wall, 3), worker_cpu_s=round(worker_cpu, 3),
                  rss_start_mb=round(rss_start, 1),
                  rss_before_mb=round(rss_before, 1), peak_rss_mb=round(peak, 1),
                  progress=reports, filters=filters)
    if profiler:
        import io
        import pstats

        for order in ("tottime", "cumulative"):
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(30)
            result[f"profile_{order}"] = text.getvalue()
    Path(args.result_file).write_text(json.dumps(result, ensure_ascii=False, default=str))


def bare_worker(args):
    """Child: the baseline, bare xlsxwriter over a plain SELECT read in chunks."""
    rss_start = _rss_mb()
    import xlsxwriter

    url, out = args.url, Path(args.output)
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split("///", 1)[1])
        cursor = conn.cursor()
    else:
        import psycopg2
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        conn = psycopg2.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                                password=parsed.password, dbname=parsed.database)
        cursor = conn.cursor(name="bare_export")  # server-side: rows come in chunks
        cursor.itersize = CHUNK
    count_cursor = conn.cursor()
    count_cursor.execute("SELECT count(*) FROM enrollment")
    sql_count = count_cursor.fetchone()[0]
    rss_before = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    book = xlsxwriter.Workbook(str(out), {"constant_memory": True})
    sheet = book.add_worksheet("报名进度")
    sheet.write_row(0, 0, BARE_HEADERS)
    cursor.execute(BARE_SQL)
    line = 0
    while True:
        chunk = cursor.fetchmany(CHUNK)
        if not chunk:
            break
        for row in chunk:
            line += 1
            sheet.write_row(line, 0, (line,) + tuple(row))
    book.close()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    Path(args.result_file).write_text(json.dumps({
        "status": "done", "rows": line, "sql_count": sql_count, "file": str(out),
        "file_bytes": out.stat().st_size, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "rss_start_mb": round(rss_start, 1), "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(_peak_mb(), 1)}))


def run_worker(args):
    if args.code_root:  # the same measurement on another version of the code (--before-root)
        sys.path.insert(0, args.code_root)
    if args.mode == "prepare":
        return prepare_worker(args)
    if args.mode == "job":
        return job_worker(args)
    return bare_worker(args)


# --- checks ----------------------------------------------------------------------------------


def sheet_rows(path):
    """The rows of the workbook's first sheet, counted from its XML (streamed)."""
    count, tail = 0, b""
    with zipfile.ZipFile(path) as archive, archive.open("xl/worksheets/sheet1.xml") as xml:
        for block in iter(lambda: xml.read(1 << 20), b""):
            data = tail + block
            count += data.count(b"<row ")
            tail = data[-4:]
            count -= tail.count(b"<row ")  # counted again with the next block
    return count + tail.count(b"<row ")


def check_job_file(path):
    """The first line, header and first data rows of the job's workbook, via openpyxl."""
    try:
        from openpyxl import load_workbook
    except ImportError:
        return {"openpyxl": False}
    with open(path, "rb") as stream:  # a stored file has no .xlsx suffix
        book = load_workbook(stream, read_only=True)
        sheet = book.worksheets[0]
        rows = list(sheet.iter_rows(min_row=1, max_row=12, values_only=True))
        title = sheet.title
        book.close()
    data = rows[2:]
    return {"sheet": title, "first_line": rows[0][0], "header": list(rows[1]),
            "ids_masked": bool(data) and all("*" in (row[2] or "") for row in data),
            "dates_are_dates": all(isinstance(row[9], (datetime.datetime, type(None)))
                                   for row in data),
            "sample": [list(map(str, row)) for row in data[:2]]}


def sql_count(url, filtered):
    """SQL's count of the province's enrollments (all of them: the province is the whole data),
    and with the filters: 待参加考核 and a department named 内科."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        if not filtered:
            value = conn.execute(text("SELECT count(*) FROM enrollment")).scalar()
        else:
            value = conn.execute(text(
                "SELECT count(*) FROM enrollment e JOIN physician p ON p.id = e.physician_id "
                "JOIN department d ON d.id = p.department_id "
                "WHERE e.state = 'awaiting_exam' AND d.name = '内科'")).scalar()
    engine.dispose()
    return value


def largest_step(reports, total):
    """The largest number of rows between two progress reports (from 0 to the last)."""
    done = [0] + [rows for rows, _s in reports]
    steps = [b - a for a, b in zip(done, done[1:])]
    return max(steps) if steps else total


def largest_pause(reports):
    seconds = [0.0] + [s for _rows, s in reports]
    return max((b - a for a, b in zip(seconds, seconds[1:])), default=0.0)


# --- the run ---------------------------------------------------------------------------------


def measure(args, size, url, mode, workdir=None, filtered=False, profile=False, code_root=None):
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    command = [sys.executable, __file__, "--worker", str(size), "--mode", mode, "--url", url,
               "--result-file", str(out), "--output", str(workdir / f"bare-{size}.xlsx")]
    command += ["--filtered"] if filtered else []
    command += ["--profile"] if profile else []
    env = _env(url, workdir)
    if code_root:
        command += ["--code-root", code_root]
        env["PYTHONPATH"] = code_root
    subprocess.run(command, check=True, cwd=code_root or ROOT, env=env)
    result = json.loads(out.read_text())
    out.unlink()
    result["load_average"] = os.getloadavg()
    if result.get("file"):
        rows = sheet_rows(result["file"])
        result["sheet_rows"] = rows - (2 if mode == "job" else 1)
        if mode == "job":
            result["check"] = check_job_file(result["file"])
            result["sql_count"] = sql_count(url, filtered)
            total = result["rows_total"] or 0
            result["largest_step_rows"] = largest_step(result["progress"], total)
            result["largest_step_share"] = round(
                result["largest_step_rows"] / total, 4) if total else 0
            result["largest_pause_s"] = largest_pause(result["progress"])
        result["rows_match_sql"] = result["sheet_rows"] == result["sql_count"] == result["rows"]
    label = (f"{mode}{'-filtered' if filtered else ''}{'-profile' if profile else ''}"
             f"{'-before' if code_root else ''}")
    print(f"  [{size:,}] {label:20} rows {result.get('rows'):>8,} wall {result['wall_s']:7.2f} s"
          f" cpu {result['cpu_s']:7.2f} s peak RSS {result['peak_rss_mb']:6.1f} MB "
          f"(before {result['rss_before_mb']:.1f}) file {result['file_bytes'] / 1e6:.1f} MB "
          f"rows match SQL: {result.get('rows_match_sql')}", flush=True)
    return result


def _median_of(results):
    """One measurement repeated: the run of median wall time stands for it, with the median
    CPU time, the largest peak RSS and every sample."""
    import statistics

    ordered = sorted(results, key=lambda result: result["wall_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen.update(
        wall_s=round(statistics.median(r["wall_s"] for r in results), 3),
        cpu_s=round(statistics.median(r["cpu_s"] for r in results), 3),
        peak_rss_mb=max(r["peak_rss_mb"] for r in results),
        wall_samples=[r["wall_s"] for r in results], cpu_samples=[r["cpu_s"] for r in results],
        rows_match_sql=all(r["rows_match_sql"] for r in results))
    if "largest_step_share" in chosen:
        worst = max(results, key=lambda r: r["largest_step_share"])
        chosen.update(largest_step_rows=worst["largest_step_rows"],
                      largest_step_share=worst["largest_step_share"])
    return chosen


def _machine():
    from bench.pages import _machine as machine

    return machine()


def _markdown(report):
    lines = [f"# 报名进度 export at province scale — {report['date']} ({report['backend']})", "",
             "Each measurement in its own child process. `job`: `app.jobs.run_export` run by an "
             "RQ `SimpleWorker` (burst) as the demo `province` account, timed inside the job function "
             "(`worker_wall_s` in the JSON adds the worker's start and end); `bare`: xlsxwriter "
             "`constant_memory` writing the same 11 columns from one plain SELECT read in chunks "
             f"of {CHUNK:,}. bare, job-before (the code before the change, when measured) and job "
             f"run {report.get('repeat', 1)} time(s) each, interleaved; medians. "
             "Wall and CPU time of the export only; peak RSS is the child's "
             "`ru_maxrss` (the app and the worker included), `before` its RSS when the export "
             f"started. Targets: job ≤ {TARGET_RATIO}× bare (wall), peak RSS ≤ "
             f"{TARGET_RSS_MB} MB, progress at least every {TARGET_STEP:.0%} of the rows. The "
             "time ratio is judged at the largest size only: at 1,000 rows the job's fixed "
             "costs (its records, the count, the file's checksum) outweigh the rows.", "",
             "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in report["machine"].items()]
    lines += ["", "## Data", ""]
    for size, run in report["runs"].items():
        lines.append(f"- {int(size):,} physicians: {run['counts']}; load average at start "
                     f"{', '.join(f'{x:.2f}' for x in run['load_average'])}")
    lines += ["", "## Results", "",
              "| size | export | rows | wall s | CPU s | ×bare (wall) | ×bare (CPU) | peak RSS MB "
              "(before) | file MB | progress reports | largest gap | rows = SQL | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for size, run in report["runs"].items():
        bare = run["bare"]
        for key, result in run.items():
            if key in ("counts", "load_average") or not isinstance(result, dict):
                continue
            ratio = result["wall_s"] / bare["wall_s"] if bare["wall_s"] else 0
            cpu_ratio = result["cpu_s"] / bare["cpu_s"] if bare["cpu_s"] else 0
            if key == "bare":
                gap, reports, verdict = "", "", ""
            else:
                gap = (f"{result['largest_step_rows']:,} ({result['largest_step_share']:.1%}), "
                       f"{result['largest_pause_s']:.1f} s")
                reports = len(result["progress"])
                ok = (result["largest_step_share"] <= TARGET_STEP
                      and result["peak_rss_mb"] <= TARGET_RSS_MB and result["rows_match_sql"])
                if key in ("job", "job-before") and int(size) == max(report["sizes"]):
                    ok = ok and ratio <= TARGET_RATIO  # the province-scale target
                verdict = "PASS" if ok else "FAIL"
            lines.append(
                f"| {int(size):,} | {key} | {result['rows']:,} | {result['wall_s']:.2f} | "
                f"{result['cpu_s']:.2f} | {ratio:.2f} | {cpu_ratio:.2f} | "
                f"{result['peak_rss_mb']:.0f} ({result['rss_before_mb']:.0f}) | "
                f"{result['file_bytes'] / 1e6:.1f} | {reports} | {gap} | "
                f"{result['rows_match_sql']} | {verdict} |")
    for size, run in report["runs"].items():
        repeated = {key: result for key, result in run.items()
                    if isinstance(result, dict) and len(result.get("wall_samples", [])) > 1}
        if repeated:
            lines += ["", f"Samples at {int(size):,} (wall s / CPU s, in the order run):", ""]
            lines += [f"- {key}: " + ", ".join(f"{w:.1f} / {c:.1f}" for w, c in zip(
                result["wall_samples"], result["cpu_samples"])) for key, result in
                repeated.items()]
    lines += ["", "The job's `largest gap` is the most rows (and seconds) between two progress "
              "reports, from 0 to the last; `rows = SQL` compares the rows in the sheet's XML, "
              "the rows the export says it wrote and SQL's count.", ""]
    for size, run in report["runs"].items():
        job = run.get("job")
        if job and job.get("check"):
            check = job["check"]
            lines += [f"### The job's workbook at {int(size):,}", "",
                      f"- sheet `{check.get('sheet')}`; first line: {check.get('first_line')}",
                      f"- header: {check.get('header')}",
                      f"- ID numbers masked: {check.get('ids_masked')}; dates are dates: "
                      f"{check.get('dates_are_dates')}",
                      f"- first row: {check.get('sample', [''])[0] if check.get('sample') else ''}",
                      f"- progress reports (rows, s): {job['progress'][:6]} … "
                      f"{job['progress'][-3:]}", ""]
        profiled = run.get("job-profile")
        if profiled and profiled.get("profile_tottime"):
            lines += [f"### cProfile of the job at {int(size):,} (tottime, top 30)", "", "```",
                      profiled["profile_tottime"].strip()[:6000], "```", ""]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--enrolled", type=float, default=1.0)
    parser.add_argument("--source", default="/tmp/dk-pages/pages-{size}-enrolled0.8.db")
    parser.add_argument("--data-dir", default="/var/tmp/dingkao-bench-export")
    parser.add_argument("--database-url", help="PostgreSQL: data in <name>_export_<N>")
    parser.add_argument("--output-dir", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--suffix", default="")
    parser.add_argument("--profile", action="store_true", help="one more job under cProfile")
    parser.add_argument("--repeat", type=int, default=1,
                        help="bare, job-before and job this many times each, interleaved")
    parser.add_argument("--no-filtered", action="store_true")
    parser.add_argument("--keep-files", action="store_true")
    parser.add_argument("--before-root", help="a checkout of the code before a change: its "
                        "job is measured too, in the same run (`job-before`)")
    parser.add_argument("--code-root", help=argparse.SUPPRESS)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--filtered", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--render", help="only write the .md of an earlier .json again")
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)
    if args.render:
        source = Path(args.render)
        source.with_suffix(".md").write_text(_markdown(json.loads(source.read_text())))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    backend = "postgresql" if args.database_url else "sqlite"
    runs = {}
    for size in sizes:
        url, _path = prepare(args, size)
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
                      for table in ("physician", "institution", "department", "enrollment")}
        engine.dispose()
        workdir = Path(tempfile.mkdtemp(prefix=f"dingkao-bench-export-{size}-"))
        run = {"counts": counts, "load_average": os.getloadavg()}
        # bare, (job-before,) job, again --repeat times, interleaved: each gets the same
        # share of whatever else the machine is doing.
        order = [("bare", {"mode": "bare"})]
        if args.before_root:
            order.append(("job-before", {"mode": "job", "code_root": args.before_root}))
        order.append(("job", {"mode": "job"}))
        samples = {key: [] for key, _options in order}
        for _round in range(args.repeat):
            for key, options in order:
                samples[key].append(measure(args, size, url, workdir=workdir, **options))
        for key, results in samples.items():
            run[key] = _median_of(results)
        if not args.no_filtered:
            run["job-filtered"] = measure(args, size, url, "job", workdir, filtered=True)
        if args.profile:
            run["job-profile"] = measure(args, size, url, "job", workdir, profile=True)
        runs[str(size)] = run
        if not args.keep_files:
            shutil.rmtree(workdir, ignore_errors=True)
    date = datetime.date.today().isoformat()
    report = {"date": date, "backend": backend, "sizes": sizes, "enrolled": args.enrolled,
              "repeat": args.repeat,
              "machine": _machine(), "before_root": args.before_root, "runs": runs}
    suffix = args.suffix or ("-postgresql" if args.database_url else "")
    name = f"export-{date}{suffix}"
    output = Path(args.output_dir)
    (output / f"{name}.json").write_text(json.dumps(report, ensure_ascii=False, indent=1,
                                                    default=str))
    (output / f"{name}.md").write_text(_markdown(report))
    print(_markdown(report))
    return 0 if all(re.search(r"\| PASS \|", line) for line in
                    _markdown(report).splitlines() if "| job |" in line) else 1


if __name__ == "__main__":
    sys.exit(main())

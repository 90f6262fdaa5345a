"""监考 face checks: snapshots checked per second by one RQ face-check worker, against the raw
pipeline (the same models called in a loop on the same pictures, in this process) in the same
run, and by two workers against one.

    PYTHONPATH=. .venv/bin/python bench/facecheck.py [--snapshots 200]

What it does: a throw-away SQLite database with the demo province; 王医生 with a registered
photo and one attempt; N snapshots stored like the exam page stores them (480×360 JPEG: the
physician, another person, two people, no face). Then

1. raw: ``FaceChecker.check`` on the same bytes in a loop (one thread, models loaded);
2. one worker: `flask dingkao facecheck-worker` started and ready (models loaded), the N checks
   queued on the embedded Redis, timed from the queueing until the database shows all checked;
3. two workers: the same with two worker processes (the checks reset and queued again).

Goals (issue 12): one worker ≥ 80 % of the raw pipeline; two workers ≥ 1.6 × one worker.
Results go to bench/results/facecheck-<date>.json and .md, with the capacity a province sitting
needs (physicians / snapshot interval) and the workers that takes.
"""
import argparse
import datetime
import io
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="dingkao-bench-facecheck-"))
os.environ["DINGKAO_VAR_DIR"] = str(WORK / "var")


def pictures():
    """The pictures of a sitting: mostly the physician, some others, two people, no face."""
    import cv2

    from tests import faces

    def camera(image):
        # As the exam page sends them: 480 wide, JPEG.
        height, width = image.shape[:2]
        scale = 480 / width
        return faces.jpeg(cv2.resize(image, (480, int(height * scale))), quality=85)

    same = faces.augmented(faces.grace_hopper())
    return [camera(same), camera(faces.grace_hopper()), camera(same), camera(faces.astronaut()),
            camera(faces.side_by_side(faces.grace_hopper(), same)), camera(faces.non_face())]


def build(app, count):
    """The province, 王医生 with a photo and an attempt, ``count`` stored snapshots."""
    from flask_migrate import upgrade
    from werkzeug.datastructures import FileStorage

    from app import demo, storage
    from app.cli import ensure_roles
    from app.extensions import db
    from models import Enrollment, ExamAttempt, Paper, Physician, Snapshot, workflow
    from tests import faces

    with app.app_context():
        if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            db.drop_all()  # a throw-away PostgreSQL database
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()
        ensure_roles()
        demo.seed_demo_province()
        demo.seed_demo_exams()
        enrollment = db.session.query(Enrollment).join(Physician).filter(
            Physician.name == "王医生").one()
        enrollment.procedure = "simple"
        workflow.force(enrollment, "awaiting_exam", reason="bench set-up")
        physician = enrollment.physician
        upload = FileStorage(io.BytesIO(faces.jpeg(faces.grace_hopper())), filename="photo.jpg")
        physician.photo, physician.photo_thumb = storage.save_photo(upload, physician.id)
        paper = db.session.query(Paper).filter(Paper.is_mock.is_(False)).first()
        attempt = ExamAttempt(paper=paper, enrollment=enrollment, number=1,
                              started_at=datetime.datetime.now(),
                              deadline=datetime.datetime.now() + datetime.timedelta(hours=1),
                              question_ids=[], option_orders={})
        db.session.add(attempt)
        db.session.flush()
        shots = pictures()
        for index in range(count):
            stored = storage.save_upload(
                FileStorage(io.BytesIO(shots[index % len(shots)]), filename="snapshot.jpg"),
                storage.Policy((storage.JPEG,), 512 * 1024), "snapshot",
                institution_id=enrollment.institution_id)
            db.session.add(Snapshot(attempt=attempt, file=stored))
        db.session.commit()
        reference = (app.config["UPLOAD_DIR"] / physician.photo_thumb.storage_name).read_bytes()
        db.session.remove()
    return shots, reference


def raw_rate(app, shots, reference, count):
    from app.facecheck import FaceChecker, Settings

    checker = FaceChecker(threads=app.config["FACE_CHECK_THREADS"])
    settings = Settings.from_config(app.config)
    for data in shots:  # warm-up, and the reference embedding cached as in a worker
        checker.check(data, reference, settings)
    started, cpu = time.perf_counter(), time.process_time()
    for index in range(count):
        checker.check(shots[index % len(shots)], reference, settings)
    elapsed = time.perf_counter() - started
    RAW_CPU.append((time.process_time() - cpu) / count)
    checker.close()
    return count / elapsed, elapsed


# CPU seconds per check (raw loop; workers): what a check costs whatever else the machine runs.
RAW_CPU, WORKER_CPU = [], {}


def _cpu(processes):
    import psutil

    total = 0.0
    for process in processes:
        times = psutil.Process(process.pid).cpu_times()
        total += times.user + times.system
    return total


def _env(app):
    from app import jobs

    return dict(os.environ, FLASK_APP="run.py", PYTHONPATH=str(ROOT),
                DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
                UPLOAD_DIR=str(app.config["UPLOAD_DIR"]), REDIS_URL=jobs.redis_url(app),
                SECRET_KEY="bench-secret-key-of-enough-length-0123456789abcdef")


def worker_rate(app, workers, count):
    """Start ``workers`` face-check workers, wait until they listen, queue every snapshot's
    check, time until all are checked."""
    from rq import Worker
    from sqlalchemy import func, select, update

    from app import jobs
    from app.extensions import db
    from models import Snapshot

    face_queue = jobs.queue(jobs.FACE_CHECK_QUEUE, app)
    with app.app_context():
        db.session.execute(update(Snapshot).values(checked_at=None))
        db.session.commit()
        ids = db.session.scalars(select(Snapshot.id).order_by(Snapshot.id)).all()
    face_queue.empty()
    processes = [subprocess.Popen([sys.executable, "-m", "flask", "dingkao",
                                   "facecheck-worker"], env=_env(app), cwd=str(ROOT),
                                  start_new_session=True, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
                 for _ in range(workers)]
    try:
        deadline = time.monotonic() + 120
        while len(Worker.all(queue=face_queue)) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.2)
        time.sleep(1.0)  # the models are loaded before a worker registers; let it settle
        cpu_before = _cpu(processes)
        started = time.perf_counter()
        for snapshot_id in ids[:count]:
            jobs.queue_face_check(snapshot_id, face_queue)
        with app.app_context():
            while True:
                db.session.rollback()
                done = db.session.scalar(select(func.count(Snapshot.id)).where(
                    Snapshot.checked_at.is_not(None)))
                if done >= count:
                    break
                if time.perf_counter() - started > 1800:
                    raise RuntimeError(f"only {done} of {count} checked")
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            WORKER_CPU[workers] = (_cpu(processes) - cpu_before) / count
            db.session.remove()
    finally:
        # Each worker with the scheduler process it started (its own process group).
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return count / elapsed, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=int, default=200)
    parser.add_argument("--database-url", default=None,
                        help="e.g. PostgreSQL: bash scripts/with-postgres.sh sh -c "
                             "'... --database-url \"$TEST_DATABASE_URL\"'")
    parser.add_argument("--physicians", type=int, default=5000,
                        help="physicians sitting at once, for the capacity figure")
    args = parser.parse_args()

    from app import create_app, jobs

    database = args.database_url or f"sqlite:///{WORK / 'bench.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": database,
                      "UPLOAD_DIR": WORK / "uploads", "SECRET_KEY": "bench-secret",
                      "CAPTCHA_ENABLED": False})
    os.environ["FACE_CHECK_THREADS"] = str(app.config["FACE_CHECK_THREADS"])
    shots, reference = build(app, args.snapshots)
    try:
        # The raw pipeline before and after the workers: the machine's load drifts, and the
        # mean of the two is what the workers are compared with.
        raw_before, _ = raw_rate(app, shots, reference, args.snapshots)
        print(f"raw pipeline: {raw_before:.2f} checks/s")
        one, one_seconds = worker_rate(app, 1, args.snapshots)
        print(f"one worker:   {one:.2f} checks/s ({one_seconds:.1f} s)")
        two, two_seconds = worker_rate(app, 2, args.snapshots)
        print(f"two workers:  {two:.2f} checks/s ({two_seconds:.1f} s)")
        raw_after, _ = raw_rate(app, shots, reference, args.snapshots)
        print(f"raw pipeline: {raw_after:.2f} checks/s (after)")
        raw = (raw_before + raw_after) / 2
    finally:
        jobs.stop_embedded()

    interval = app.config["SNAPSHOT_INTERVAL_SECONDS"]
    needed = args.physicians / interval
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_average_at_end": os.getloadavg()},
        "database": database.split(":")[0], "snapshots": args.snapshots, "picture": "480 px wide JPEG (as the exam page sends)",
        "threads_per_check": app.config["FACE_CHECK_THREADS"],
        "raw_checks_per_second": round(raw, 2),
        "raw_before_and_after": [round(raw_before, 2), round(raw_after, 2)],
        "one_worker_checks_per_second": round(one, 2),
        "two_workers_checks_per_second": round(two, 2),
        "one_worker_vs_raw": round(one / raw, 3),
        "two_workers_vs_one": round(two / one, 3),
        "goals": {"one_worker_vs_raw": 0.8, "two_workers_vs_one": 1.6},
        "cpu_seconds_per_check": {"raw": round(sum(RAW_CPU) / len(RAW_CPU), 4),
                                  "one_worker": round(WORKER_CPU[1], 4),
                                  "two_workers": round(WORKER_CPU[2], 4)},
        "capacity": {"physicians": args.physicians, "snapshot_interval_seconds": interval,
                     "checks_per_second_needed": round(needed, 1),
                     "workers_needed_at_one_worker_rate": math.ceil(needed / one),
                     # One worker per free core, each check costing what it cost here.
                     "workers_needed_on_free_cores": math.ceil(needed * WORKER_CPU[1])},
    }
    out = ROOT / "bench" / "results" / (f"facecheck-{result['date']}"
                                         + ("" if database.startswith("sqlite") else
                                            "-postgresql"))
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    ok_one = result["one_worker_vs_raw"] >= 0.8
    ok_two = result["two_workers_vs_one"] >= 1.6
    out.with_suffix(".md").write_text(f"""# Face checks (监考), {result['date']}

{os.cpu_count()} cores; {result['database']}; {args.snapshots} snapshots ({result['picture']});
one thread per check.

| | checks/s | |
| --- | ---: | --- |
| raw pipeline (same models, same pictures, a loop) | {raw:.2f} | mean of {raw_before:.2f} before and {raw_after:.2f} after the workers |
| one worker (RQ job: read snapshot and photo, check, store) | {one:.2f} | {one / raw:.0%} of raw (goal ≥ 80 %: {'met' if ok_one else 'NOT met'}) |
| two workers | {two:.2f} | {two / one:.2f} × one worker (goal ≥ 1.6: {'met' if ok_two else 'NOT met'}) |

CPU seconds per check (independent of what else the machine runs): raw
{sum(RAW_CPU) / len(RAW_CPU):.3f}, one worker {WORKER_CPU[1]:.3f}, two workers {WORKER_CPU[2]:.3f}; so on
free cores one worker reaches {(sum(RAW_CPU) / len(RAW_CPU)) / WORKER_CPU[1]:.0%} of the raw pipeline and two workers
{2 * WORKER_CPU[1] / WORKER_CPU[2]:.2f} × one.

A province sitting of {args.physicians:,} physicians with a snapshot every {interval} s needs
{needed:.0f} checks/s: at {WORKER_CPU[1]:.3f} CPU seconds per check that is
{math.ceil(needed * WORKER_CPU[1])} face-check workers on as many free cores (one worker per core,
e.g. {math.ceil(math.ceil(needed * WORKER_CPU[1]) / 2)} machines of this 2-core kind); at the
one-worker wall-clock rate measured in this run it would be {math.ceil(needed / one)}. Load
average at the end of the run: {', '.join(f'{x:.2f}' for x in os.getloadavg())}: the machine was
shared with other work, which is what the wall-clock rates above measure as much as the checks.
""")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Nothing is lost: snapshots whose check was never queued (Redis down) or whose worker was
killed mid-check are queued again by the sweeper, and every snapshot ends up checked by real
face-check workers (`flask dingkao facecheck-worker`) on the embedded Redis."""
import os
import signal
import subprocess
import sys
import time

import pytest

from app.extensions import db
from models import Snapshot
from tests import faces
from tests.test_proctoring import SAME_PERSON, OTHER_PERSON, snapshot, started  # noqa: F401
from tests.test_proctoring import _verification_required, sitting  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _worker_env(app):
    from app import jobs

    return dict(os.environ, FLASK_APP="run.py", PYTHONPATH=ROOT,
                DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
                UPLOAD_DIR=str(app.config["UPLOAD_DIR"]), REDIS_URL=jobs.redis_url(app),
                SECRET_KEY="worker-test-secret-key-of-enough-length-0123456789")


def _worker(app, burst=False):
    command = [sys.executable, "-m", "flask", "dingkao", "facecheck-worker"]
    if burst:
        command.append("--burst")
    # Its own process group: the worker and the scheduler process it starts are killed
    # together, as when the machine running them dies.
    return subprocess.Popen(command, env=_worker_env(app), cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _counts():
    db.session.rollback()
    checked = db.session.scalar(db.select(db.func.count(Snapshot.id)).where(
        Snapshot.checked_at.is_not(None)))
    total = db.session.scalar(db.select(db.func.count(Snapshot.id)))
    return checked, total


def test_a_killed_worker_and_a_redis_that_was_down_lose_no_check(as_role, sitting, province,
                                                                 monkeypatch):
    from app import jobs

    face_queue = jobs.queue(jobs.FACE_CHECK_QUEUE)
    face_queue.empty()
    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    pictures = [SAME_PERSON, OTHER_PERSON, faces.jpeg(faces.grace_hopper())]
    for index in range(24):
        assert snapshot(physician, attempt_id, pictures[index % 3]).status_code == 200
    # Redis "down" for three more: stored, their checks not queued.
    monkeypatch.setattr(jobs, "queue_face_check", lambda *args, **kwargs: False)
    for index in range(3):
        assert snapshot(physician, attempt_id, pictures[index]).status_code == 200
    monkeypatch.undo()
    db.session.commit()
    assert len(face_queue) == 24

    worker = _worker(province)
    try:
        deadline = time.monotonic() + 120
        while _counts()[0] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        os.killpg(worker.pid, signal.SIGKILL)  # mid-check: a job is running now
    finally:
        worker.wait(timeout=30)
    checked, total = _counts()
    assert 3 <= checked < total == 27

    # What was queued is run by the next worker; what was not (or died with the killed one)
    # stays unchecked without the sweeper.
    assert _worker(province, burst=True).wait(timeout=300) == 0
    checked, total = _counts()
    assert checked < total, "the never-queued snapshots cannot have been checked yet"

    swept = jobs.sweep_snapshots(older_than_seconds=0)
    assert swept == total - checked
    assert _worker(province, burst=True).wait(timeout=300) == 0
    assert _counts() == (27, 27)
    assert db.session.scalar(db.select(db.func.count(Snapshot.id)).where(
        Snapshot.similarity.is_(None))) == 0


@pytest.fixture(autouse=True)
def _empty_face_queue(province):
    yield
    from app import jobs

    jobs.queue(jobs.FACE_CHECK_QUEUE).empty()

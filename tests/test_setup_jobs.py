"""Jobs survive a service manager (issue 15): exports, certificate batches and the deadline
hand-ins are queued with RQ retries, a job whose work-horse is killed runs again, and 导出记录
says why an export whose every try was killed failed, in words."""
import datetime
import os
import signal
import types

import pytest
from rq import SimpleWorker, Worker
from rq.job import Job, JobStatus
from rq.results import Result

from app import jobs
from app.extensions import db
from models.reports import ExportJob
from tests.conftest import post


@pytest.fixture()
def redis(province):
    """The embedded Redis with no queued jobs left by other tests."""
    jobs.queue().empty()
    return jobs.connection()


def _export(client):
    response = post(client, "/enrollmentview/export", {})
    assert response.status_code == 302
    db.session.expire_all()
    export = db.session.query(ExportJob).order_by(ExportJob.id.desc()).first()
    return export, Job.fetch(export.rq_job_id, connection=jobs.connection())


def test_an_export_is_queued_with_retries_and_its_file_arrives(as_role, redis):
    client = as_role("institution")
    export, job = _export(client)
    assert job.retries_left == 3 and job.retry_intervals == [10, 30, 60]
    assert "排队中" in client.get("/exports/").get_data(as_text=True)
    SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)
    assert f"/exports/{export.id}/download" in client.get("/exports/").get_data(as_text=True)


def test_an_export_whose_retries_were_all_killed_says_so_to_its_owner_only(as_role, redis):
    client = as_role("institution")
    export, job = _export(client)
    job.set_status(JobStatus.FAILED)
    Result.create_failure(job, ttl=600, exc_string=(
        "Work-horse terminated unexpectedly; waitpid returned 15 (signal 15); "))
    page = client.get("/exports/").get_data(as_text=True)
    assert "失败" in page and "后台进程被中止" in page
    assert "Work-horse" not in page and "waitpid" not in page
    db.session.expire_all()
    assert db.session.get(ExportJob, export.id).status == "failed"
    other = as_role("assessment").get("/exports/").get_data(as_text=True)
    assert "后台进程被中止" not in other


@pytest.mark.parametrize("exc_string, words", [
    ("Traceback ...\nrq.timeouts.JobTimeoutException: Task exceeded maximum timeout", "超过上限"),
    ("Traceback ...\nValueError: boom", "联系系统运维"),
])
def test_every_failure_reason_is_in_words(province, exc_string, words):
    assert words in jobs.failure_reason(exc_string)


def test_the_deadline_hand_in_is_queued_with_retries(redis):
    registry = jobs.queue().scheduled_job_registry
    before = set(registry.get_job_ids())
    jobs.schedule_expiry(types.SimpleNamespace(id=1, deadline=datetime.datetime.now()))
    (new,) = set(registry.get_job_ids()) - before
    job = Job.fetch(new, connection=jobs.connection())
    assert job.retries_left == 3
    registry.remove(job, delete_job=True)


MARKER = "horse-killed-once"


def die_once(folder):
    """A job whose first run is killed the way a service manager stops a process."""
    marker = os.path.join(folder, MARKER)
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGTERM)
    return "done"


def test_a_job_whose_work_horse_is_killed_runs_again(province, redis, tmp_path):
    province.config["JOB_RETRY_INTERVALS"] = "0"  # at once, so that a burst worker sees it
    try:
        job = jobs.queue().enqueue(die_once, str(tmp_path), retry=jobs.retry())
    finally:
        province.config["JOB_RETRY_INTERVALS"] = "10,30,60"
    Worker([jobs.queue()], connection=jobs.connection()).work(burst=True)
    job.refresh()
    assert (tmp_path / MARKER).exists()
    assert job.get_status() == JobStatus.FINISHED and job.return_value() == "done"
    assert job.retries_left == 2


def test_a_certificate_batch_is_queued_with_retries(as_role, redis):
    from tests.test_certificate import _token, passed

    enrollment = passed("王医生")
    hospital = as_role("institution")
    response = hospital.post("/certificates/batch", data={
        "csrf_token": _token(hospital), "rowid": [enrollment.id]})
    assert response.status_code == 302
    job_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    job = Job.fetch(job_id, connection=jobs.connection())
    assert job.retries_left == 3
    jobs.queue().empty()

"""运维 (issue 14): queues, workers, running and failed jobs with retry, the SMS outbox, the
Redis and database in use and the version, for the operator only; the read API's Swagger UI
for staff only."""
import pytest
from rq import SimpleWorker
from rq.registry import FailedJobRegistry

from app import jobs
from app.extensions import db
from models import ExportJob
from models.reports import EXPORT_STATUS
from tests.conftest import post


def _failed_export(client):
    """An export whose job fails: its list name is unknown to the worker."""
    assert post(client, "/enrollmentview/export").status_code == 302
    export = db.session.query(ExportJob).order_by(ExportJob.id.desc()).first()
    export.kind = "no_such_list"
    db.session.commit()
    SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)
    db.session.expire_all()
    return export


@pytest.fixture(autouse=True)
def _empty_queues(province):
    # A failed job goes straight to the failed registry (no retries) for the operator's 重试.
    retries, province.config["JOB_RETRIES"] = province.config["JOB_RETRIES"], 0
    jobs.connection().flushdb()
    yield
    jobs.connection().flushdb()
    province.config["JOB_RETRIES"] = retries


def test_the_operator_sees_queues_jobs_redis_database_sms_and_version(as_role):
    client = as_role("operator")
    export = _failed_export(client)
    assert export.status == EXPORT_STATUS.FAILED
    page = client.get("/ops/").get_data(as_text=True)
    for panel in ("ops-version", "ops-redis", "ops-database", "ops-queues", "ops-workers",
                  "ops-running", "ops-failed", "ops-sms"):
        assert f'id="{panel}"' in page, panel
    assert "默认队列" in page.split('id="ops-queues"')[1].split("</table>")[0]
    failed = page.split('id="ops-failed"')[1].split("</table>")[0]
    assert 'class="failed-job"' in failed and "Excel导出" in failed
    database = page.split('id="ops-database"')[1].split("</table>")[0]
    assert ("PostgreSQL" if db.engine.dialect.name == "postgresql" else "SQLite") in database
    assert "test-secret" not in page
    # A database URL's password is never shown.
    password = db.engine.url.password
    assert not password or password not in page


def test_retrying_a_failed_export_queues_it_again(as_role):
    client = as_role("operator")
    export = _failed_export(client)
    registry = FailedJobRegistry("default", connection=jobs.connection())
    [job_id] = registry.get_job_ids()
    response = post(client, f"/ops/retry/{job_id}")
    assert response.status_code == 302
    db.session.expire_all()
    assert registry.get_job_ids() == []
    assert jobs.queue().job_ids == [job_id]
    assert db.session.get(ExportJob, export.id).status == EXPORT_STATUS.QUEUED
    # The list name repaired, the retried job now finishes the export.
    db.session.get(ExportJob, export.id).kind = "enrollment_progress"
    db.session.commit()
    SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)
    db.session.expire_all()
    assert db.session.get(ExportJob, export.id).status == EXPORT_STATUS.DONE
    # Retrying what is not a failed job changes nothing.
    assert post(client, f"/ops/retry/{job_id}").status_code == 302
    assert jobs.queue().job_ids == []


@pytest.mark.parametrize("role", ["province", "city", "district", "institution", "assessment"])
def test_only_the_operator_opens_it(as_role, role):
    client = as_role(role)
    assert client.get("/ops/").status_code in (302, 403)
    assert post(client, "/ops/retry/anything").status_code in (302, 403)
    assert "ops-queues" not in client.get("/ops/", follow_redirects=True).get_data(as_text=True)


def test_retry_needs_the_csrf_token(as_role):
    client = as_role("operator")
    export = _failed_export(client)
    [job_id] = FailedJobRegistry("default", connection=jobs.connection()).get_job_ids()
    response = client.post(f"/ops/retry/{job_id}")
    assert response.status_code == 400
    assert FailedJobRegistry("default", connection=jobs.connection()).get_job_ids() == [job_id]
    assert db.session.get(ExportJob, export.id).status == EXPORT_STATUS.FAILED


@pytest.mark.parametrize("role", ["province", "district", "institution", "operator"])
def test_staff_read_the_api_description_and_its_swagger_ui(as_role, role):
    client = as_role(role)
    assert client.get("/swagger/v1").status_code == 200
    spec = client.get("/api/v1/_openapi")
    assert spec.status_code == 200
    paths = spec.get_json()["paths"]
    assert "/api/v1/physician/" in paths
    # The read API only: no write operation is described.
    methods = {method for path in paths.values() for method in path}
    assert methods <= {"get"}, methods


def test_physicians_and_visitors_get_no_api_description(as_role, client):
    for who in (as_role("physician"), client):
        assert who.get("/swagger/v1").status_code in (302, 403)
        assert who.get("/api/v1/_openapi").status_code in (401, 403)

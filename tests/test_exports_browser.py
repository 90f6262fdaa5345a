"""In headless Chromium (issue 14): 周期总进度, the administration home, 导出记录 and 运维 as each
role that uses them, screenshots kept for a human to look at; and the export journey — 导出 on
a list, the record appears at once as 排队中 and turns to 完成 with its download without a reload
once a worker has built it."""
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.test_browser import (  # noqa: F401  (fixtures)
    STAFF_ACCOUNTS,
    _log_in,
    base_url,
    browser,
    live_app,
    visit,
    workdir,
)

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("DINGKAO_SHOTS", "/tmp/shots-reports"))
# What must never reach a user: Python's words, raw objects, our English source texts.
LEAKS = re.compile(r"\bNone\b|object at 0x|Traceback|\b(Queued|Finished|Job failed|In progress|"
                   r"Cycle overall progress|Export records|Completion rate|Furthest behind|"
                   r"Deadlines near|Operations|Region / institution|Physicians on roster|"
                   r"To be assessed|Download|Retry|Workers|Queues)\b")


@pytest.fixture(scope="module")
def reports_data(live_app):
    """The demo province with its enrollments spread over the stages, the exam papers, some
    results and a failed job, so that every panel has something to show."""
    from app import demo, jobs
    from app.extensions import db
    from models import Enrollment, ExportJob, Paper, PaperResult, workflow
    from models.enrollment import ENROLLMENT_STATE as S

    with live_app.app_context():
        jobs.connection().flushdb()
        demo.seed_demo_exams()
        chosen = [S.PENDING_INSTITUTION_REVIEW, S.PENDING_ASSESSMENT_REVIEW, S.AWAITING_EXAM,
                  S.PASSED, S.FAILED, S.AWAITING_MAKEUP_CONFIRMATION, S.PENDING_ENROLLMENT]
        enrollments = db.session.query(Enrollment).order_by(Enrollment.id).all()
        for index, enrollment in enumerate(enrollments):
            workflow.force(enrollment, chosen[index % len(chosen)], reason="browser set-up")
        paper = db.session.query(Paper).filter_by(is_mock=False).first()
        for index, enrollment in enumerate(enrollments):
            db.session.add(PaperResult(enrollment_id=enrollment.id, paper_id=paper.id,
                                       best_score=55 + index, passed=index % 2 == 0,
                                       attempts_used=1))
        db.session.commit()
        # An export of a list nobody registered: its job fails, shown under 失败任务.
        from commands import export
        from models import AppUser
        from security import scope

        operator = db.session.query(AppUser).filter_by(username="ops").one()
        export.start(scope.actor_for(operator), "enrollment_progress", {}, "", "zh")
        failing = db.session.query(ExportJob).order_by(ExportJob.id.desc()).first()
        failing.kind = "no_such_list"
        db.session.commit()
        _work(live_app)
        db.session.remove()
    return live_app


def _work(app):
    from rq import SimpleWorker

    from app import jobs

    with app.app_context():
        SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)


def _look(page, name, problems):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)
    text = page.inner_text("body")
    leak = LEAKS.search(text)
    assert not leak, f"{name}: {leak.group(0)!r} shown to the user"
    assert not problems, f"{name}: {problems}"


PAGES = [
    ("province", "/overview/", "overview-province.png"),
    ("province", "/", "home-province.png"),
    ("city", "/overview/", "overview-city.png"),
    ("city", "/", "home-city.png"),
    ("district", "/overview/", "overview-district.png"),
    ("district", "/", "home-district.png"),
    ("operator", "/overview/", "overview-operator.png"),
    ("operator", "/ops/", "ops-operator.png"),
    ("province", "/paperresultview/list/", "assessment-progress-province.png"),
    ("province", "/makeup/list/", "makeup-province.png"),
    ("institution", "/enrollmentview/list/", "enrollment-progress-institution.png"),
    ("province", "/swagger/v1", "swagger-province.png"),
]


@pytest.mark.parametrize("role,path,shot", PAGES)
def test_each_page_reads_in_chinese_for_its_roles(reports_data, visit, role, path, shot):
    v = visit()
    _log_in(v.page, STAFF_ACCOUNTS[role])
    v.page.goto(path, wait_until="networkidle")
    assert v.page.url.endswith(path) or path == "/", v.page.url
    if path.startswith("/overview"):
        expect(v.page.locator("#overview-table")).to_be_visible()
        expect(v.page.locator("#chart-stages")).to_be_visible()
    if path == "/swagger/v1":
        expect(v.page.locator(".swagger-ui .info")).to_be_visible()
        v.page.screenshot(path=str(SHOTS / shot), full_page=True)
        assert not v.problems, v.problems
        return
    _look(v.page, shot, v.problems)


def test_drilling_down_from_the_province_to_an_institution(reports_data, visit):
    v = visit()
    _log_in(v.page, "province")
    v.page.goto("/overview/", wait_until="load")
    v.page.click("text=演示市卫生健康委员会")
    expect(v.page.locator("#trail")).to_contain_text("演示市卫生健康委员会")
    v.page.click("text=龙华区卫生健康委员会")
    expect(v.page.locator("#overview-table")).to_contain_text("演示市第一人民医院")
    _look(v.page, "overview-drilled-district.png", v.problems)
    v.page.click("text=演示市第一人民医院")
    expect(v.page).to_have_url(re.compile(r"/enrollmentview/list/"))
    assert not v.problems, v.problems


def test_an_export_goes_from_queued_to_finished_without_a_reload(reports_data, visit):
    from app import jobs
    from app.extensions import db
    from models import ExportJob
    from models.reports import EXPORT_STATUS

    v = visit()
    _log_in(v.page, "province")
    v.page.goto("/enrollmentview/list/", wait_until="networkidle")
    with v.page.expect_navigation(wait_until="load"):
        v.page.click("#export")
    expect(v.page).to_have_url(re.compile(r"/exports/$"))
    first = v.page.locator("tr.export-row").first
    expect(first.locator(".export-status")).to_contain_text("排队中")
    _look(v.page, "exports-queued.png", v.problems)
    # Shown as a worker would report it halfway through.
    with reports_data.app_context():
        export = db.session.query(ExportJob).order_by(ExportJob.id.desc()).first()
        export.status = EXPORT_STATUS.RUNNING
        db.session.commit()
        jobs.connection().hset(jobs.progress_key(export.id), mapping={"done": 3, "total": 7})
        export_id = export.id
        db.session.remove()
    expect(first.locator(".progress-bar")).to_be_visible()
    expect(first.locator(".export-count")).to_have_text("3 / 7")
    _look(v.page, "exports-running.png", v.problems)
    _work(reports_data)  # the queued job runs now
    expect(first.locator(".export-status")).to_contain_text("完成", timeout=20_000)
    link = first.locator("a.export-download")
    expect(link).to_have_attribute("href", f"/exports/{export_id}/download")
    _look(v.page, "exports-finished.png", v.problems)
    with v.page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.startswith("报名进度-")

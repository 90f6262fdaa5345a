"""A province sets itself up, in headless Chromium (issue 15): the system administrator
imports a tree from Excel and reads the per-row result, the province adds a city by form and
sets a cycle and a schedule window, an institution reads a failed export's reason under
导出记录. Screenshots go to /tmp/shots-setup/ for a person to look at."""
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.test_browser import (  # noqa: F401  (fixtures)
    DESKTOP, _log_in, base_url, browser, live_app, visit, workdir)

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots-setup")
# Words that must never reach a user: Python's, FAB's untranslated ones, raw errors.
LEAKS = re.compile(r"\bNone\b|object at 0x|Traceback|IntegrityError|Work-horse|"
                   r"\b(Add|Save|Back|Search|Record|Added Row|Import)\b")


def _shoot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)
    text = page.inner_text("body")
    assert not LEAKS.search(text), LEAKS.search(text).group(0)
    return text


def _type_date(page, selector, value):
    """Typed as a person types into FAB's date picker, which is then closed."""
    field = page.locator(selector)
    field.click()
    field.press_sequentially(value)
    field.press("Enter")
    page.keyboard.press("Escape")
    expect(field).to_have_value(value)


def _filled_template(data):
    book = load_workbook(io.BytesIO(data))
    admins, institutions = book.worksheets[0], book.worksheets[1]
    admins.append(["南山市卫生健康委员会", "市级", "演示省卫生健康委员会", "460400", "nanshan", "", ""])
    admins.append(["北岭区卫生健康委员会", "区县级", "南山市卫生健康委员会", "460401", "beiling", "", ""])
    admins.append(["无名区卫生健康委员会", "区县级", "不存在的市卫生健康委员会", "", "wuming", "", ""])
    institutions.append(["北岭区人民医院", "NS0001", "北岭区卫生健康委员会", "医疗机构", "二级", "甲等",
                         "演示省", "南山市", "北岭区", "北岭路1号", 200, "周法人", "钱联系", "0898-1",
                         "13800002222", "否", "NX1008600"])
    institutions.append(["重号诊所", "NX1008611", "北岭区卫生健康委员会", "诊所"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_administrator_imports_the_tree_and_reads_each_rows_fate(visit, live_app):
    v = visit(DESKTOP)
    page = v.page
    _log_in(page, "admin")
    page.goto("/tree/import/")
    expect(page.locator("h3")).to_have_text("管辖关系导入")
    _shoot(page, "tree-import-empty.png")
    template = page.request.get("/tree/import/template.xlsx")
    assert template.ok and template.body()[:2] == b"PK"
    page.set_input_files("#file", files=[{
        "name": "管辖关系.xlsx", "mimeType": "application/octet-stream",
        "buffer": _filled_template(template.body())}])
    with page.expect_navigation():
        page.click("#import")
    expect(page.locator("#administrations-added")).to_have_text("2")
    expect(page.locator("#institutions-added")).to_have_text("1")
    expect(page.locator("#rejected-count")).to_have_text("2")
    expect(page.locator("#rejected-rows")).to_contain_text("不存在的市卫生健康委员会")
    expect(page.locator("#rejected-rows")).to_contain_text("账号“NX1008611”已被使用")
    expect(page.locator("#accounts")).to_contain_text("NS0001")
    _shoot(page, "tree-import-result.png")
    # Bad file: one message, nothing else.
    page.set_input_files("#file", files=[{"name": "x.xlsx", "mimeType": "text/plain",
                                          "buffer": b"not a workbook"}])
    with page.expect_navigation():
        page.click("#import")
    expect(page.locator("#form-error")).to_contain_text("xlsx")
    assert not v.problems or all("400 POST" in p for p in v.problems), v.problems


def test_the_province_adds_a_city_and_sets_its_cycle_and_schedule(visit):
    v = visit(DESKTOP)
    page = v.page
    _log_in(page, "province")
    page.goto("/administrationview/add")
    _shoot(page, "administration-add.png")
    page.fill("#name", "东海市卫生健康委员会")
    page.select_option("#level", "city")
    page.select_option("#parent", label="演示省卫生健康委员会")
    page.fill("#account", "donghai")
    with page.expect_navigation():
        page.click("#model_form button[type=submit]")
    expect(page.locator("body")).to_contain_text("已创建账号donghai，初始密码为666666")
    page.goto("/administrationview/list/")
    expect(page.locator("body")).to_contain_text("donghai")
    _shoot(page, "administration-list.png")

    page.goto("/cycleview/add")
    _shoot(page, "cycle-add.png")
    page.fill("#name", "2027-2029年度医师定期考核")
    _type_date(page, "#start_date", "2027-01-01")
    _type_date(page, "#end_date", "2029-12-31")
    _type_date(page, "#cutoff_date", "2028-12-31")
    with page.expect_navigation():
        page.click("#model_form button[type=submit]")
    _shoot(page, "cycle-added.png")
    page.goto("/cycleview/list/")
    expect(page.locator("body")).to_contain_text("2027-2029年度医师定期考核")
    _shoot(page, "cycle-list.png")

    page.goto("/schedulewindowview/add")
    page.select_option("#cycle", label="2027-2029年度医师定期考核")
    page.select_option("#kind", "enrollment")
    _type_date(page, "#start_date", "2029-04-13")
    _type_date(page, "#end_date", "2029-03-01")
    with page.expect_navigation():
        page.click("#model_form button[type=submit]")
    expect(page.locator("body")).to_contain_text("开始日期不能晚于结束日期")
    _shoot(page, "schedule-refused.png")
    assert not v.problems, v.problems


def test_an_institution_reads_why_its_export_failed(visit, live_app):
    """An export whose every try was killed (a service manager, the kernel) reads 失败 with the
    reason in words; one still waiting reads 排队中."""
    from rq.job import Job, JobStatus
    from rq.results import Result

    from app import jobs
    from app.extensions import db
    from commands import export
    from models import AppUser
    from security import scope

    with live_app.app_context(), live_app.test_request_context():
        user = db.session.query(AppUser).filter_by(username="NX1008611").one()
        actor = scope.actor_for(user)
        failed = export.start(actor, "enrollment_progress", {}, "", "zh")
        job = Job.fetch(db.session.get(export.ExportJob, failed).rq_job_id,
                        connection=jobs.connection())
        job.set_status(JobStatus.FAILED)
        Result.create_failure(job, ttl=600, exc_string="Work-horse terminated unexpectedly")
        export.start(actor, "enrollment_progress", {}, "", "zh")  # and one still waiting
        db.session.remove()
    v = visit(DESKTOP)
    page = v.page
    _log_in(page, "NX1008611")
    page.goto("/exports/")
    expect(page.locator(f'tr[data-id="{failed}"]')).to_contain_text("后台进程被中止")
    expect(page.locator("#export-rows")).to_contain_text("排队中")
    _shoot(page, "exports-failed.png")
    jobs.queue(app=live_app).empty()
    assert not v.problems, v.problems

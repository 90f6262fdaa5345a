"""The institution clerk in Chromium: 【批量参加】 on the roster (002 2.2.5), and the first-login
schedule dialog's 【去确认】 (002 2.2.2)."""
import pytest
from playwright.sync_api import expect

from tests.test_browser import (  # noqa: F401  (module fixtures)
    _log_in, base_url, browser, live_app, visit, workdir)

pytestmark = pytest.mark.browser


def test_batch_allow_enrollment_and_go_and_confirm(visit, live_app):
    from app.extensions import db
    from models import Cycle, Enrollment

    v = visit()
    page = v.page
    _log_in(page, "NX1008611")
    expect(page.locator("#confirm-cycle")).to_be_visible()
    with page.expect_navigation(wait_until="load"):
        page.click("#confirm-cycle-btn")
    expect(page.locator("#confirm-cycle")).to_have_count(0)
    page.goto("/physicianview/list/?_flt_0_id=0", wait_until="load")
    boxes = page.locator("input.action_check")
    count = boxes.count()
    assert count >= 2
    ids = [boxes.nth(i).get_attribute("value") for i in range(2)]
    for i in range(2):
        boxes.nth(i).check()
    page.click("#batch-allow")
    expect(page.locator("#modal-confirm-ok")).to_be_visible()
    with page.expect_navigation(wait_until="load"):
        page.click("#modal-confirm-ok")
    expect(page.locator(".alert-success").first).to_contain_text("已允许报名 2 人")
    with live_app.app_context():
        cycle = Cycle.current()
        included = db.session.query(Enrollment).filter(
            Enrollment.cycle_id == cycle.id,
            Enrollment.physician_id.in_([int(i) for i in ids])).count()
        db.session.remove()
    assert included == 2
    assert not v.problems, v.problems

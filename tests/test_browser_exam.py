"""参加考试 end to end in headless Chromium on a phone: 王医生 (简易程序, reviewed) opens
参加考试, reads the card, 进入测评, 我知晓——开始考试, taps an answer to every question (each
saved as it is chosen), reloads the page and finds them still chosen with the clock still
running, marks one for review, 交卷 (confirming the dialog) and reads 合格; then, on a desktop,
the province opens 测评进度 and sees the paper's best score."""
import re

import pytest
from playwright.sync_api import expect

from tests import test_browser as shared
from tests.test_browser import DESKTOP, Visit, _log_in, _screenshot
from tests.test_browser_enrollment import PhoneVisit

pytestmark = pytest.mark.browser

workdir = shared.workdir
base_url = shared.base_url
browser = shared.browser
shots = shared.shots


@pytest.fixture(scope="module")
def live_app(workdir):
    """The demo province with its exam papers; 王医生 reviewed under 简易程序."""
    from flask_migrate import upgrade

    from app import create_app, demo
    from app.cli import ensure_roles
    from app.extensions import db
    from models import Enrollment, Physician, workflow

    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'browser-exam.db'}",
        "UPLOAD_DIR": workdir / "uploads", "CAPTCHA_ENABLED": False,
        "AUTH_RATE_LIMIT": "100000 per minute", "SECRET_KEY": "browser-test-secret",
        "SERVER_NAME": None,
        # 人脸验证 before the start is walked in tests/test_browser_proctoring.py.
        "FACE_VERIFICATION_REQUIRED": False,
    })
    with app.app_context():
        upgrade()
        ensure_roles()
        demo.seed_demo_province()
        demo.seed_demo_exams()
        enrollment = db.session.query(Enrollment).join(Physician).filter(
            Physician.name == "王医生").one()
        enrollment.procedure = "simple"
        workflow.force(enrollment, "awaiting_exam", reason="test set-up")
        db.session.commit()
        db.session.remove()
    return app


def _right_answers(app):
    """question id → the letters of its right options (what a well-prepared physician taps)."""
    from app.extensions import db
    from models import Question

    with app.app_context():
        answers = {q.id: q.answer for q in db.session.query(Question)}
        db.session.remove()
    return answers


def test_physician_takes_a_paper_on_a_phone(browser, base_url, live_app, shots, capsys):
    from app.demo import DEMO_PHYSICIAN_ID

    phone = PhoneVisit(browser, base_url)
    page = phone.page
    _log_in(page, DEMO_PHYSICIAN_ID, physician=True)
    page.click("#tool-exam")
    expect(page.locator("h4")).to_have_text("参加考试")
    card = page.locator(".dk-paper").first
    expect(card).to_contain_text("公共知识医学人文测评卷")
    expect(card).to_contain_text("剩余20次")
    _screenshot(page, shots, "exam-1-cards-phone.png", capsys)
    card.get_by_text("进入测评").click()
    expect(page.locator("#start-exam")).to_have_text("我知晓——开始考试")
    _screenshot(page, shots, "exam-2-notice-phone.png", capsys)
    page.click("#start-exam")
    page.wait_for_url(re.compile(r"/me/exams/attempt/\d+$"))

    answers = _right_answers(live_app)
    questions = page.locator(".dk-question")
    count = questions.count()
    assert count == 10
    for index in range(count):
        fieldset = questions.nth(index)
        question_id = int(fieldset.get_attribute("data-question"))
        for letter in answers[question_id]:
            with page.expect_response(re.compile(r"/answer$")) as saved:
                fieldset.locator(f'input[value="{letter}"]').check()
            assert saved.value.status == 200, saved.value.text()
    expect(page.locator("#save-status")).to_have_text("保存成功")
    first = questions.nth(0)
    with page.expect_response(re.compile(r"/answer$")):
        first.locator(".flag").check()
    _screenshot(page, shots, "exam-3-answering-phone.png", capsys)
    clock = page.locator("#time-left").inner_text()
    assert re.fullmatch(r"(2\d|30):\d\d", clock), clock

    page.reload(wait_until="load")
    expect(page.locator(".dk-cell.answered")).to_have_count(count)
    expect(page.locator(".dk-cell.flagged")).to_have_count(1)
    expect(page.locator(".dk-question").nth(0).locator(".flag")).to_be_checked()

    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    with page.expect_navigation(wait_until="load"):
        page.click("#hand-in")
    assert dialogs and "交卷" in dialogs[0]
    expect(page.locator("#attempt-outcome")).to_have_text("合格")
    expect(page.locator("#attempt-score")).to_have_text("100")
    expect(page.locator("#enrollment-state")).to_have_text("合格")
    _screenshot(page, shots, "exam-4-result-phone.png", capsys)
    assert not phone.problems, phone.problems
    assert not phone.findings, phone.findings
    phone.close()

    desktop = Visit(browser, base_url, DESKTOP)
    _log_in(desktop.page, "province")
    desktop.page.goto("/paperresultview/list/", wait_until="load")
    expect(desktop.page.locator("table.table-bordered")).to_contain_text("王医生")
    expect(desktop.page.locator("table.table-bordered")).to_contain_text("公共知识医学人文测评卷")
    _screenshot(desktop.page, shots, "exam-5-progress-desktop.png", capsys)
    assert not desktop.problems, desktop.problems
    desktop.close()

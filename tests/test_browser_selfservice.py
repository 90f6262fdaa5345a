"""The physician's account and home on a phone (390x844, touch), in headless Chromium: 忘记密码
from the login page to a new password (the code read from the SMS outbox), the login with the
bound mobile number, the home page's 当前任务 and 常用工具, 在线客服, 账户设置 and 更换手机号 with
their way back, the first login's one page 修改密码，绑定手机, and 我要报名's changed steps.

Screenshots of every page are kept under SELF_SERVICE_SHOTS when it names a folder."""
import os
import re
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import test_browser as shared
from tests.test_browser import CJK, _screenshot
from tests.test_browser_enrollment import PhoneVisit, _tap_and_wait

pytestmark = pytest.mark.browser

workdir = shared.workdir
live_app = shared.live_app
base_url = shared.base_url
browser = shared.browser

NEW = "Xinmima#2026"
BOUND = "13900000001"


@pytest.fixture(scope="module")
def shots():
    folder = os.environ.get("SELF_SERVICE_SHOTS")
    path = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="dingkao-screenshots-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture()
def phone(browser, base_url):
    v = PhoneVisit(browser, base_url)
    yield v
    v.close()


def _latest_code(app, mobile, purpose):
    from app.extensions import db
    from models import SmsMessage

    with app.app_context():
        message = db.session.query(SmsMessage).filter_by(mobile=mobile, purpose=purpose).order_by(
            SmsMessage.id.desc()).first()
        code = message.code if message else None
        db.session.remove()
    return code


def _log_in_phone(page, login, password):
    page.goto("/login/?kind=physician", wait_until="load")
    page.fill("#username", login)
    page.fill("#password", password)
    page.check("#agree")
    with page.expect_navigation(wait_until="load"):
        page.locator("#login-btn").tap()


def _chinese_page(page, phone, where):
    body = page.locator("body").inner_text()
    assert len(CJK.findall(body)) >= 10, body[:300]
    for bad in ("None", "object at 0x"):
        assert bad not in body, (where, bad)
    phone.check_width(where)


def test_forgot_password_then_home_on_a_phone(phone, live_app, shots, capsys):
    from app.demo import DEMO_PHYSICIAN_ID

    page = phone.page
    page.goto("/login/?kind=physician", wait_until="load")
    _screenshot(page, shots, "me-login-physician.png", capsys)
    _tap_and_wait(page, "#forgot-link")
    expect(page.locator("h4")).to_have_text("忘记密码")
    _chinese_page(page, phone, "忘记密码")

    page.fill("#account", BOUND)
    page.locator("#send-code").tap()
    expect(page.locator("#code-message")).to_have_text(
        "若该账号已绑定手机，验证码已发送至绑定的手机号，5分钟内有效")
    expect(page.locator("#send-code")).to_be_disabled()  # counting down
    _screenshot(page, shots, "me-forgot-sent.png", capsys)
    code = _latest_code(live_app, BOUND, "reset")
    assert code

    # A wrong code first: the neutral refusal, and the account is kept in the form.
    page.fill("#code", f"{(int(code) + 1) % 10**6:06d}")
    page.fill("#new_password", NEW)
    page.fill("#confirm_password", NEW)
    _tap_and_wait(page, "#reset-password")
    expect(page.locator(".dk-error")).to_have_text("短信验证码不正确或已失效，请核对或重新获取")
    expect(page.locator("#account")).to_have_value(BOUND)
    _screenshot(page, shots, "me-forgot-wrong-code.png", capsys)

    page.fill("#code", code)
    page.fill("#new_password", NEW)
    page.fill("#confirm_password", NEW)
    _tap_and_wait(page, "#reset-password")
    expect(page.locator(".alert-success")).to_contain_text("密码已重置，请使用新密码登录")
    expect(page.locator("#tab-physician")).to_have_class(re.compile(r"\bactive\b"))

    # The bound mobile number logs in, with the new password.
    _log_in_phone(page, BOUND, NEW)
    expect(page).to_have_url(re.compile(r"/me/$"))
    expect(page.locator("#physician-name")).to_have_text("王医生")
    expect(page.locator("#current-task")).to_contain_text("当前任务")
    expect(page.locator("#enrollment-state")).to_have_text("已开通报名")
    tools = [t.strip() for t in page.locator("#tools a").all_inner_texts()]
    assert tools == ["我要报名", "我要学习", "参加考试", "考核结果", "免考申请", "在线客服",
                     "常见问题"], tools
    _chinese_page(page, phone, "home")
    _screenshot(page, shots, "me-home.png", capsys)

    _tap_and_wait(page, "#tool-contact")
    expect(page.locator("#contact")).to_contain_text("演示市第一人民医院")
    _chinese_page(page, phone, "在线客服")
    _screenshot(page, shots, "me-contact.png", capsys)
    _tap_and_wait(page, "#back-home")

    _tap_and_wait(page, "#account-settings")
    expect(page.locator("h4")).to_have_text("修改密码")
    _chinese_page(page, phone, "账户设置")
    _screenshot(page, shots, "me-account-settings.png", capsys)
    _tap_and_wait(page, "#to-mobile")
    expect(page.locator("h4")).to_have_text("更换手机号")
    _chinese_page(page, phone, "更换手机号")
    _screenshot(page, shots, "me-change-mobile.png", capsys)
    _tap_and_wait(page, "#back-home")
    expect(page).to_have_url(re.compile(r"/me/$"))
    assert DEMO_PHYSICIAN_ID  # the account reset above is the demo physician's

    # 我要报名's changed steps, as they look on the phone.
    for number, name in ((1, "basic"), (2, "practice"), (3, "experience"), (4, "performance")):
        page.goto(f"/me/enroll/{number}", wait_until="load")
        _chinese_page(page, phone, f"step {number}")
        _screenshot(page, shots, f"me-step{number}-{name}.png", capsys)
    page.goto("/me/enroll/3?add=change", wait_until="load")
    expect(page.locator("#experience-form")).to_contain_text("开始")
    _screenshot(page, shots, "me-step3-add-change.png", capsys)
    page.goto("/me/enroll/4", wait_until="load")
    page.locator("#add-awards").tap()
    expect(page.locator("#list-awards input")).to_have_count(2)
    page.locator("#list-awards .dk-me-remove").nth(1).tap()
    expect(page.locator("#list-awards input")).to_have_count(1)

    assert not phone.findings, phone.findings
    assert not phone.problems, phone.problems


def test_first_login_is_one_page_on_a_phone(phone, live_app, shots, capsys):
    from app.demo import FIRST_LOGIN_PHYSICIAN_ID

    page = phone.page
    _log_in_phone(page, FIRST_LOGIN_PHYSICIAN_ID, "666666")
    expect(page).to_have_url(re.compile(r"/account/password$"))
    expect(page.locator("#password-title")).to_have_text("修改密码，绑定手机")
    _chinese_page(page, phone, "first login")
    _screenshot(page, shots, "me-first-login.png", capsys)
    page.fill("#old_password", "666666")
    page.fill("#new_password", NEW)
    page.fill("#confirm_password", NEW)
    page.fill("#mobile", "13912345678")
    page.locator("#send-code").tap()
    expect(page.locator("#code-message")).to_contain_text("验证码")
    code = _latest_code(live_app, "13912345678", "bind")
    assert code
    page.fill("#code", code)
    _tap_and_wait(page, "#save-password")
    expect(page).to_have_url(re.compile(r"/me/$"))
    expect(page.locator("#physician-name")).to_be_visible()
    assert not phone.findings, phone.findings
    assert not phone.problems, phone.problems


def test_the_approved_page_on_a_phone(phone, live_app, shots, capsys):
    from app.demo import DEMO_PHYSICIAN_ID
    from app.extensions import db
    from models import Enrollment, Physician, workflow
    from models.enrollment import ENROLLMENT_STATE as S

    with live_app.app_context():
        enrollment = db.session.query(Enrollment).join(Physician).filter(
            Physician.id_number == DEMO_PHYSICIAN_ID).first()
        workflow.force(enrollment, S.AWAITING_EXAM, reason="browser test set-up")
        db.session.commit()
        db.session.remove()
    page = phone.page
    _log_in_phone(page, DEMO_PHYSICIAN_ID, NEW)
    page.goto("/me/enroll", wait_until="load")
    expect(page.locator("#approved-message")).to_have_text(
        "个人报名信息已通过审核，请按通知时间及时参加测评")
    _chinese_page(page, phone, "approved")
    _screenshot(page, shots, "me-approved.png", capsys)
    page.goto("/me/", wait_until="load")
    expect(page.locator("#task-hint")).to_contain_text("【参加考试】")
    _screenshot(page, shots, "me-home-awaiting-exam.png", capsys)
    assert not phone.findings, phone.findings
    assert not phone.problems, phone.problems

"""The physician's account on the phone (manuals 001, 004): 忘记密码 by an SMS code to the bound
mobile, logging in with the bound mobile number, and the first login's one page
修改密码，绑定手机."""
import datetime
import re

import pytest

from app.demo import DEMO_PHYSICIAN_ID, FIRST_LOGIN_PHYSICIAN_ID
from app.extensions import db
from models import AppUser, AuditLog, SmsMessage
from tests.conftest import PASSWORD, csrf_token, login, post

BOUND = "13900000001"  # the demo physician's bound mobile (app/demo.py)
NEW = "Xinmima#2026"
NEUTRAL_SENT = "若该账号已绑定手机，验证码已发送至绑定的手机号，5分钟内有效"
NEUTRAL_FAILED = "短信验证码不正确或已失效，请核对或重新获取"


@pytest.fixture()
def limits_off(province):
    """The reset limits out of the way (counters outlive a test: the Redis is shared)."""
    saved = {k: province.config[k] for k in ("PASSWORD_RESET_RATE_LIMIT",
                                            "PASSWORD_RESET_ACCOUNT_RATE_LIMIT")}
    province.config.update({k: "100000 per hour" for k in saved})
    yield province
    province.config.update(saved)


def _error(response):
    match = re.search(r'class="dk-error"[^>]*>([^<]+)<', response.get_data(as_text=True))
    return match.group(1).strip() if match else None


def _ask(client, account, address="127.0.0.1"):
    return client.post("/login/forgot/code", data={"account": account,
                                                   "csrf_token": csrf_token(client)},
                       environ_base={"REMOTE_ADDR": address})


def _reset(client, account, code, password=NEW, confirm=None, address="127.0.0.1"):
    return client.post("/login/forgot/", data={
        "account": account, "code": code, "new_password": password,
        "confirm_password": password if confirm is None else confirm,
        "csrf_token": csrf_token(client)}, environ_base={"REMOTE_ADDR": address})


def _code(mobile=BOUND):
    return db.session.query(SmsMessage).filter_by(mobile=mobile, purpose="reset").order_by(
        SmsMessage.id.desc()).first()


def _wrong(code):
    return f"{(int(code) + 1) % 10**6:06d}"


def _password_of(username):
    db.session.expire_all()
    return db.session.query(AppUser).filter_by(username=username).one().password


# --- 忘记密码 ------------------------------------------------------------------------------


def test_the_physician_login_page_offers_forgot_password(client):
    page = client.get("/login/?kind=physician").get_data(as_text=True)
    assert "忘记密码?" in page and 'href="/login/forgot/"' in page
    forgot = client.get("/login/forgot/")
    assert forgot.status_code == 200
    text = forgot.get_data(as_text=True)
    assert "忘记密码" in text and "获取验证码" in text and "至少8位" in text


def test_a_code_to_the_bound_mobile_sets_a_new_password_once(limits_off, client):
    answer = _ask(client, DEMO_PHYSICIAN_ID)
    assert answer.status_code == 200 and answer.get_json()["message"] == NEUTRAL_SENT
    message = _code()
    assert message is not None and message.user_id is not None
    before = _password_of(DEMO_PHYSICIAN_ID)

    done = _reset(client, DEMO_PHYSICIAN_ID, message.code)
    assert done.status_code == 302 and "/login/" in done.headers["Location"]
    assert _password_of(DEMO_PHYSICIAN_ID) != before
    assert login(client, DEMO_PHYSICIAN_ID, NEW, kind="physician").status_code == 302
    assert db.session.query(AuditLog).filter_by(action="password_reset_by_sms").count() == 1

    # Single use: the same code does not set a password twice.
    other = province_client(client)
    again = _reset(other, DEMO_PHYSICIAN_ID, message.code, password="Andere#2027")
    assert again.status_code == 400 and _error(again) == NEUTRAL_FAILED
    assert login(other, DEMO_PHYSICIAN_ID, NEW, kind="physician").status_code == 302


def province_client(client):
    return client.application.test_client()


def test_the_bound_mobile_number_names_the_account_too(limits_off, client):
    _ask(client, BOUND)
    assert _reset(client, BOUND, _code().code).status_code == 302
    assert login(client, DEMO_PHYSICIAN_ID, NEW, kind="physician").status_code == 302


def test_a_wrong_code_changes_nothing_and_says_so_neutrally(limits_off, client):
    _ask(client, DEMO_PHYSICIAN_ID)
    before = _password_of(DEMO_PHYSICIAN_ID)
    wrong = _reset(client, DEMO_PHYSICIAN_ID, _wrong(_code().code))
    assert wrong.status_code == 400 and _error(wrong) == NEUTRAL_FAILED
    assert _password_of(DEMO_PHYSICIAN_ID) == before
    assert login(client, DEMO_PHYSICIAN_ID, PASSWORD, kind="physician").status_code == 302


def test_an_expired_code_is_refused(limits_off, client):
    _ask(client, DEMO_PHYSICIAN_ID)
    message = _code()
    message.expires_at = datetime.datetime.now() - datetime.timedelta(seconds=1)
    db.session.commit()
    before = _password_of(DEMO_PHYSICIAN_ID)
    expired = _reset(client, DEMO_PHYSICIAN_ID, message.code)
    assert expired.status_code == 400 and _error(expired) == NEUTRAL_FAILED
    assert _password_of(DEMO_PHYSICIAN_ID) == before


def test_unknown_accounts_and_numbers_get_the_same_answers(limits_off, client):
    """Nothing tells whether an account or a number exists: the same answer to the code
    request, the same refusal of the code, and no SMS sent."""
    sent = db.session.query(SmsMessage).count()
    for unknown in ("13311112222", "110101197001010999", "nobody", FIRST_LOGIN_PHYSICIAN_ID):
        answer = _ask(client, unknown)
        assert (answer.status_code, answer.get_json()["message"]) == (200, NEUTRAL_SENT)
        refused = _reset(client, unknown, "123456")
        assert (refused.status_code, _error(refused)) == (400, NEUTRAL_FAILED), unknown
    # FIRST_LOGIN_PHYSICIAN_ID exists but has no bound mobile: no code either.
    assert db.session.query(SmsMessage).count() == sent
    # The known account's wrong code reads the same.
    _ask(client, DEMO_PHYSICIAN_ID)
    known = _reset(client, DEMO_PHYSICIAN_ID, _wrong(_code().code))
    assert _error(known) == NEUTRAL_FAILED


def test_the_new_password_follows_the_rule_of_change_password(limits_off, client):
    _ask(client, DEMO_PHYSICIAN_ID)
    code = _code().code
    weak = _reset(client, DEMO_PHYSICIAN_ID, code, password="abcdefgh")
    assert weak.status_code == 400 and "至少三种" in _error(weak)
    differ = _reset(client, DEMO_PHYSICIAN_ID, code, confirm="Other#2026x")
    assert "两次输入的新密码不一致" in _error(differ)
    initial = _reset(client, DEMO_PHYSICIAN_ID, code, password="666666")
    assert initial.status_code == 400
    # None of these used the code up: it still sets the password.
    assert _reset(client, DEMO_PHYSICIAN_ID, code).status_code == 302


def test_a_reset_ends_the_sessions_and_lifts_a_lock(limits_off, province, client):
    phone = province.test_client()
    assert login(phone, DEMO_PHYSICIAN_ID, kind="physician").status_code == 302
    for _ in range(5):
        login(client, DEMO_PHYSICIAN_ID, "wrong-password", kind="physician")
    _ask(client, DEMO_PHYSICIAN_ID)
    assert _reset(client, DEMO_PHYSICIAN_ID, _code().code).status_code == 302
    assert phone.get("/me/").status_code == 302  # the old session is over
    assert login(client, DEMO_PHYSICIAN_ID, NEW, kind="physician").status_code == 302


def test_the_reset_is_rate_limited_per_account_and_per_address(province, client):
    saved = (province.config["PASSWORD_RESET_RATE_LIMIT"],
             province.config["PASSWORD_RESET_ACCOUNT_RATE_LIMIT"])
    province.config["PASSWORD_RESET_RATE_LIMIT"] = "4 per hour"
    province.config["PASSWORD_RESET_ACCOUNT_RATE_LIMIT"] = "3 per hour"
    try:
        # One account (an unknown number, the same answer) from many addresses.
        account = [_ask(client, "13322223333", f"10.9.0.{n}").status_code for n in range(4)]
        assert account == [200, 200, 200, 429]
        # Many accounts from one address.
        address = [_reset(client, f"1332222{n:04d}", "123456", address="10.9.1.1").status_code
                   for n in range(5)]
        assert address == [400, 400, 400, 400, 429]
    finally:
        (province.config["PASSWORD_RESET_RATE_LIMIT"],
         province.config["PASSWORD_RESET_ACCOUNT_RATE_LIMIT"]) = saved


# --- logging in with the bound mobile -----------------------------------------------------


def test_a_physician_logs_in_with_the_bound_mobile_number(client):
    response = login(client, BOUND, kind="physician")
    assert response.status_code == 302, _error(response)
    assert "王医生" in client.get("/me/").get_data(as_text=True)


def test_an_unbound_or_wrong_mobile_number_does_not_log_in(province, client):
    assert _error(login(client, "13311112222", kind="physician")) == "账号或密码错误"
    wrong = login(client, BOUND, "wrong-password", kind="physician")
    assert wrong.status_code == 400 and "账号或密码错误" in _error(wrong)
    # A number given but not confirmed by a code (mobile_bound_at empty) does not log in.
    user = db.session.query(AppUser).filter_by(username=FIRST_LOGIN_PHYSICIAN_ID).one()
    user.mobile = "13355556666"
    db.session.commit()
    assert login(province.test_client(), "13355556666", "666666",
                 kind="physician").status_code == 400


def test_a_bound_number_cannot_be_bound_to_a_second_account(province, client):
    assert login(client, FIRST_LOGIN_PHYSICIAN_ID, "666666", kind="physician").status_code == 302
    refused = post(client, "/account/mobile/code", {"mobile": BOUND})
    assert refused.status_code == 400 and "已绑定其他账号" in refused.get_json()["message"]


# --- the first login's one page -----------------------------------------------------------


def test_the_first_login_changes_the_password_and_binds_the_mobile_on_one_page(client):
    assert login(client, FIRST_LOGIN_PHYSICIAN_ID, "666666", kind="physician").status_code == 302
    page = client.get("/account/password").get_data(as_text=True)
    assert "修改密码，绑定手机" in page and FIRST_LOGIN_PHYSICIAN_ID in page
    assert 'name="mobile"' in page and "获取验证码" in page
    assert post(client, "/account/mobile/code", {"mobile": "13912345678"}).status_code == 200
    code = db.session.query(SmsMessage).filter_by(mobile="13912345678").one().code
    form = {"old_password": "666666", "new_password": NEW, "confirm_password": NEW,
            "mobile": "13912345678"}

    weak = post(client, "/account/password", {**form, "new_password": "abcdefgh",
                                               "confirm_password": "abcdefgh", "code": code})
    assert weak.status_code == 400 and "至少三种" in _error(weak)
    wrong = post(client, "/account/password", {**form, "code": _wrong(code)})
    assert wrong.status_code == 400 and "短信验证码不正确" in _error(wrong)
    user = db.session.query(AppUser).filter_by(username=FIRST_LOGIN_PHYSICIAN_ID).one()
    db.session.refresh(user)
    assert user.must_change_password and user.mobile_bound_at is None  # neither happened

    done = post(client, "/account/password", {**form, "code": code})
    assert done.status_code == 302, _error(done)
    assert client.get("/me/").status_code == 200
    db.session.refresh(user)
    assert not user.must_change_password and user.mobile == "13912345678"
    assert login(client.application.test_client(), "13912345678", NEW,
                 kind="physician").status_code == 302


def test_asking_for_a_code_needs_the_captcha_when_it_is_on(limits_off, province, client):
    from security import captcha

    province.config["CAPTCHA_ENABLED"] = True
    try:
        sent = db.session.query(SmsMessage).count()
        client.get("/captcha.png")
        wrong = client.post("/login/forgot/code", data={
            "account": BOUND, "captcha": "XXXX", "csrf_token": csrf_token(client)})
        assert wrong.status_code == 400 and wrong.get_json()["message"] == "验证码错误，请重新输入"
        assert db.session.query(SmsMessage).count() == sent
        client.get("/captcha.png")
        with client.session_transaction() as session:
            answer = captcha.answer_of(session["captcha_id"])
        right = client.post("/login/forgot/code", data={
            "account": BOUND, "captcha": answer, "csrf_token": csrf_token(client)})
        assert right.status_code == 200 and _code() is not None
    finally:
        province.config["CAPTCHA_ENABLED"] = False

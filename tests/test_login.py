"""Logging in (DOMAIN §3): the two doors, captcha, consent, lockout, first-login steps."""
import re

from app.demo import DEMO_PHYSICIAN_ID, FIRST_LOGIN_PHYSICIAN_ID
from tests.conftest import PASSWORD, csrf_token, login, post


def _error(response):
    match = re.search(r'class="dk-error"[^>]*>([^<]+)<', response.get_data(as_text=True))
    return match.group(1).strip() if match else None


def test_institution_logs_in_with_account_and_sees_chinese_home(client):
    response = login(client, "NX1008611")
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "首页" in home and "演示市第一人民医院" in home


def test_wrong_password_says_so_and_counts_down(client):
    response = login(client, "NX1008611", "wrong-password")
    assert response.status_code == 400
    assert _error(response) == "账号或密码错误，还可尝试4次"
    assert client.get("/").status_code == 302  # still not logged in


def test_account_locks_after_five_failures_even_with_right_password(client):
    for _ in range(5):
        login(client, "NX1008611", "wrong-password")
    response = login(client, "NX1008611", PASSWORD)
    assert response.status_code == 400
    assert "账号已锁定" in _error(response)


def test_consent_checkbox_is_required(client):
    response = login(client, "NX1008611", agree="")
    assert _error(response) == "请阅读并接受《服务协议》和《隐私条款》"


def test_physician_id_in_15_digits_and_lower_case_x_resolve_to_the_same_person(province):
    from security import idcard

    id18 = DEMO_PHYSICIAN_ID
    id15 = id18[:6] + id18[8:17]
    assert idcard.normalize(id15) == id18
    forms = [id18, id15, id18.lower()]
    for form in forms:
        client = province.test_client()
        response = login(client, form, kind="physician")
        assert response.status_code == 302, (form, _error(response))
        assert "王医生" in client.get("/me/").get_data(as_text=True)


def test_malformed_id_number_is_refused_with_the_reason(client):
    bad = DEMO_PHYSICIAN_ID[:17] + ("0" if DEMO_PHYSICIAN_ID[17] != "0" else "1")
    response = login(client, bad, kind="physician")
    assert response.status_code == 400
    assert _error(response) == "证件号码校验位不正确，请核对后重新输入"


def test_unknown_id_number_is_refused(client):
    from security import idcard
    import datetime

    unknown = idcard.make("110101", datetime.date(1970, 1, 1), 999)
    response = login(client, unknown, kind="physician")
    assert _error(response) == "该证件号码尚未在系统中登记，请联系所在医疗机构"


def test_captcha_is_checked_when_enabled(province, client):
    province.config["CAPTCHA_ENABLED"] = True
    try:
        client.get("/captcha.png")
        response = login(client, "NX1008611", captcha="XXXX")
        assert _error(response) == "验证码错误，请重新输入"
        image = client.get("/captcha.png")
        assert image.headers["Content-Type"] == "image/png" and image.data[:4] == b"\x89PNG"
        from security import captcha

        with client.session_transaction() as session:
            answer = captcha.answer_of(session["captcha_id"])
        response = login(client, "NX1008611", captcha=answer.lower())
        assert response.status_code == 302
    finally:
        province.config["CAPTCHA_ENABLED"] = False


def test_captcha_is_on_by_default():
    from config import Config

    assert Config.CAPTCHA_ENABLED is True


def test_login_without_csrf_token_is_refused(client):
    response = client.post("/login/", data={"kind": "staff", "username": "NX1008611",
                                            "password": PASSWORD, "agree": "y"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_first_login_forces_password_change_then_mobile_binding(province, client):
    from models import SmsMessage
    from app.extensions import db

    assert login(client, FIRST_LOGIN_PHYSICIAN_ID, "666666", kind="physician").status_code == 302
    assert client.get("/me/").headers["Location"].endswith("/account/password")

    weak = post(client, "/account/password", {"old_password": "666666", "new_password": "abcdefgh",
                                              "confirm_password": "abcdefgh"})
    assert weak.status_code == 400
    assert "至少三种" in weak.get_data(as_text=True)

    ok = post(client, "/account/password", {"old_password": "666666",
                                            "new_password": "Xinmima#2026",
                                            "confirm_password": "Xinmima#2026"})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/account/mobile")
    assert client.get("/me/").headers["Location"].endswith("/account/mobile")

    sent = post(client, "/account/mobile/code", {"mobile": "13912345678"})
    assert sent.status_code == 200, sent.get_data(as_text=True)
    code = db.session.query(SmsMessage).filter_by(mobile="13912345678").one().code

    wrong = post(client, "/account/mobile", {"mobile": "13912345678", "code": "000000" if code != "000000" else "111111"})
    assert "短信验证码不正确" in wrong.get_data(as_text=True)
    bound = post(client, "/account/mobile", {"mobile": "13912345678", "code": code})
    assert bound.status_code == 302
    assert client.get("/me/").status_code == 200

    reused = post(client, "/account/mobile", {"mobile": "13912345678", "code": code})
    assert "短信验证码已使用" in reused.get_data(as_text=True)


def test_expired_sms_code_is_refused(province, as_role):
    import datetime

    from app.extensions import db
    from models import SmsMessage

    client = as_role("physician")
    post(client, "/account/mobile/code", {"mobile": "13700000000"})
    message = db.session.query(SmsMessage).filter_by(mobile="13700000000").one()
    message.expires_at = datetime.datetime.now() - datetime.timedelta(seconds=1)
    db.session.commit()
    response = post(client, "/account/mobile", {"mobile": "13700000000", "code": message.code})
    assert response.status_code == 400
    assert "短信验证码已过期" in response.get_data(as_text=True)


def test_sms_outbox_is_visible_to_the_operator_only(province, as_role):
    physician = as_role("physician")
    post(physician, "/account/mobile/code", {"mobile": "13600000000"})
    page = as_role("operator").get("/smsoutboxview/list/").get_data(as_text=True)
    assert "13600000000" in page
    assert as_role("institution").get("/smsoutboxview/list/").status_code == 403

"""The login's guards cannot be walked around (issue #8, points 2 and 4): there is no token
login beside the login page, and the captcha's answer stays on the server, is good once and
is gone after any attempt. Telling that an ID number is not registered (as the manual does) is
rate-limited like the login itself."""
import base64
import json
import re
import zlib

import pytest

from app import create_app
from app.demo import DEMO_PHYSICIAN_ID
from app.extensions import db
from models import AppUser
from security import captcha
from tests.conftest import PASSWORD, _config, csrf_token, login


def _error(response):
    match = re.search(r'class="dk-error"[^>]*>([^<]+)<', response.get_data(as_text=True))
    return match.group(1).strip() if match else None


def _token_login(client, username, password):
    return client.post("/api/v1/security/login", json={
        "username": username, "password": password, "provider": "db", "refresh": True})


@pytest.mark.parametrize("path", ["/api/v1/security/login", "/api/v1/security/refresh"])
def test_there_is_no_token_login(client, path):
    response = client.post(path, json={"username": "admin", "password": PASSWORD,
                                       "provider": "db", "refresh": True})
    assert response.status_code in (404, 405)
    assert "access_token" not in response.get_data(as_text=True)


def test_wrong_passwords_lock_the_account_and_no_door_lets_it_in(province, client):
    for _ in range(5):
        assert login(client, "NX1008611", "wrong-password").status_code == 400
    assert "账号已锁定" in _error(login(client, "NX1008611", PASSWORD))
    # Nor by the token door FAB would have added, nor by the JSON API without a session.
    api = province.test_client()
    assert _token_login(api, "NX1008611", PASSWORD).status_code in (404, 405)
    assert api.get("/api/v1/physician/").status_code == 401
    account = db.session.query(AppUser).filter_by(username="NX1008611").one()
    assert account.locked_until is not None


def test_the_physician_door_locks_the_same_way(client):
    for _ in range(5):
        login(client, DEMO_PHYSICIAN_ID, "wrong-password", kind="physician")
    response = login(client, DEMO_PHYSICIAN_ID, PASSWORD, kind="physician")
    assert response.status_code == 400 and "账号已锁定" in _error(response)


def test_an_unregistered_id_number_is_told_but_rate_limited_like_the_login(province):
    from security import idcard
    import datetime

    app = create_app({**_config(), "AUTH_RATE_LIMIT": "3 per minute"})
    client = app.test_client()
    token = csrf_token(client)
    unknown = [idcard.make("110101", datetime.date(1970, 1, 1), n) for n in range(1, 5)]
    answers = [client.post("/login/", data={"kind": "physician", "username": number,
                                            "password": "666666", "agree": "y",
                                            "csrf_token": token}) for number in unknown]
    assert _error(answers[0]) == "该证件号码尚未在系统中登记，请联系所在医疗机构"
    assert [a.status_code for a in answers] == [400, 400, 400, 429]


def _login_from(client, address, username, token):
    return client.post("/login/", data={"kind": "staff", "username": username,
                                        "password": "wrong-password", "agree": "y",
                                        "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def test_the_login_limit_counts_per_account_and_per_address(province):
    """A hospital's physicians behind one address all get in; one account tried from many
    addresses meets its own limit."""
    app = create_app({**_config(), "AUTH_RATE_LIMIT": "100 per minute",
                      "LOGIN_ACCOUNT_RATE_LIMIT": "3 per minute", "LOGIN_MAX_FAILURES": 100})
    client = app.test_client()
    token = csrf_token(client)
    one_address = [_login_from(client, "10.1.1.1", name, token).status_code
                   for name in ("NX1008611", "NX1008622", "NX1008633", "NX1008600",
                                "province", "city")]
    assert 429 not in one_address
    # "nx1008644 " is the same account as "NX1008644": the name is read as the login reads it.
    many_addresses = [_login_from(client, f"10.2.0.{n}", name, token).status_code
                      for n, name in enumerate(("NX1008644", "nx1008644 ", "NX1008644",
                                                "NX1008644"))]
    assert many_addresses == [400, 400, 400, 429]


# --- captcha ------------------------------------------------------------------------------


@pytest.fixture()
def with_captcha(province):
    province.config["CAPTCHA_ENABLED"] = True
    yield province
    province.config["CAPTCHA_ENABLED"] = False


def _answer(client):
    """The answer of the client's current captcha, as a person reads it off the image."""
    with client.session_transaction() as session:
        return captcha.answer_of(session["captcha_id"])


def _cookie_data(client):
    """What the signed (not encrypted) session cookie says, as anyone holding it can read."""
    value = client.get_cookie("session").value
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)


def test_the_captcha_answer_is_not_in_the_cookie(with_captcha, client):
    client.get("/captcha.png")
    answer = _answer(client)
    assert answer and len(answer) == 4
    assert answer not in json.dumps(_cookie_data(client))


def test_a_captcha_answer_cannot_be_replayed_with_a_frozen_cookie(with_captcha, client):
    csrf_token(client)
    client.get("/captcha.png")
    answer = _answer(client)
    frozen = client.get_cookie("session").value

    first = login(client, "NX1008611", "wrong-password", captcha=answer)
    assert _error(first) == "账号或密码错误，还可尝试4次"  # the captcha was right

    client.set_cookie("session", frozen)  # the cookie as it was before the attempt
    replay = login(client, "NX1008611", "another-guess", captcha=answer)
    assert _error(replay) == "验证码错误，请重新输入"
    account = db.session.query(AppUser).filter_by(username="NX1008611").one()
    assert account.fail_login_count == 1  # the replay never reached the password


def test_a_wrong_captcha_answer_uses_the_challenge_up(with_captcha, client):
    client.get("/captcha.png")
    answer = _answer(client)
    wrong = "".join("A" if c != "A" else "B" for c in answer)
    assert _error(login(client, "NX1008611", captcha=wrong)) == "验证码错误，请重新输入"
    # The right answer of the same challenge, second try: gone.
    assert _error(login(client, "NX1008611", captcha=answer)) == "验证码错误，请重新输入"
    client.get("/captcha.png")
    assert login(client, "NX1008611", captcha=_answer(client)).status_code == 302


def test_a_captcha_expires(with_captcha, client):
    from app import jobs

    client.get("/captcha.png")
    with client.session_transaction() as session:
        key = "dingkao:captcha:" + session["captcha_id"]
    ttl = jobs.connection().ttl(key)
    assert 0 < ttl <= with_captcha.config["CAPTCHA_TTL_SECONDS"] == 300
    answer = _answer(client)
    jobs.connection().delete(key)  # as Redis does when the time is up
    assert _error(login(client, "NX1008611", captcha=answer)) == "验证码错误，请重新输入"

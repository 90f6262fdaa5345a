"""Sessions end on the server (issue #8, point 5): at logout, at a password change or reset
(every session of the account), after the idle timeout; a login starts a new session id and a
new CSRF token; logging out is a POST with the token.

A "stolen" cookie is the value of the session cookie copied into another client, as an
attacker would replay it."""
import re
import time

from app.demo import DEMO_PHYSICIAN_ID
from app.extensions import db
from models import AppUser, Physician
from security import session_rules
from tests.conftest import PASSWORD, csrf_token, login, post


def _copy(client, into):
    """Replay ``client``'s session cookie in the client ``into``."""
    into.set_cookie("session", client.get_cookie("session").value)
    return into


def _logged_in(client):
    return client.get("/").status_code == 200


def _page_token(client, url="/account/password"):
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_cookie_copied_before_logout_is_dead_after_logout(province, as_role):
    client = as_role("institution")
    stolen = _copy(client, province.test_client())
    assert _logged_in(stolen)

    response = post(client, "/logout/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/")
    assert not _logged_in(client)
    assert not _logged_in(stolen)
    assert stolen.get("/physicianview/list/").status_code == 302
    assert stolen.get("/api/v1/physician/").status_code == 401


def test_get_logout_only_asks_and_a_post_needs_the_csrf_token(as_role):
    client = as_role("institution")
    page = client.get("/logout/")
    assert page.status_code == 200 and 'action="/logout/"' in page.get_data(as_text=True)
    assert _logged_in(client)

    forged = client.post("/logout/")  # another site's form has no token
    assert forged.status_code == 400
    assert _logged_in(client)


def test_the_menus_log_out_with_a_post_form(as_role):
    staff = as_role("institution").get("/").get_data(as_text=True)
    assert re.search(r'<form method="post" action="/logout/"[^>]*>\s*<input type="hidden" '
                     r'name="csrf_token"', staff)
    assert 'href="/logout/"' not in staff
    physician = as_role("physician").get("/me/").get_data(as_text=True)
    assert 'action="/logout/"' in physician and 'href="/logout/"' not in physician


def test_a_password_change_ends_every_other_session_of_the_account(province, as_role):
    client = as_role("institution")
    other_login = as_role("institution")
    stolen = _copy(client, province.test_client())

    response = post(client, "/account/password", {
        "old_password": PASSWORD, "new_password": "Neu#Passwort1", "confirm_password":
        "Neu#Passwort1"})
    assert response.status_code == 302

    assert _logged_in(client)  # the one who changed it goes on, in a new session
    assert not _logged_in(other_login)
    assert not _logged_in(stolen)


def test_a_password_reset_by_the_institution_ends_the_physicians_sessions(province, as_role):
    physician = as_role("physician")
    assert physician.get("/me/").status_code == 200
    record = db.session.query(Physician).filter_by(id_number=DEMO_PHYSICIAN_ID).one()

    response = post(as_role("institution"), "/physicianview/action_post",
                    {"action": "reset_password", "rowid": str(record.id)})
    assert response.status_code == 302

    after = physician.get("/me/")
    assert after.status_code == 302 and "/login/" in after.headers["Location"]


def test_a_password_reset_by_the_system_administrator_ends_the_sessions(province, as_role):
    institution = as_role("institution")
    account = db.session.query(AppUser).filter_by(username="NX1008611").one()
    province.appbuilder.sm.reset_password(account.id, "Another#Pass1")
    db.session.commit()
    assert not _logged_in(institution)


def test_a_session_ends_after_the_idle_timeout(province, as_role):
    from app import jobs

    client = as_role("institution")
    with client.session_transaction() as session:
        key = "dingkao:session:" + session[session_rules.SESSION_ID]
    # 30 minutes by default (等保), renewed by every request.
    assert province.config["SESSION_IDLE_MINUTES"] == 30
    assert 29 * 60 < jobs.connection().ttl(key) <= 30 * 60

    province.config["SESSION_IDLE_MINUTES"] = 1 / 60  # one second
    try:
        client.get("/")  # renews to one second
        time.sleep(1.5)
        response = client.get("/")
        assert response.status_code == 302 and "/login/" in response.headers["Location"]
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "登录已失效" in page
    finally:
        province.config["SESSION_IDLE_MINUTES"] = 30


def test_activity_keeps_a_session_alive(province, as_role):
    """Every request renews the idle time to the full 30 minutes (checked on the server's
    clock, not by sleeping: a busy machine must not make this pass or fail)."""
    from app import jobs

    client = as_role("institution")
    with client.session_transaction() as session:
        key = "dingkao:session:" + session[session_rules.SESSION_ID]
    redis = jobs.connection()
    for _ in range(3):
        redis.expire(key, 5)  # nearly idle out
        assert _logged_in(client)
        assert 29 * 60 < redis.ttl(key) <= 30 * 60


def test_login_starts_a_new_session_id_and_csrf_token(province, client):
    before = csrf_token(client)
    # Whatever an attacker planted in the cookie before the login is gone after it.
    with client.session_transaction() as session:
        session[session_rules.SESSION_ID] = "planted-by-an-attacker"
    assert login(client, "NX1008611").status_code == 302
    with client.session_transaction() as session:
        first = session[session_rules.SESSION_ID]
    assert first != "planted-by-an-attacker"

    after = _page_token(client)
    assert after != before
    # The token of the login page no longer carries a POST after the login.
    response = client.post("/account/password", data={
        "csrf_token": before, "old_password": PASSWORD, "new_password": "Neu#Passwort1",
        "confirm_password": "Neu#Passwort1"})
    assert response.status_code == 400
    account = db.session.query(AppUser).filter_by(username="NX1008611").one()
    from werkzeug.security import check_password_hash

    assert check_password_hash(account.password, PASSWORD)

    post(client, "/logout/")
    assert login(client, "NX1008611").status_code == 302
    with client.session_transaction() as session:
        assert session[session_rules.SESSION_ID] != first


def test_a_login_keeps_the_language_chosen_before_it(province, client):
    client.get("/lang/en")
    assert login(client, "NX1008611").status_code == 302
    assert "Physician list" in client.get("/physicianview/list/").get_data(as_text=True)

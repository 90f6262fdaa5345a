"""Every state-changing POST needs the session's CSRF token (issue #8, point 13): a form posted
from another site carries the user's cookie but not the token, and must change nothing. Each
case is also sent with the token, to show that it is the token that made the difference."""
import io
import re

import pytest
from werkzeug.security import check_password_hash

from app import jobs
from app.demo import DEMO_PHYSICIAN_ID
from app.extensions import db
from models import AppUser, Department, Enrollment, Physician, SmsMessage, Subject
from tests.conftest import PASSWORD


def _token(client):
    page = client.get("/account/password").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _password_is(username, password):
    db.session.expire_all()
    account = db.session.query(AppUser).filter_by(username=username).one()
    return check_password_hash(account.password, password)


def _wang():
    return db.session.query(Physician).filter_by(id_number=DEMO_PHYSICIAN_ID).one()


def _assessment():
    db.session.expire_all()
    enrollment = db.session.query(Enrollment).filter_by(physician_id=_wang().id).one()
    return (enrollment.form_data or {}).get("assessment", {})


NEW_PASSWORD = "Neu#Passwort1"

# name: (role, url, form, done?) — done() tells whether the POST took effect.
CASES = {
    "change password": (
        "institution", "/account/password",
        lambda: {"old_password": PASSWORD, "new_password": NEW_PASSWORD,
                 "confirm_password": NEW_PASSWORD},
        lambda: _password_is("NX1008611", NEW_PASSWORD)),
    "send an SMS code": (
        "physician", "/account/mobile/code", lambda: {"mobile": "13912345678"},
        lambda: db.session.query(SmsMessage).count() == 1),
    "log out": (
        "institution", "/logout/", dict, None),
    "reset a physician's password (console action)": (
        "institution", "/physicianview/action_post",
        lambda: {"action": "reset_password", "rowid": str(_wang().id)},
        lambda: _password_is(DEMO_PHYSICIAN_ID, "666666")),
    "add a department (console form)": (
        "institution", "/departmentview/add",
        lambda: {"name": "眼科", "enabled": "y", "subjects": [
            str(s.id) for s in db.session.query(Subject).filter_by(name="眼科")]},
        lambda: db.session.query(Department).filter_by(name="眼科").count() == 1),
    "export the progress list": (
        "institution", "/enrollmentview/export", dict,
        lambda: jobs.queue().count > 0),
    "save an enrollment step": (
        "physician", "/me/enroll/4",
        lambda: {"good_record": "no", "bad_record": "yes", "bad_detail": "处分",
                 "work_quantity": "pass", "patients": "1", "ethics_fail": "no", "save": "1"},
        lambda: _assessment().get("bad_record") == "yes"),
    "import a roster": (
        "institution", "/roster/import/",
        lambda: {"file": (io.BytesIO(b"PK\x03\x04 not really"), "roster.xlsx")}, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_post_without_the_csrf_token_changes_nothing(as_role, case):
    role, url, form, done = CASES[case]
    client = as_role(role)
    jobs.queue().empty()
    token = _token(client)

    forged = client.post(url, data=form(), content_type="multipart/form-data")
    assert forged.status_code == 400, forged.get_data(as_text=True)[:300]
    assert "CSRF" in forged.get_data(as_text=True)
    assert client.get("/account/password").status_code == 200  # still logged in
    if done is not None:
        assert not done()

    genuine = client.post(url, data={"csrf_token": token, **form()},
                          content_type="multipart/form-data")
    assert genuine.status_code in (200, 302, 400)
    assert "CSRF" not in genuine.get_data(as_text=True)
    if done is not None:
        assert done()
    jobs.queue().empty()


def test_a_login_without_the_csrf_token_is_refused(client):
    response = client.post("/login/", data={"kind": "staff", "username": "NX1008611",
                                            "password": PASSWORD, "agree": "y"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302

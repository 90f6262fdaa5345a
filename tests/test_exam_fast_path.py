"""The answer save's WSGI layer (views/exam_answer.py, ``AnswerFastPath``): a save is taken in
front of the app, with the app's own session, CSRF and liveness rules; whatever it does not
accept reaches the app intact, which refuses it with its reasons."""
import json

import pytest
from flask import request
from sqlalchemy import select

from app.extensions import db
from models import Answer, ExamAttempt
from tests.conftest import _token_from_session, post
from tests.test_exam_answer_path import _simple_attempt
from tests.test_exam import _no_face_verification  # noqa: F401  (autouse fixture)

ANSWER_URL = "/me/exams/attempt/{}/answer"


@pytest.fixture()
def reached_app(province):
    """The answer posts that reached the app's own hooks (the fast path passed them on)."""
    seen = []

    def record():
        if request.method == "POST" and request.path.endswith("/answer"):
            seen.append(request.path)

    province.before_request_funcs.setdefault(None, []).insert(0, record)
    yield seen
    province.before_request_funcs[None].remove(record)


def _post(client, attempt, question_id, response, token, referrer=None, **kwargs):
    body = {"question_id": question_id, "response": response, "flagged": False}
    headers = {"X-CSRFToken": token, **({"Referer": referrer} if referrer else {})}
    return client.post(ANSWER_URL.format(attempt), data=json.dumps(body),
                       content_type="application/json", headers=headers, **kwargs)


def _stored(attempt, question_id):
    db.session.expire_all()
    return db.session.scalar(select(Answer.response).where(
        Answer.attempt_id == attempt, Answer.question_id == question_id))


def test_a_save_is_taken_in_front_of_the_app_and_answers_as_the_app_does(as_role, reached_app):
    doctor, attempt, singles = _simple_attempt(as_role)
    token = _token_from_session(doctor)
    saved = _post(doctor, attempt, singles[0].id, "b", token)
    assert saved.status_code == 200 and saved.get_json() == {"ok": True, "response": "B"}
    assert reached_app == []  # no hook of the app ran: the layer answered
    assert saved.content_type == "application/json"
    headers = saved.headers
    assert "'nonce-" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "Cookie" in headers["Vary"] and "Set-Cookie" not in headers
    assert _stored(attempt, singles[0].id) == "B"
    # The app's checked view answers the same way for the same save.
    by_form = doctor.post(ANSWER_URL.format(attempt), headers={"X-CSRFToken": token},
                          data={"question_id": singles[0].id, "response": "c"})
    assert len(reached_app) == 1 and by_form.get_json() == {"ok": True, "response": "C"}


def test_a_cookie_kept_from_before_the_logout_saves_nothing(as_role, reached_app):
    doctor, attempt, singles = _simple_attempt(as_role)
    token = _token_from_session(doctor)
    assert _post(doctor, attempt, singles[0].id, "A", token).status_code == 200
    cookie = doctor.get_cookie("session").value
    assert post(doctor, "/logout/").status_code == 302
    doctor.set_cookie("session", cookie)  # a copy of the cookie, taken before the logout
    refused = _post(doctor, attempt, singles[0].id, "B", token)
    assert refused.status_code != 200
    assert reached_app  # passed on to the app, which refused it
    assert _stored(attempt, singles[0].id) == "A"


def test_a_save_without_a_valid_csrf_token_is_refused_by_the_app(as_role, province,
                                                                   reached_app):
    doctor, attempt, singles = _simple_attempt(as_role)
    token = _token_from_session(doctor)
    other = province.test_client()  # another browser's token, validly signed
    other_token = _token_from_session_anonymous(other)
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), other_token, ""):
        refused = _post(doctor, attempt, singles[0].id, "A", bad)
        assert refused.status_code == 400, bad
    assert len(reached_app) == 3
    assert _stored(attempt, singles[0].id) is None
    assert _post(doctor, attempt, singles[0].id, "A", token).status_code == 200


def _token_from_session_anonymous(client):
    import re

    page = client.get("/login/?kind=physician").get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_over_https_the_referrer_must_be_this_site(as_role, reached_app):
    """Flask-WTF's strict referrer check over HTTPS holds for the layer too."""
    doctor, attempt, singles = _simple_attempt(as_role)
    token = _token_from_session(doctor)
    https = {"base_url": "https://localhost"}
    assert _post(doctor, attempt, singles[0].id, "A", token, **https).status_code == 400
    assert _post(doctor, attempt, singles[0].id, "A", token,
                 referrer="https://evil.example/x", **https).status_code == 400
    assert len(reached_app) == 2 and _stored(attempt, singles[0].id) is None
    ok = _post(doctor, attempt, singles[0].id, "A", token,
               referrer=f"https://localhost/me/exams/attempt/{attempt}", **https)
    assert ok.status_code == 200 and len(reached_app) == 2
    assert _stored(attempt, singles[0].id) == "A"


def test_a_body_the_layer_does_not_take_reaches_the_view_intact(as_role, reached_app):
    """The layer reads the body; what it passes on, the view still reads whole."""
    doctor, attempt, singles = _simple_attempt(as_role)
    token = _token_from_session(doctor)
    device = db.session.get(ExamAttempt, attempt).device
    body = {"question_id": singles[0].id, "response": "d", "flagged": "true", "device": device}
    saved = doctor.post(ANSWER_URL.format(attempt), data=json.dumps(body),
                        content_type="application/json", headers={"X-CSRFToken": token})
    assert saved.status_code == 200 and saved.get_json() == {"ok": True, "response": "D"}
    assert len(reached_app) == 1  # "true" as a string: the view's to read
    db.session.expire_all()
    stored = db.session.scalars(select(Answer).where(Answer.attempt_id == attempt)).one()
    assert stored.response == "D" and stored.flagged is True
    # Not in this attempt: the view's reason, nothing written.
    refused = _post(doctor, attempt, 999999, "A", token)
    assert refused.status_code == 400 and refused.get_json()["ok"] is False
    assert len(reached_app) == 2


def test_the_prepared_statement_sends_what_sqlalchemy_would(province):
    """``commands.exam._Prepared`` runs the guarded upsert as its SQL text with the bind
    processors applied by hand: the driver must get the very SQL and parameters that
    SQLAlchemy itself sends for the statement (dates formatted the same, or a deadline
    compared as text on SQLite would be wrong)."""
    import datetime

    from sqlalchemy import event

    from commands import exam as taking

    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    params = {"attempt_id": 987654, "question_id": 2, "response": "AC", "flagged": True,
              "now": datetime.datetime(2026, 11, 27, 8, 1, 2, 345), "device": "d",
              "user_id": 3}
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        for keep_flag in (True, False):
            statement = taking._guarded_upsert(db.engine.dialect.name, keep_flag)
            with db.engine.begin() as connection:
                assert connection.execute(statement, params).rowcount == 0
            with db.engine.begin() as connection:
                prepared = taking._Prepared(statement, db.engine.dialect)
                assert prepared.run(connection, params) == 0  # no such attempt
            assert sent[-1] == sent[-2]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_behind_trusted_proxies_the_layer_sees_what_the_app_sees():
    """With TRUSTED_PROXIES the layer sits inside ProxyFix: the scheme and host it checks the
    referrer against are the client's, as Flask-WTF's are."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    from app import create_app
    from tests.conftest import _config
    from views.exam_answer import AnswerFastPath

    proxied = create_app({**_config(), "TRUSTED_PROXIES": 1})
    assert isinstance(proxied.wsgi_app, ProxyFix)
    assert isinstance(proxied.wsgi_app.app, AnswerFastPath)
    direct = create_app(_config())
    assert isinstance(direct.wsgi_app, AnswerFastPath)


def test_a_token_checked_once_lets_no_other_token_through(as_role, reached_app):
    """What the layer keeps of a checked cookie and token is kept for that very pair: the same
    cookie with another token is checked again (and refused by the app)."""
    doctor, attempt, singles = _simple_attempt(as_role)
    token = _token_from_session(doctor)
    assert _post(doctor, attempt, singles[0].id, "A", token).status_code == 200
    assert reached_app == []
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert _post(doctor, attempt, singles[0].id, "B", forged).status_code == 400
    assert len(reached_app) == 1 and _stored(attempt, singles[0].id) == "A"


def _later(monkeypatch, seconds):
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


def test_a_checked_cookie_is_kept_no_longer_than_its_age_limit(as_role, province,
                                                               reached_app, monkeypatch):
    doctor, attempt, singles = _simple_attempt(as_role)
    token = _token_from_session(doctor)
    assert _post(doctor, attempt, singles[0].id, "A", token).status_code == 200
    _later(monkeypatch, province.permanent_session_lifetime.total_seconds() + 5)
    refused = _post(doctor, attempt, singles[0].id, "B", token)
    assert refused.status_code != 200 and reached_app
    assert _stored(attempt, singles[0].id) == "A"


def test_a_checked_token_is_kept_no_longer_than_its_time_limit(as_role, province, reached_app,
                                                              monkeypatch):
    monkeypatch.setitem(province.config, "WTF_CSRF_TIME_LIMIT", 60)
    doctor, attempt, singles = _simple_attempt(as_role)
    token = _token_from_session(doctor)
    assert _post(doctor, attempt, singles[0].id, "A", token).status_code == 200
    assert reached_app == []
    _later(monkeypatch, 120)
    refused = _post(doctor, attempt, singles[0].id, "B", token)
    assert refused.status_code == 400 and reached_app
    assert _stored(attempt, singles[0].id) == "A"


def test_a_new_secret_key_ends_what_was_checked_with_the_old_one(as_role, province,
                                                                 reached_app, monkeypatch):
    doctor, attempt, singles = _simple_attempt(as_role)
    token = _token_from_session(doctor)
    assert _post(doctor, attempt, singles[0].id, "A", token).status_code == 200
    monkeypatch.setitem(province.config, "SECRET_KEY", "another-secret-key-" + "x" * 32)
    refused = _post(doctor, attempt, singles[0].id, "B", token)
    assert refused.status_code != 200 and reached_app
    assert _stored(attempt, singles[0].id) == "A"


def test_the_liveness_check_holds_when_redis_lost_its_script_or_the_connection(as_role,
                                                                               reached_app):
    """The layer asks Redis on its own connection (security/session_rules.py, ``_quick_call``);
    when Redis no longer has the script, or that connection broke, the client's way answers."""
    from app import jobs
    from security import session_rules

    doctor, attempt, singles = _simple_attempt(as_role)
    token = _token_from_session(doctor)
    assert _post(doctor, attempt, singles[0].id, "A", token).status_code == 200
    jobs.connection().script_flush()
    assert _post(doctor, attempt, singles[0].id, "B", token).status_code == 200
    connection = session_rules._quick.connection
    if connection is None:  # the fallback dropped it; the next save makes a new one
        assert _post(doctor, attempt, singles[0].id, "C", token).status_code == 200
        connection = session_rules._quick.connection
    connection._sock.close()  # broken under the layer's feet
    assert _post(doctor, attempt, singles[0].id, "D", token).status_code == 200
    assert reached_app == [] and _stored(attempt, singles[0].id) == "D"

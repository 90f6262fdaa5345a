"""The key that signs session cookies (issue #8, point 1): outside the embedded demo the app does
not start without a long secret key; the embedded demo makes its own and keeps it."""
import hashlib
import os
import stat

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from app import create_app
from app.extensions import db
from models import AppUser
from tests.conftest import _config

OLD_DEFAULT = "dev-only-change-me"
LONG_KEY = "k" * 8 + "9Jx2-rT5vQ8mN1pL4sW7yZ0aB3cD6eF"


def _cookie_signed_with(key, data):
    signer = Flask("forger")
    signer.secret_key = key
    return SecureCookieSessionInterface().get_signing_serializer(signer).dumps(data)


@pytest.mark.parametrize("key", [None, "", OLD_DEFAULT, "short-but-set"])
def test_with_a_database_url_a_missing_or_weak_key_stops_the_start(monkeypatch, key):
    monkeypatch.setenv("DATABASE_URL", _config()["SQLALCHEMY_DATABASE_URI"])
    with pytest.raises(RuntimeError, match="SECRET_KEY"):  # app.InsecureConfiguration
        create_app({**_config(), "SECRET_KEY": key})


def test_in_production_a_missing_key_stops_the_start():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({**_config(), "SECRET_KEY": None, "PRODUCTION": True})


def test_with_a_database_url_and_a_long_key_the_app_starts(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", _config()["SQLALCHEMY_DATABASE_URI"])
    app = create_app({**_config(), "SECRET_KEY": LONG_KEY})
    assert app.secret_key == LONG_KEY


def test_the_embedded_demo_makes_a_key_keeps_it_and_old_default_cookies_open_nothing(province):
    from config import VAR_DIR

    app = create_app({**_config(), "SECRET_KEY": None})
    key = app.secret_key
    assert key and key != OLD_DEFAULT and len(key) >= 32
    stored = VAR_DIR / "secret_key"
    assert stored.read_text().strip() == key
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert create_app({**_config(), "SECRET_KEY": None}).secret_key == key  # the next start

    # The attack of the issue: a session cookie made with the old default key, naming the
    # system administrator.
    admin = db.session.query(AppUser).filter_by(username="admin").one()
    forged = _cookie_signed_with(OLD_DEFAULT, {
        "_user_id": str(admin.id), "_fresh": True, "_id": hashlib.sha512(b"x").hexdigest()})
    client = app.test_client()
    client.set_cookie("session", forged)
    response = client.get("/users/list/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]

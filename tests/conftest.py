"""A small province for every test: the demo province (two cities, three districts, each type
of institution, one account per role), built fresh through the real migrations.

The database is SQLite by default and PostgreSQL when TEST_DATABASE_URL says so (make test runs
both). Each test starts from the same seeded state: tables are emptied and the province seeded
again.
"""
import os
import re
import tempfile
from pathlib import Path

import pytest

# Set once per process: pytest imports this file both as `conftest` and as `tests.conftest`.
TMP = Path(os.environ.setdefault("DINGKAO_TEST_TMP", tempfile.mkdtemp(prefix="dingkao-test-")))
# The test run's own var dir (embedded Redis, generated keys), never the checkout's: a `make run`
# in the same tree keeps its server and data.
os.environ.setdefault("DINGKAO_VAR_DIR", str(TMP / "var"))
# Tests log the same demo accounts in again and again: the per-account login limit is off
# unless a test sets it (tests/test_security_login.py does).
os.environ.setdefault("LOGIN_ACCOUNT_RATE_LIMIT", "100000 per minute")
PASSWORD = "Demo@2026"

from app import create_app  # noqa: E402  (after the environment above: config reads it)
from app.extensions import db  # noqa: E402


def _config():
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": os.environ.get(
            "TEST_DATABASE_URL", f"sqlite:///{TMP / 'test.db'}"
        ),
        "UPLOAD_DIR": TMP / "uploads",
        "CAPTCHA_ENABLED": False,
        "AUTH_RATE_LIMIT": "100000 per minute",
        "SECRET_KEY": "test-secret",
        "SERVER_NAME": None,
    }


@pytest.fixture(scope="session", autouse=True)
def _embedded_redis_stops_with_the_tests():
    """The embedded Redis a test started is stopped when the run ends, not left behind."""
    yield
    from app import jobs

    jobs.stop_embedded()


@pytest.fixture(scope="session")
def app():
    app = create_app(_config())
    with app.app_context():
        from flask_migrate import upgrade

        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade()

    def fresh_request_globals():
        # Tests hold an app context open, and Flask then reuses it (and its `g`) for the test
        # client's requests; in production every request has its own. Start each one clean.
        from flask import g

        g.__dict__.clear()

    app.before_request_funcs.setdefault(None, []).insert(0, fresh_request_globals)
    return app


def _empty_tables():
    from flask_appbuilder import Model

    tables = [table.name for table in Model.metadata.tables.values()]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        else:
            # SQLite does not enforce foreign keys here, so the order does not matter.
            for name in tables:
                conn.exec_driver_sql(f"DELETE FROM {name}")


# The seeded province's rows, table by table, per database: seeding through the models takes
# ~0.5 s (SQLite) to ~1.5 s (PostgreSQL) a test; copying the rows back takes a fraction.
_SEEDED = {}


def _snapshot():
    from flask_appbuilder import Model

    with db.engine.connect() as conn:
        return [(table, [dict(row) for row in conn.execute(table.select()).mappings()])
                for table in Model.metadata.sorted_tables]


def _restore(snapshot):
    """The seeded rows back in emptied tables (parents first), and on PostgreSQL every id
    sequence set past the rows' ids, as after seeding."""
    from sqlalchemy import text

    with db.engine.begin() as conn:
        for table, rows in snapshot:
            if rows:
                conn.execute(table.insert(), rows)
        if conn.dialect.name == "postgresql":
            serials = conn.execute(text(
                "SELECT table_name, column_name, column_default FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND column_default LIKE :serial"),
                {"serial": "nextval(%"}).all()
            for table, column, default in serials:
                sequence = re.search(r"nextval\('([^']+)'", default).group(1)
                conn.execute(text(
                    f'SELECT setval(:sequence, (SELECT COALESCE(MAX("{column}"), 0) + 1 '
                    f'FROM "{table}"), false)'), {"sequence": sequence})


@pytest.fixture()
def province(app):
    """The demo province, freshly seeded; yields the app inside an app context. Seeded through
    the app once per database and run; then each test gets the same rows copied back."""
    from app import demo
    from app.cli import ensure_roles

    with app.app_context():
        _empty_tables()
        db.session.remove()
        key = str(db.engine.url)
        if key in _SEEDED:
            _restore(_SEEDED[key])
        else:
            ensure_roles()
            demo.seed_demo_province()
            db.session.commit()
            _SEEDED[key] = _snapshot()
        db.session.remove()
        yield app
        db.session.remove()


@pytest.fixture()
def client(province):
    return province.test_client()


def csrf_token(client):
    page = client.get("/login/").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'id="csrf_token"[^>]*value="([^"]+)"', page
    )
    assert match, "no CSRF token on the login page"
    return match.group(1)


def login(client, username, password=PASSWORD, kind="staff", **extra):
    data = {"kind": kind, "username": username, "password": password, "agree": "y",
            "csrf_token": csrf_token(client), **extra}
    return client.post("/login/", data=data)


def post(client, url, data=None):
    """POST with the session's CSRF token, as the browser's forms do."""
    token = _token_from_session(client)
    return client.post(url, data={"csrf_token": token, **(data or {})})


def _token_from_session(client):
    page = client.get("/account/password").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the account page"
    return match.group(1)


ACCOUNTS = {
    "province": "province",
    "city": "city",
    "district": "district",
    "institution": "NX1008611",
    "assessment": "NX1008600",
    "operator": "ops",
    "sysadmin": "admin",
}


@pytest.fixture()
def as_role(province):
    """as_role("district") -> a test client logged in as that role's demo account."""

    def make(role):
        from app.demo import DEMO_PHYSICIAN_ID

        client = province.test_client()
        if role == "physician":
            response = login(client, DEMO_PHYSICIAN_ID, kind="physician")
        else:
            response = login(client, ACCOUNTS[role])
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return client

    return make


def flashes(client):
    """Messages flashed to the client's session and not yet shown."""
    with client.session_transaction() as session:
        return [message for _, message in session.get("_flashes", [])]

"""The application factory."""
import logging
import os

from flask import Flask

from config import BASE_DIR, Config


def create_app(overrides=None):
    """Build the app. ``overrides`` (a dict) wins over config.py and the environment."""
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "views" / "templates"),
        static_folder=str(BASE_DIR / "views" / "static"),
        static_url_path="/static",
    )
    app.config.from_object(Config)
    if overrides:
        app.config.update(overrides)
    logging.basicConfig(level=app.config.get("LOG_LEVEL", logging.INFO))
    _prepare_dirs(app)
    _postgres_settings(app)
    _check_secret_key(app)
    _choose_rate_limit_storage(app)
    _trust_proxies(app)

    from flask_appbuilder import AppBuilder

    from app.extensions import csrf, db, migrate
    import models  # noqa: F401  (registers every table)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True,
                     compare_type=True)
    csrf.init_app(app)
    with app.app_context():
        appbuilder = AppBuilder()
        appbuilder.init_app(app, db.session)
        from views import register_views

        register_views(appbuilder)

    from app import cli
    from security.headers import register_security_headers
    from security.session_rules import register_session_rules
    from views import exam_answer, render_cache

    cli.register(app)
    exam_answer.register(app)  # before the session rules: the exam's hot path loads no user
    register_session_rules(app)
    register_security_headers(app)
    render_cache.register(app)
    return app


class InsecureConfiguration(RuntimeError):
    """The app refuses to start as configured; the message says what to set."""


MIN_SECRET_KEY_LENGTH = 32
# Keys that were once defaults or examples: whoever has the source can sign cookies with them.
_KNOWN_KEYS = {"dev-only-change-me", "change-me", "changeme", "secret"}


def _check_secret_key(app):
    """The key that signs session cookies must be secret. Outside the embedded demo (any
    DATABASE_URL, or PRODUCTION) a missing, known or short key stops the start; the embedded
    demo without a key generates one and keeps it in VAR_DIR, so `make run` just works."""
    key = app.config.get("SECRET_KEY")
    strict = app.config.get("PRODUCTION") or bool(os.environ.get("DATABASE_URL"))
    weak = not key or key in _KNOWN_KEYS or len(key) < MIN_SECRET_KEY_LENGTH
    if strict and weak:
        raise InsecureConfiguration(
            "SECRET_KEY must be set to at least %d random characters (e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`) when DATABASE_URL "
            "or PRODUCTION is set; refusing to start." % MIN_SECRET_KEY_LENGTH)
    if not key or key in _KNOWN_KEYS:
        app.config["SECRET_KEY"] = _stored_secret_key()


def _stored_secret_key():
    """The embedded demo's key: generated once, readable by this user only, shared by the
    processes of one VAR_DIR (run.py and its worker)."""
    import secrets
    import tempfile

    from config import VAR_DIR

    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=VAR_DIR, prefix=".secret_key-")  # mode 0600
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        try:
            os.link(scratch, path)  # atomic, and never over a key another process just made
        except FileExistsError:
            pass
        finally:
            os.unlink(scratch)
    return path.read_text().strip()


def _choose_rate_limit_storage(app):
    """The login limit counts per address in one store for all the web processes: the Redis of
    REDIS_URL when there is one (each gunicorn worker counting alone in its memory would let
    N times the limit through), memory for the embedded demo's single process."""
    if app.config.get("RATELIMIT_STORAGE_URI"):
        return
    url = app.config.get("REDIS_URL") or ""
    if url.startswith("unix://"):
        url = "redis+" + url  # the limits library's name for Redis over a socket
    app.config["RATELIMIT_STORAGE_URI"] = url or "memory://"


def _trust_proxies(app):
    """Behind TRUSTED_PROXIES reverse proxies, the client's address, scheme and host are the
    ones the nearest proxies put in X-Forwarded-*: the login limit and the audit then see
    the client, not the proxy. With 0 those headers are ignored (anyone can send them)."""
    count = int(app.config.get("TRUSTED_PROXIES") or 0)
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count,
                                x_port=count)


def _postgres_settings(app):
    """PostgreSQL: the planner settings of config.POSTGRES_RANDOM_PAGE_COST, sent with each
    connection's start-up (``options``), so every connection of every process has them."""
    cost = str(app.config.get("POSTGRES_RANDOM_PAGE_COST") or "").strip()
    if not cost or not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return
    float(cost)  # a typo stops the start, not the first query
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    connect_args["options"] = f"{connect_args.get('options', '')} -c random_page_cost={cost}".strip()
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _prepare_dirs(app):
    from pathlib import Path

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:memory:"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    app.config["UPLOAD_DIR"] = Path(app.config["UPLOAD_DIR"])
    app.config["UPLOAD_DIR"].mkdir(parents=True, exist_ok=True)

"""The application factory."""
import logging

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
    from security.session_rules import register_session_rules

    cli.register(app)
    register_session_rules(app)
    return app


def _prepare_dirs(app):
    from pathlib import Path

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:memory:"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    app.config["UPLOAD_DIR"] = Path(app.config["UPLOAD_DIR"])
    app.config["UPLOAD_DIR"].mkdir(parents=True, exist_ok=True)

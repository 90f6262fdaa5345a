"""The database as the app sets it up: SQLite files in write-ahead-log mode, and planner
statistics refreshed by ``analyze`` (run after migrations, bulk loads and a retally)."""
from sqlalchemy import text

from app.extensions import analyze, db


def test_a_sqlite_file_is_in_write_ahead_log_mode(province):
    if db.engine.dialect.name != "sqlite":
        assert db.engine.dialect.name == "postgresql"
        return
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        # NORMAL (1): a commit does not wait for the disk; FULL (2) is SQLite's default.
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1


def test_analyze_leaves_statistics_for_the_planner(province):
    analyze()
    if db.engine.dialect.name == "sqlite":
        tables = set(db.session.scalars(text("SELECT DISTINCT tbl FROM sqlite_stat1")))
    else:
        tables = set(db.session.scalars(text(
            "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")))
    assert {"enrollment", "physician", "institution"} <= tables


def test_postgresql_connections_price_random_reads_for_memory_and_ssd(province):
    """Every PostgreSQL connection starts with random_page_cost from the config (1.1), so the
    lists' plans read their indexes; SQLite has no such setting."""
    from app import _postgres_settings

    class Fake:
        config = {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://x@h/db",
                  "POSTGRES_RANDOM_PAGE_COST": "1.1",
                  "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 3,
                                                "connect_args": {"options": "-c a=b"}}}

    _postgres_settings(Fake)
    assert Fake.config["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "pool_size": 3, "connect_args": {"options": "-c a=b -c random_page_cost=1.1"}}
    if db.engine.dialect.name == "postgresql":
        assert db.session.execute(text("SHOW random_page_cost")).scalar() == "1.1"

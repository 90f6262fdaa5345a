"""Extension objects shared by the factory, the models' helpers and the jobs."""
import sqlite3

from flask_appbuilder import Model
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

# FAB's declarative Model carries the metadata of every table, FAB's own included.
db = SQLA(metadata=Model.metadata)
migrate = Migrate()
csrf = CSRFProtect()


# SQLite (the embedded default) in write-ahead-log mode: readers no longer wait for a writer,
# nor a writer for readers, which is what many clerks and physicians at once need. The mode
# is kept in the database file; Python's sqlite3 already waits up to 5 s for a lock.
# synchronous=NORMAL, SQLite's advice for WAL: a commit no longer waits for the disk (an fsync
# per answer saved held a worker ~3-7 ms); the file cannot be corrupted, and a commit survives
# a crash of the app; only a power cut or an OS crash can take back the commits since the last
# checkpoint. PostgreSQL, the production database, keeps its synchronous commit.
@event.listens_for(Engine, "connect")
def _sqlite_wal(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        if cursor.execute("PRAGMA database_list").fetchone()[2]:  # a file, not :memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def analyze():
    """Refresh the query planner's statistics (after migrations, bulk loads and a retally):
    without them SQLite walks the wrong index at province scale."""
    db.session.execute(text("ANALYZE"))
    db.session.commit()

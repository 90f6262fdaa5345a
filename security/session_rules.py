"""Rules of a logged-in session.

A login lives on the server, not only in the signed cookie: each login gets a random session id
kept in Redis with the account's id, with a time-to-live of SESSION_IDLE_MINUTES that every
request renews. The cookie is only good while its session id is there, so a session ends — and
a copy of its cookie stops working — at logout, after the idle timeout, and when the account's
password is changed or reset (every session of the account).

Then, on every request of a logged-in user: first a new password, then (physicians) a bound
mobile number; nothing else opens until both are done.
"""
import os
import secrets
import threading

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l

from security import accounts

SESSION_ID = "dk_session"
# Kept when the cookie is emptied (login, logout, an ended session): the language chosen.
_KEPT = ("locale",)
_PREFIX = "dingkao:session:"
_ACCOUNT_PREFIX = "dingkao:account-sessions:"

ENDED_MESSAGE = _l("Your login has ended (logged out, timed out or password changed), please "
                   "log in again")


def _redis():
    from app import jobs

    return jobs.connection()


def _idle_seconds():
    return max(1, int(float(current_app.config["SESSION_IDLE_MINUTES"]) * 60))


def _clean_cookie():
    """Empty the session cookie but for the language chosen."""
    kept = {key: session[key] for key in _KEPT if key in session}
    session.clear()
    session.update(kept)
    g.pop("csrf_token", None)  # Flask-WTF caches the request's token here


def begin(user):
    """Start a server-side session for ``user`` in a clean cookie: a new session id, and no
    data from before (the pre-login CSRF token and captcha go; a new token is made)."""
    _clean_cookie()
    session_id = secrets.token_urlsafe(32)
    pipe = _redis().pipeline()
    pipe.set(_PREFIX + session_id, str(user.id), ex=_idle_seconds())
    pipe.sadd(_ACCOUNT_PREFIX + str(user.id), session_id)
    pipe.expire(_ACCOUNT_PREFIX + str(user.id), _idle_seconds())
    pipe.execute()
    session[SESSION_ID] = session_id
    return session_id


def is_live(user_id, session_id=None):
    """True when the request's session (or the session ``session_id``, read from a cookie
    outside a request context) is a live login of ``user_id``; renews its idle time (and the
    account's list of sessions, which lives as long as its newest session)."""
    session_id = session_id or session.get(SESSION_ID)
    if not session_id:
        return False
    owner = _owner(_PREFIX + session_id, _ACCOUNT_PREFIX + str(user_id), _idle_seconds())
    if isinstance(owner, bytes):
        owner = owner.decode()
    return owner is not None and owner == str(user_id)


def _owner(session_key, account_key, idle_seconds, redis=None):
    """The script's answer (the session's owner, bytes, or None), by the quick way when it
    works, else through the client (which also loads the script when Redis lost it)."""
    redis = redis or _redis()
    script = _live_script(redis)
    try:
        return _quick_call(redis, script.sha, session_key, account_key, idle_seconds)
    except Exception:  # any trouble: the client's way, with its retries and script loading
        _quick.connection = None
        return script(keys=[session_key, account_key], args=[idle_seconds])


class _Quick(threading.local):
    """This thread's own connection to the app's Redis, for the liveness script only."""
    connection = None
    redis = None
    pid = None


_quick = _Quick()


def _quick_call(redis, sha, session_key, account_key, idle_seconds):
    """EVALSHA of the liveness script, packed here and sent on this thread's own connection
    (made with the pool's settings: address, password, database, time-outs). The client's
    ``evalsha`` costs several times the script's own work: a connection checked out of the
    pool and back, health checks, the arguments encoded one by one. Any error (NOSCRIPT, a
    lost connection, a time-out) drops the connection and raises: the caller asks again the
    client's way."""
    state = _quick
    connection = state.connection
    if connection is None or state.redis is not redis or state.pid != os.getpid():
        pool = redis.connection_pool
        connection = pool.connection_class(**pool.connection_kwargs)
        connection.connect()
        state.connection, state.redis, state.pid = connection, redis, os.getpid()
    parts = (b"EVALSHA", sha.encode(), b"2", session_key.encode(), account_key.encode(),
             str(int(idle_seconds)).encode())
    packed = b"*6\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in parts)
    try:
        connection.send_packed_command([packed], check_health=False)
        return connection.read_response(disable_decoding=True)
    except BaseException:
        state.connection = None
        connection.disconnect()
        raise


# One round trip and one command (every request asks it): the session's owner, and both the
# session and the account's list of sessions renewed to the full idle time (the list so that it
# outlives every live session of the account).
_LIVE = """
local owner = redis.call('GET', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return owner
"""
_live_scripts = {}


def _live_script(redis=None):
    redis = redis or _redis()
    known = _live_scripts.get(id(redis))
    if known is None or known[0] is not redis:
        known = _live_scripts[id(redis)] = (redis, redis.register_script(_LIVE))
    return known[1]


def end():
    """End the request's session (logout) and empty the cookie."""
    session_id = session.get(SESSION_ID)
    user_id = session.get("_user_id")
    if session_id:
        pipe = _redis().pipeline()
        pipe.delete(_PREFIX + session_id)
        if user_id:
            pipe.srem(_ACCOUNT_PREFIX + str(user_id), session_id)
        pipe.execute()
    _clean_cookie()


def end_all(user_id):
    """End every session of an account (its password was changed or reset)."""
    redis = _redis()
    account_key = _ACCOUNT_PREFIX + str(user_id)
    session_ids = redis.smembers(account_key)
    pipe = redis.pipeline()
    for session_id in session_ids:
        pipe.delete(_PREFIX + session_id.decode())
    pipe.delete(account_key)
    pipe.execute()


def refuse_ended_session():
    """Called when the cookie names an account whose session is not live: forget the account
    in this cookie and tell the user why they see the login page again."""
    _clean_cookie()
    if request.endpoint and not request.path.startswith("/api/"):
        flash(str(ENDED_MESSAGE), "warning")


_ALWAYS_OPEN = {
    "static",
    "appbuilder.static",
    "DingkaoAuthView.logout",
    "DingkaoAuthView.login",
    "DingkaoAuthView.captcha_image",
    "AccountView.password",
    "AccountView.mobile",
    "AccountView.send_code",
    "LocaleView.index",
}


def register_session_rules(app):
    @app.before_request
    def _enforce_first_login_steps():
        user = getattr(g, "user", None)
        if user is None or not user.is_authenticated or request.endpoint in _ALWAYS_OPEN:
            return None
        if user.must_change_password:
            return redirect(url_for("AccountView.password"))
        if accounts.needs_mobile(user):
            return redirect(url_for("AccountView.mobile"))
        return None

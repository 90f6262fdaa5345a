"""Exam day's hot path: saving one answer.

Thousands of physicians in an exam save an answer every few seconds. Profiled (README §9), the
checked view (``ExamView.answer``) and even a ``before_request`` shortcut spent most of a save's
time in the machinery around it, not in its rules: Flask's request context, the limiter's
bookkeeping, FAB and Flask-Login's hooks, the after-request hooks. So the save is taken in front
of all that, by a small WSGI layer around the app (inside ProxyFix, so it sees the client's
scheme and host as the app does), which applies the very same rules with one Redis round trip
and one SQL statement:

- the route is the app's own (its URL map matches ``ExamView.answer`` for this request; the
  map's answer is kept per path and host);
- the session is the app's cookie, opened as the app's session interface opens it (same
  serializer, key and age limit); a permanent session or a pending remember-me cookie is left
  to the app;
- the CSRF token is checked as Flask-WTF checks it (the token of a header in
  ``WTF_CSRF_HEADERS``, signed with the same key and salt, equal to the session's, the
  referrer's origin over HTTPS) whenever Flask-WTF would check it;
- a page sends the same cookie and token with every answer: once both are checked, what they
  said (account, session id, device) is kept by their exact text until the earlier of their age
  limits (a changed key or limit forgets everything kept); the referrer is checked every time;
- the session must be a live login (``session_rules.is_live``, which also renews its idle time),
  asked of Redis on every save: a logout, the idle timeout or a password change ends the saves
  at once;
- the question must be one of the attempt's and the response valid for it: checked against the
  attempt's questions, read once per attempt and kept in this process (they never change once
  the attempt has started);
- the write itself is conditional (``commands.exam.save_answer_if_open``): only an open attempt
  of this device, before its deadline, of the physician of this account — an active account —
  takes it.

Whatever does not pass — no session, a bad token, an unknown question, a response the question
refuses, the guard writing nothing, any error — goes on to the app unchanged (the body is handed
on as read), where ``ExamView.answer`` checks everything again the slow way and answers as
before: 400 without a valid token, 404 for someone else's attempt, 409 taken over, 400 with the
reason. So this layer can only ever accept what the checked view accepts; it never refuses.
"""
import hmac
import io
import json
import logging
import math
import secrets
import time
from collections import namedtuple

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadData, BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from commands import exam as taking
from models import exam_rules as rules
from security import session_rules
from views import exam as exam_view

ENDPOINT = "ExamView.answer"
# An attempt's questions as ``normalise_response`` reads them (type, and options to count).
Shape = namedtuple("Shape", "type options")
_CACHE_SIZE = 20000
_CACHE_SECONDS = 3600
_MAX_BODY = 4096  # an answer is a few dozen bytes; anything larger is the app's to read
_shapes = {}
log = logging.getLogger(__name__)


def _shapes_of(attempt_id, device, engine=None):
    """The attempt's questions by id, or None when there is no such attempt. Kept by attempt
    and device: the device is a random token the guard checks too, so an entry can never be
    read for another attempt that came to have the same id (a database restored or reset)."""
    key = (attempt_id, device)
    cached = _shapes.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    found = taking.attempt_questions(attempt_id, engine=engine)
    if found is None:
        return None
    shapes = {question_id: Shape(*shape) for question_id, shape in found.items()}
    if len(_shapes) >= _CACHE_SIZE:
        _shapes.clear()
    _shapes[key] = (time.monotonic() + _CACHE_SECONDS, shapes)
    return shapes


def _csrf_token_of(environ, config):
    """The token of the first of ``WTF_CSRF_HEADERS`` sent (a JSON body carries no form
    field), as Flask-WTF reads it."""
    for header in config["WTF_CSRF_HEADERS"]:
        data = environ.get("HTTP_" + header.upper().replace("-", "_"))
        if data:
            return data
    return None


def _csrf_checked(config):
    """Whether Flask-WTF checks the token of a POST at all."""
    return config["WTF_CSRF_ENABLED"] and config["WTF_CSRF_CHECK_DEFAULT"] and \
        "POST" in config["WTF_CSRF_METHODS"]


def _csrf_valid_until(app, data, session):
    """Flask-WTF's check (``CSRFProtect.protect`` → ``validate_csrf``) of the token ``data``
    against the session's, but for the referrer (checked on every request): None when
    Flask-WTF would refuse it, else until when it holds (epoch seconds; ``math.inf`` without
    WTF_CSRF_TIME_LIMIT)."""
    config = app.config
    field_name = config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    if not data or field_name not in session:
        return None
    secret_key = config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    time_limit = config.get("WTF_CSRF_TIME_LIMIT", 3600)
    try:
        token, signed_at = URLSafeTimedSerializer(secret_key, salt="wtf-csrf-token").loads(
            data, max_age=time_limit, return_timestamp=True)
    except BadData:
        return None
    if not isinstance(token, str) or not hmac.compare_digest(session[field_name], token):
        return None
    return math.inf if time_limit is None else signed_at.timestamp() + time_limit


def _same_origin_referrer(app, environ):
    """Flask-WTF's strict referrer check over HTTPS (``WTF_CSRF_SSL_STRICT``)."""
    from flask_wtf.csrf import same_origin

    request = app.request_class(environ)
    return bool(request.referrer) and same_origin(request.referrer, f"https://{request.host}/")


# What a session cookie and a token, once checked, let through (until ``until``, epoch
# seconds: the earlier of the cookie's and the token's age limits).
Login = namedtuple("Login", "user_id session_id device until")


class AnswerFastPath:
    """The WSGI layer: ``POST …/answer`` saved here when every rule holds, everything else
    (and every refusal) passed on to ``wsgi_app``, the app."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._engine = None
        self._routes = {}  # (path, host, script name, scheme) → attempt id, 0 for another route
        self._logins = {}  # (Cookie header, CSRF token) → Login
        self._keys = None  # the settings that checked them

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST" and \
                environ.get("PATH_INFO", "").endswith("/answer"):
            body = self._read_body(environ)
            if body is not None:
                try:
                    with self.app.app_context():
                        reply = self._save(environ, body)
                except Exception:  # the app answers instead (and says what went wrong)
                    log.warning("exam answer fast path failed; the app takes the request",
                                exc_info=True)
                    reply = None
                if reply is not None:
                    return reply(environ, start_response)
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _read_body(environ):
        """The request's body, read once and put back for the app; None (nothing read) when
        it is not a small JSON body of a known length."""
        content_type = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return None
        if not 0 < length <= _MAX_BODY:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        return body

    def engine(self):
        if self._engine is None:
            from app.extensions import db

            self._engine = db.engine
        return self._engine

    def _attempt_of(self, environ):
        """The attempt id when the app's URL map routes this POST to ``ExamView.answer``,
        else 0; the map's answer kept by path and host (the map does not change)."""
        key = (environ.get("PATH_INFO", ""), environ.get("HTTP_HOST"),
               environ.get("SCRIPT_NAME"), environ.get("wsgi.url_scheme"))
        attempt_id = self._routes.get(key)
        if attempt_id is None:
            app = self.app
            try:
                endpoint, view_args = app.create_url_adapter(
                    app.request_class(environ)).match(method="POST")
            except HTTPException:
                endpoint = None
            attempt_id = view_args["attempt_id"] if endpoint == ENDPOINT else 0
            if len(self._routes) >= _CACHE_SIZE:
                self._routes.clear()
            self._routes[key] = attempt_id
        return attempt_id

    def _login_of(self, environ, csrf):
        """The login of the request's session cookie (and its CSRF token, ``csrf``: checked
        when Flask-WTF checks it), or None when the app is to judge the request. Opening the
        signed cookie and the signed token costs more than the rest of a save, and a page
        sends the same two for every answer: what they said, once checked, is kept by their
        exact text (with the keys and limits that checked them) until the earlier of their
        age limits. Liveness is not kept: it is asked of Redis on every save."""
        app = self.app
        config = app.config
        keys = (app.secret_key, tuple(config.get("SECRET_KEY_FALLBACKS") or ()),
                config.get("WTF_CSRF_SECRET_KEY"), config.get("WTF_CSRF_TIME_LIMIT", 3600),
                config.get("WTF_CSRF_FIELD_NAME"), app.permanent_session_lifetime,
                app.config["SESSION_COOKIE_NAME"], csrf)
        if keys != self._keys:  # a setting changed (tests do): nothing checked before holds
            self._logins.clear()
            self._keys = keys
        token = _csrf_token_of(environ, config) if csrf else None
        cache_key = (environ.get("HTTP_COOKIE"), token)
        login = self._logins.get(cache_key)
        if login is None:
            login = self._check_login(environ, csrf, token)
            if login is None:
                return None
            if len(self._logins) >= _CACHE_SIZE:
                self._logins.clear()
            self._logins[cache_key] = login
        if not login.until >= time.time():
            self._logins.pop(cache_key, None)
            return None
        return login

    def _check_login(self, environ, csrf, token):
        """The slow half of ``_login_of``: the cookie opened as the app's session interface
        opens it (its serializer, key and age limit), then the token checked."""
        app = self.app
        interface = app.session_interface
        if type(interface) is not SecureCookieSessionInterface:
            return None  # another kind of session: the app's to open
        cookie = app.request_class(environ).cookies.get(interface.get_cookie_name(app))
        serializer = interface.get_signing_serializer(app)
        if not cookie or serializer is None:
            return None
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return None
        session = interface.session_class(data)
        if not session or session.permanent or "_remember" in session:
            return None  # what the app's hooks would change in the cookie is the app's to do
        user_id = session.get("_user_id")
        session_id = session.get(session_rules.SESSION_ID)
        device = session.get(exam_view.DEVICE)
        if not isinstance(user_id, str) or not user_id.isdigit() or \
                not isinstance(session_id, str) or not session_id:
            return None
        until = signed_at.timestamp() + max_age
        if csrf:
            token_until = _csrf_valid_until(app, token, session)
            if token_until is None:
                return None
            until = min(until, token_until)
        return Login(int(user_id), session_id, device if isinstance(device, str) else None,
                     until)

    def _save(self, environ, body):
        app = self.app
        config = app.config
        attempt_id = self._attempt_of(environ)
        if not attempt_id or config.get("SESSION_PROTECTION") == "strong":
            return None
        csrf = _csrf_checked(config)
        login = self._login_of(environ, csrf)
        if login is None:
            return None
        if csrf and environ.get("wsgi.url_scheme") == "https" and \
                config["WTF_CSRF_SSL_STRICT"] and not _same_origin_referrer(app, environ):
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        # The page sends its device; a client that does not is this browser's (as the view reads).
        device = data.get("device") or login.device
        question_id = data.get("question_id")
        flagged = data.get("flagged")
        if isinstance(question_id, str) and question_id.isascii() and question_id.isdigit() \
                and len(question_id) <= 10:
            question_id = int(question_id)  # the page sends it as its data attribute, a string
        if not isinstance(device, str) or type(question_id) is not int or \
                flagged not in (None, True, False):
            return None
        engine = self.engine()
        shapes = _shapes_of(attempt_id, device, engine)
        shape = shapes.get(question_id) if shapes else None
        if shape is None:
            return None
        try:
            letters = rules.normalise_response(shape, data.get("response"))
        except Exception:  # refused (ExamRefused): the checked view says why
            return None
        # Last before the write: the login must be live (a logged-out session saves nothing).
        if not session_rules.is_live(login.user_id, login.session_id):
            return None
        if not taking.save_answer_if_open(login.user_id, attempt_id, device, question_id,
                                          letters, flagged, engine=engine):
            return None
        return self._reply({"ok": True, "response": letters})

    def _reply(self, payload):
        """The response the app would give, as a WSGI callable: the JSON as ``jsonify``
        writes it, the security headers of every response, and ``Vary: Cookie`` (the session
        was read)."""
        body = (json.dumps(payload, separators=(",", ":"), sort_keys=True) + "\n").encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        nonce = []

        def csp_nonce():
            if not nonce:
                nonce.append(secrets.token_urlsafe(16))
            return nonce[0]

        self.app.extensions["security_headers"](headers, csp_nonce)
        headers["Vary"] = "Cookie"

        def reply(_environ, start_response):
            start_response("200 OK", list(headers.items()))
            return [body]

        return reply


def register(app):
    """In front of the app, inside ProxyFix when TRUSTED_PROXIES puts one there."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    if isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app.app = AnswerFastPath(app, app.wsgi_app.app)
    else:
        app.wsgi_app = AnswerFastPath(app, app.wsgi_app)

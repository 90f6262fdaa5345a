"""Exam day's hot path: saving one answer.

Thousands of physicians in an exam save an answer every few seconds. Profiled (README §9), the
checked view (``ExamView.answer``) and even a ``before_request`` shortcut spent most of a save's
time in the machinery around it, not in its rules: Flask's request context, the limiter's
bookkeeping, FAB and Flask-Login's hooks, the after-request hooks. So the save is taken in front
of all that, by a small WSGI layer around the app (inside ProxyFix, so it sees the client's
scheme and host as the app does), which applies the very same rules with one Redis round trip
and one SQL statement:

- the route is the app's own (its URL map matches ``ExamView.answer`` for this request);
- the session is the app's cookie, opened by the app's session interface (same key, same
  expiry); a permanent session or a pending remember-me cookie is left to the app;
- the CSRF token is checked as Flask-WTF checks it (the token of a header in
  ``WTF_CSRF_HEADERS``, signed with the same key and salt, equal to the session's, the
  referrer's origin over HTTPS) whenever Flask-WTF would check it;
- the session must be a live login (``session_rules.is_live``, which also renews its idle time):
  a logout, the idle timeout or a password change ends the saves at once — nothing about the
  user is kept between requests;
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
import secrets
import time
from collections import namedtuple

from itsdangerous import BadData, URLSafeTimedSerializer

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


def _valid_csrf(app, request, session):
    """Flask-WTF's check (``CSRFProtect.protect`` → ``validate_csrf``) for this request: True
    when Flask-WTF would let it through (a JSON body carries no form field, so the token is the
    first of ``WTF_CSRF_HEADERS`` sent)."""
    config = app.config
    if not config["WTF_CSRF_ENABLED"] or not config["WTF_CSRF_CHECK_DEFAULT"] or \
            request.method not in config["WTF_CSRF_METHODS"]:
        return True
    data = None
    for header in config["WTF_CSRF_HEADERS"]:
        data = request.headers.get(header)
        if data:
            break
    field_name = config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    if not data or field_name not in session:
        return False
    secret_key = config.get("WTF_CSRF_SECRET_KEY") or app.secret_key
    time_limit = config.get("WTF_CSRF_TIME_LIMIT", 3600)
    try:
        token = URLSafeTimedSerializer(secret_key, salt="wtf-csrf-token").loads(
            data, max_age=time_limit)
    except BadData:
        return False
    if not isinstance(token, str) or not hmac.compare_digest(session[field_name], token):
        return False
    if request.is_secure and config["WTF_CSRF_SSL_STRICT"]:
        from flask_wtf.csrf import same_origin

        if not request.referrer or not same_origin(request.referrer,
                                                   f"https://{request.host}/"):
            return False
    return True


class AnswerFastPath:
    """The WSGI layer: ``POST …/answer`` saved here when every rule holds, everything else
    (and every refusal) passed on to ``wsgi_app``, the app."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        self._engine = None

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

    def _save(self, environ, body):
        app = self.app
        request = app.request_class(environ)
        endpoint, view_args = app.create_url_adapter(request).match(method="POST")
        if endpoint != ENDPOINT:
            return None
        session = app.session_interface.open_session(app, request)
        if not session or session.permanent or "_remember" in session or \
                app.config.get("SESSION_PROTECTION") == "strong":
            return None  # what the app's hooks would change in the cookie is the app's to do
        user_id = session.get("_user_id")
        session_id = session.get(session_rules.SESSION_ID)
        if not user_id or not session_id or not _valid_csrf(app, request, session):
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        attempt_id = view_args["attempt_id"]
        # The page sends its device; a client that does not is this browser's (as the view reads).
        device = data.get("device") or session.get(exam_view.DEVICE)
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
        if not session_rules.is_live(user_id, session_id):
            return None
        if not taking.save_answer_if_open(int(user_id), attempt_id, device, question_id,
                                          letters, flagged, engine=engine):
            return None
        return self._reply(session, {"ok": True, "response": letters})

    def _reply(self, session, payload):
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

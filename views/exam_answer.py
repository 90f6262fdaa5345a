"""Exam day's hot path: saving one answer.

Thousands of physicians in an exam save an answer every few seconds, and the checked view
(``ExamView.answer``) spends most of a save's time on what does not change within an attempt:
FAB loads the account with its roles for the permission check, the scope rules load the attempt
and the ORM loads the question. Here, before that view is reached (a ``before_request`` hook
that runs after the CSRF check), the same rules take one Redis round trip and one SQL statement:

- the session must be a live login (``session_rules.is_live``, which also renews its idle time);
- the question must be one of the attempt's and the response valid for it: checked against the
  attempt's questions, read once per attempt and kept in this process (they never change once
  the attempt has started);
- the write itself is conditional (``commands.exam.save_answer_if_open``): only an open attempt
  of this device, before its deadline, of the physician of this account takes it.

Whatever does not pass — no session, an unknown question, a response the question refuses, the
guard writing nothing — falls through to ``ExamView.answer``, which checks everything again the
slow way and answers as before: 404 for someone else's attempt, 409 taken over, 400 with the
reason. So the fast path can only ever accept what the checked view accepts.
"""
import time
from collections import namedtuple

from flask import jsonify, request, session

from commands import exam as taking
from models import exam_rules as rules
from security import session_rules
from views import exam as exam_view

ENDPOINT = "ExamView.answer"
# An attempt's questions as ``normalise_response`` reads them (type, and options to count).
Shape = namedtuple("Shape", "type options")
_CACHE_SIZE = 20000
_CACHE_SECONDS = 3600
_shapes = {}


def _shapes_of(attempt_id, device):
    """The attempt's questions by id, or None when there is no such attempt. Kept by attempt
    and device: the device is a random token the guard checks too, so an entry can never be
    read for another attempt that came to have the same id (a database restored or reset)."""
    key = (attempt_id, device)
    cached = _shapes.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    found = taking.attempt_questions(attempt_id)
    if found is None:
        return None
    shapes = {question_id: Shape(*shape) for question_id, shape in found.items()}
    if len(_shapes) >= _CACHE_SIZE:
        _shapes.clear()
    _shapes[key] = (time.monotonic() + _CACHE_SECONDS, shapes)
    return shapes


def _fast_answer():
    if request.endpoint != ENDPOINT or request.method != "POST":
        return None
    user_id = session.get("_user_id")
    data = request.get_json(silent=True)
    if not user_id or not isinstance(data, dict) or not session_rules.is_live(user_id):
        return None
    attempt_id = request.view_args["attempt_id"]
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
    shapes = _shapes_of(attempt_id, device)
    shape = shapes.get(question_id) if shapes else None
    if shape is None:
        return None
    try:
        letters = rules.normalise_response(shape, data.get("response"))
    except rules.ExamRefused:
        return None
    if not taking.save_answer_if_open(int(user_id), attempt_id, device, question_id, letters,
                                      flagged):
        return None
    return jsonify(ok=True, response=letters)


def register(app):
    """After the CSRF check (``csrf.init_app`` comes first), before anything loads the user."""
    app.before_request(_fast_answer)

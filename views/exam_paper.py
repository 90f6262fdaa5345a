"""The paper page's questions (exam/paper.html), rendered once and kept.

Twenty questions of four options each were most of the page's CPU (autoescaping every text,
the labels translated per question), and every physician who starts a paper asks for the same
questions: in the start minute of an exam that is thousands of times the same HTML. So each
question is rendered once per (language, its text, type, score, options and the attempt's
order of its options) by exam/_question.html, and kept in this process; per attempt only its
number on the paper, the options chosen and the review mark are filled in. The key holds the
question's whole text, so an edited question is rendered again; nothing is kept across
languages.
"""
import re

from flask import render_template
from flask_babel import get_locale
from markupsafe import Markup

from models.exam import LETTERS, QUESTION_TYPE

_MARK = re.compile(r"<dk-(n|f|c-[A-Z])>")
_CACHE_SIZE = 5000
_kept = {}


def _parts(question, order, judge, points_label, mark_label, locale):
    key = (locale, question.id, question.type, question.stem, tuple(question.options or ()),
           question.score, tuple(order))
    parts = _kept.get(key)
    if parts is None:
        html = render_template("exam/_question.html", question=question, order=order,
                               letters=LETTERS, types=QUESTION_TYPE, judge=judge,
                               points_label=points_label, mark_label=mark_label)
        parts = tuple(_MARK.split(html))
        if len(_kept) >= _CACHE_SIZE:
            _kept.clear()
        _kept[key] = parts
    return parts


def questions_html(attempt, questions, answers, judge, points_label, mark_label):
    """The fieldsets of ``questions`` (in the attempt's order) with the ``answers`` saved."""
    locale = str(get_locale())
    out = []
    for number, question in enumerate(questions, 1):
        saved = answers.get(question.id)
        response = (saved.response or "") if saved is not None else ""
        flagged = saved is not None and bool(saved.flagged)
        parts = _parts(question, attempt.option_orders[str(question.id)], judge, points_label,
                       mark_label, locale)
        for index, part in enumerate(parts):
            if not index % 2:
                out.append(part)
            elif part == "n":
                out.append(str(number))
            elif part == "f":
                out.append(" checked" if flagged else "")
            else:
                out.append(" checked" if part[2] in response else "")
        out.append("\n    ")
    return Markup("".join(out))

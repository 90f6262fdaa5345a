"""题库 Excel import and export: a downloadable template, every row checked by the bank's own
rule (``exam_rules.check_question``) with all of its problems listed, the valid rows added in
one transaction, and the bank written back out in the template's columns.

The file is read by ``models.spreadsheet`` as every import is: refused as a whole before any
row is read when it is not an xlsx workbook (by its content, not its name), is too large
(packed or unpacked), has headers that differ from the template, or reaches past ``MAX_ROWS``
questions (counted from the sheet's XML first, then while streaming)."""
import io
from dataclasses import dataclass, field

import xlsxwriter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models import audit
from models import exam_rules, spreadsheet
from models.base import Refused, TextList
from models.exam import LETTERS, QUESTION_KIND, QUESTION_TYPE, Question
from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY

MAX_BYTES = spreadsheet.MAX_BYTES
MAX_ROWS = 5000
# Far above any paper's total; keeps a typo (or 1e20) out of the integer column.
MAX_SCORE = 1000
OPTION_LETTERS = LETTERS[:6]
COLUMNS = [
    ("kind", _l("Paper kind")),
    ("practice_category", _l("Practice category")),
    ("level", _l("Physician level")),
    ("type", _l("Question type")),
    ("stem", _l("Question stem")),
    *[(f"option_{letter.lower()}", _l("Option %(letter)s", letter=letter))
      for letter in OPTION_LETTERS],
    ("answer", _l("Answer")),
    ("score", _l("Points")),
    ("explanation", _l("Explanation")),
]
KEYS = [key for key, _label in COLUMNS]
# The header row in the current language (the template is downloaded and uploaded again in
# the language of the page, as its drop-down lists are).
HEADERS = TextList(header for _key, header in COLUMNS)
XLSX_TYPE = spreadsheet.XLSX_TYPE
ImportRefused = spreadsheet.ImportRefused


@dataclass
class ImportResult:
    added: list = field(default_factory=list)
    rejected: list = field(default_factory=list)  # (row number, stem, "reason；reason")

    @property
    def accepted(self):
        return len(self.added)


# --- the template and the export ------------------------------------------------------------


def _labels(choice_set):
    return [choice_set.label(value) for value in choice_set.values()]


def _workbook(buffer):
    # User text is written as text: a stem starting with "=" must never become a formula.
    return xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False, "strings_to_numbers": False})


def _sheet(book, title):
    sheet = book.add_worksheet(title)
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7"})
    text = book.add_format({"num_format": "@", "text_wrap": True, "valign": "top"})
    sheet.write_row(0, 0, list(HEADERS), bold)
    sheet.freeze_panes(1, 0)
    widths = {"stem": 48, "explanation": 36, "answer": 10, "score": 8}
    for col, key in enumerate(KEYS):
        sheet.set_column(col, col, widths.get(key, 14), text if key != "score" else None)
    return sheet


def template_bytes():
    """The xlsx template: the headers, drop-down lists for the coded columns, and notes."""
    buffer = io.BytesIO()
    book = _workbook(buffer)
    sheet = _sheet(book, _("Question bank"))
    lists = {"kind": _labels(QUESTION_KIND), "practice_category": _labels(PRACTICE_CATEGORY),
             "level": _labels(PHYSICIAN_LEVEL), "type": _labels(QUESTION_TYPE)}
    for key, values in lists.items():
        col = KEYS.index(key)
        sheet.data_validation(1, col, MAX_ROWS, col, {"validate": "list", "source": values})
    notes = {
        "practice_category": _("Leave blank for a question that fits every practice category"),
        "level": _("Leave blank for a question that fits every physician level"),
        "option_a": _("Choice questions: at least two options, filled from A on without gaps. "
                      "True-or-false questions: leave the options blank"),
        "answer": _("The letters of the right options, e.g. B or ACD; a true-or-false question: "
                    "正确 or 错误"),
        "score": _("A whole number of at least 1"),
    }
    for key, note in notes.items():
        sheet.write_comment(0, KEYS.index(key), note)
    book.close()
    return buffer.getvalue()


def _row_values(question):
    judge = question.type == QUESTION_TYPE.JUDGE
    options = [] if judge else list(question.options or [])
    answer = question.answer or ""
    if judge:
        answer = dict(zip(LETTERS, exam_rules.JUDGE_OPTIONS)).get(answer, answer)
    values = {
        "kind": QUESTION_KIND.label(question.kind),
        "practice_category": PRACTICE_CATEGORY.label(question.practice_category or None),
        "level": PHYSICIAN_LEVEL.label(question.level or None),
        "type": QUESTION_TYPE.label(question.type),
        "stem": question.stem,
        "answer": answer,
        "score": question.score,
        "explanation": question.explanation or "",
    }
    for index, letter in enumerate(OPTION_LETTERS):
        values[f"option_{letter.lower()}"] = options[index] if index < len(options) else ""
    return values


def export_bytes(questions):
    """The bank (``questions``, an iterable of Question) in the template's columns, so that
    an export can be edited and imported into another bank."""
    buffer = io.BytesIO()
    book = _workbook(buffer)
    sheet = _sheet(book, _("Question bank"))
    row = 0
    for row, question in enumerate(questions, start=1):
        values = _row_values(question)
        for col, key in enumerate(KEYS):
            value = values[key]
            if key == "score" and value is not None:
                sheet.write_number(row, col, value)
            elif value not in (None, ""):
                sheet.write_string(row, col, str(value))
    sheet.autofilter(0, 0, max(row, 1), len(KEYS) - 1)
    book.close()
    return buffer.getvalue()


# --- reading a file -------------------------------------------------------------------------


_text = spreadsheet.text


def _too_many_rows():
    return ImportRefused(_("At most %(count)s questions can be imported at a time: the sheet "
                           "reaches past row %(row)s", count=MAX_ROWS, row=MAX_ROWS + 1))


def read_rows(data):
    """[(row number, values)] of the non-blank data rows, or ImportRefused for the file (read
    by ``models.spreadsheet``, as every import is)."""
    book = spreadsheet.open_workbook(data, MAX_ROWS + 1, _too_many_rows())
    try:
        rows = spreadsheet.sheet_rows(book.worksheets[0], HEADERS, MAX_ROWS, _too_many_rows())
    except Refused:
        raise
    except Exception:
        raise spreadsheet.unreadable() from None
    finally:
        book.close()
    if not rows:
        raise ImportRefused(_("The file holds no questions"))
    return [(number, dict(zip(KEYS, values))) for number, values in rows]


# --- importing ------------------------------------------------------------------------------


def _choice(choice_set, text):
    by_label = {choice_set.label(value): value for value in choice_set.values()}
    return by_label.get(text)


def _score(value):
    """The points as a whole number, or None (blank, text, a fraction) for check_question to
    refuse."""
    if isinstance(value, bool):
        return None
    try:
        number = float(_text(value))
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _answer(text):
    # Letters may come separated as people type them: "A,C", "A、C", "A C".
    for separator in ",，、;； ":
        text = text.replace(separator, "")
    return text


def _question(values):
    """The Question a row describes, and the row's problems that only the file can have (a
    value that is not one of the template's choices, a gap among the options). The bank's own
    rules are ``exam_rules.check_question``'s."""
    problems = []
    # An unknown paper kind or question type is kept as written, for check_question to refuse.
    kind = _choice(QUESTION_KIND, _text(values["kind"])) or _text(values["kind"]) or None
    qtype = _choice(QUESTION_TYPE, _text(values["type"])) or _text(values["type"]) or None
    coded = {}
    for key, choice_set, label in (("practice_category", PRACTICE_CATEGORY,
                                    _("Practice category")),
                                   ("level", PHYSICIAN_LEVEL, _("Physician level"))):
        text = _text(values[key])
        coded[key] = _choice(choice_set, text) if text else None
        if text and coded[key] is None:
            problems.append(_("%(field)s must be one of %(choices)s, or blank for any",
                              field=label, choices=_(", ").join(_labels(choice_set))))
    options = [_text(values[f"option_{letter.lower()}"]) for letter in OPTION_LETTERS]
    while options and not options[-1]:
        options.pop()
    if qtype != QUESTION_TYPE.JUDGE and "" in options:
        problems.append(_("Option %(letter)s is empty while a later option is filled",
                          letter=OPTION_LETTERS[options.index("")]))
    score = _score(values["score"])
    if score is not None and score > MAX_SCORE:
        problems.append(_("The points are too large: at most %(max)s", max=MAX_SCORE))
    question = Question(kind=kind, type=qtype, stem=_text(values["stem"]), options=options,
                        answer=_answer(_text(values["answer"])), score=score,
                        explanation=_text(values["explanation"]) or None, enabled=True,
                        **coded)
    return question, problems


def import_questions(data, user=None):
    """Check every row; add the valid ones (flush, not commit) and list each rejected row
    with all of its problems."""
    rows = read_rows(data)
    result = ImportResult()
    valid = []
    first_row_of = {}
    # Every row is checked before any is added: a row repeating an earlier one of the file is
    # "the same as row N", not "already in the bank".
    for number, values in rows:
        question, problems = _question(values)
        problems += exam_rules.check_question(question)
        key = (question.kind, question.stem)
        if question.stem and key in first_row_of:
            problems.append(_("Same question as row %(row)s", row=first_row_of[key]))
        elif question.stem:
            first_row_of[key] = number
        if problems:
            result.rejected.append((number, question.stem, _("; ").join(
                str(problem) for problem in problems)))
        else:
            valid.append(question)
    db.session.add_all(valid)
    db.session.flush()
    result.added = valid
    audit.record_many([{"entity": "question", "entity_id": question.id, "action": "import",
                        "admin_path": _admin_path(user)} for question in valid], user=user)
    return result


def _admin_path(user):
    administration = getattr(user, "administration", None)
    return administration.path if administration is not None else None

"""Roster import from Excel (医师批量导入): a downloadable template, every row validated, the
rejected rows listed with their reasons, the valid rows added in one transaction."""
import io
from dataclasses import dataclass, field

import xlsxwriter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models import spreadsheet
from models.base import TextList, valid_mobile
from models import Department, Physician
from models import roster
from models.physician import GENDER, PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from models.reports import SAFE_WRITING
from security import idcard

MAX_BYTES = spreadsheet.MAX_BYTES
MAX_ROWS = 5000
# How many rows, blank ones included, are read at most.
MAX_SHEET_ROWS = 2 * MAX_ROWS + 1
COLUMNS = [
    ("name", _l("Full name*")),
    ("id_number", _l("ID number*")),
    ("gender", _l("Gender*")),
    ("department", _l("Department*")),
    ("practice_category", _l("Practice category*")),
    ("level", _l("Physician level*")),
    ("certificate_no", _l("Practice certificate number")),
    ("certificate_date", _l("Practice certificate date")),
    ("first_registration_date", _l("First registration date")),
    ("mobile", _l("Mobile number")),
]
# The template's header row, read in the current language (the template is downloaded and
# uploaded again in the language of the page, as its drop-down lists are).
HEADERS = TextList(header for _key, header in COLUMNS)


ImportRefused = spreadsheet.ImportRefused


@dataclass
class ImportResult:
    added: list = field(default_factory=list)
    rejected: list = field(default_factory=list)  # (row number, name, reason)


_choice = spreadsheet.choice
_date = spreadsheet.date
_text = spreadsheet.text


def template_bytes(departments):
    """The xlsx template with the headers and drop-down lists for the coded columns."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **SAFE_WRITING})
    sheet = book.add_worksheet(_("Physician roster"))
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7"})
    text = book.add_format({"num_format": "@"})
    for col, header in enumerate(HEADERS):
        sheet.write_string(0, col, str(header), bold)
        sheet.set_column(col, col, 18, text if col in (1, 6, 9) else None)
    lists = {
        2: [GENDER.label(v) for v in GENDER.values()],
        3: [d.name for d in departments][:200] or [_("(create a department first)")],
        4: [PRACTICE_CATEGORY.label(v) for v in PRACTICE_CATEGORY.values()],
        5: [PHYSICIAN_LEVEL.label(v) for v in PHYSICIAN_LEVEL.values()],
    }
    spreadsheet.write_choice_lists(book, sheet, lists, MAX_ROWS)
    sheet.write_comment(0, 1, _("18-digit or 15-digit ID card number; format the cells as text"))
    sheet.write_comment(0, 7, _("Date format: 2020-01-31"))
    book.close()
    return buffer.getvalue()


def read_rows(data):
    """The data rows of an uploaded file, or ImportRefused for the file as a whole."""
    too_many = ImportRefused(_("At most %(count)s physicians can be imported at a time",
                               count=MAX_ROWS))
    book = spreadsheet.open_workbook(data, MAX_SHEET_ROWS, too_many)
    body = [row for _number, row in spreadsheet.sheet_rows(book.worksheets[0], HEADERS,
                                                            MAX_ROWS, too_many)]
    if not body:
        raise ImportRefused(_("The file holds no physicians"))
    return body


def import_roster(data, institution, user=None):
    """Validate every row; add the valid ones (flush, not commit) and list the rejected."""
    rows = read_rows(data)
    departments = {d.name: d for d in db.session.query(Department).filter_by(
        institution_id=institution.id)}
    numbers = {}
    parsed = []
    result = ImportResult()
    for index, row in enumerate(rows, start=2):
        values = dict(zip([key for key, _label in COLUMNS], list(row) + [None] * len(COLUMNS)))
        name = _text(values["name"])
        try:
            fields = _row_fields(values, name, departments)
        except ValueError as problem:
            result.rejected.append((index, name, str(problem)))
            continue
        number = fields["id_number"]
        if number in numbers:
            result.rejected.append((index, name, _("Same ID number as row %(row)s",
                                                   row=numbers[number])))
            continue
        numbers[number] = index
        parsed.append((index, name, fields))
    existing = {n for (n,) in db.session.query(Physician.id_number).filter(
        Physician.id_number.in_(list(numbers)))} if numbers else set()
    for index, name, fields in parsed:
        if fields["id_number"] in existing:
            result.rejected.append((index, name, str(roster.DUPLICATE_MESSAGE)))
            continue
        physician = Physician(**fields, institution_id=institution.id)
        physician.institution = institution
        roster.register(physician, user=user)
        result.added.append(physician)
    result.rejected.sort()
    return result


def _row_fields(values, name, departments):
    if not name:
        raise ValueError(_("The name is empty"))
    raw_id = _text(values["id_number"])
    if not raw_id:
        raise ValueError(_("The ID number is empty"))
    try:
        number = idcard.normalize(raw_id)
    except idcard.InvalidIdNumber as error:
        raise ValueError(str(error)) from None
    gender = _choice(GENDER, _text(values["gender"]))
    if gender is None:
        raise ValueError(_('Gender must be "Male" or "Female"'))
    department = departments.get(_text(values["department"]))
    if department is None:
        raise ValueError(_('Department "%(name)s" does not exist: create it under '
                           "[Departments] first", name=_text(values["department"])))
    if not department.enabled:
        raise ValueError(_('Department "%(name)s" is disabled', name=department.name))
    category = _choice(PRACTICE_CATEGORY, _text(values["practice_category"]))
    if category is None:
        raise ValueError(_("The practice category must be Clinical, Traditional Chinese "
                           "medicine, Dental or Public health"))
    level = _choice(PHYSICIAN_LEVEL, _text(values["level"]))
    if level is None:
        raise ValueError(_("The physician level must be Licensed physician or Licensed "
                           "assistant physician"))
    mobile = _text(values["mobile"])
    if mobile and not valid_mobile(mobile):
        raise ValueError(_("Wrong mobile number format"))
    return {
        "name": name[:64],
        "id_number": number,
        "gender": gender,
        "department": department,
        "practice_category": category,
        "level": level,
        "certificate_no": _text(values["certificate_no"])[:32] or None,
        "certificate_date": _date(values["certificate_date"], _("Practice certificate date")),
        "first_registration_date": _date(values["first_registration_date"],
                                         _("First registration date")),
        "mobile": mobile or None,
    }

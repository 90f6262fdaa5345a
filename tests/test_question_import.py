"""题库导入 and 导出 (the province): the template, every rejected row with all of its reasons,
the valid rows in one go, whole files refused before any row is read, only the province may,
and the export writes the bank back in the template's columns, user text as text."""
import io
import re
import time
import zipfile

import pytest
import xlsxwriter
from openpyxl import Workbook, load_workbook

from app.extensions import db
from models import AuditLog, Question
from models import question_import

TEMPLATE_HEADERS = ["试卷类别", "执业类别", "医师级别", "题型", "题干", "选项A", "选项B", "选项C",
                    "选项D", "选项E", "选项F", "答案", "分值", "解析"]


def _row(kind="医学人文", category="", level="", qtype="单选题", stem="", options=("甲", "乙"),
         answer="A", score=1, explanation=""):
    options = list(options) + [""] * (6 - len(options))
    return [kind, category, level, qtype, stem, *options, answer, score, explanation]


def _xlsx(rows, headers=TEMPLATE_HEADERS):
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _send(client, data, name="questions.xlsx"):
    token = client.get("/account/password").get_data(as_text=True).split(
        'name="csrf_token" value="')[1].split('"')[0]
    return client.post("/questions/import/", data={"csrf_token": token,
                                                   "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _count(page, name):
    return int(re.search(rf'id="{name}">(\d+)<', page).group(1))


def _rejected(page):
    """{row number: reason cell} of the page's table of rejected rows."""
    return {int(row): reason for row, reason in re.findall(
        r"<tr><td>(\d+)</td><td>.*?</td><td>(.*?)</td></tr>", page)}


def _bank():
    return db.session.query(Question).count()


def _question(stem, **values):
    question = Question(**{"kind": "humanities", "type": "single", "stem": stem,
                           "options": ["甲", "乙"], "answer": "A", "score": 1, **values})
    db.session.add(question)
    db.session.commit()
    return question


def test_the_template_has_the_columns_and_imports_clean_once_filled_in(as_role):
    client = as_role("province")
    page = client.get("/questions/import/").get_data(as_text=True)
    assert "题库导入" in page and 'href="/questions/import/"' in page  # under 测评管理
    response = client.get("/questions/import/template.xlsx")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(question_import.XLSX_TYPE)
    book = load_workbook(io.BytesIO(response.data))
    sheet = book.active
    assert [c.value for c in sheet[1]] == TEMPLATE_HEADERS
    assert sheet.max_row == 1  # no example rows that would land in the bank
    sheet.append(_row(stem="医师应当尊重患者的哪项权利？", options=("知情同意权", "处方权"),
                      answer="A", explanation="《医师法》"))
    sheet.append(_row(kind="业务水平", category="临床", level="执业医师", qtype="多选题",
                      stem="下列属于抗菌药物的是", options=("青霉素", "头孢", "阿司匹林"),
                      answer="A、B", score=2))
    sheet.append(_row(qtype="判断题", stem="医师可以泄露患者隐私。", options=(), answer="错误"))
    out = io.BytesIO()
    book.save(out)
    before = _bank()

    page = _send(client, out.getvalue()).get_data(as_text=True)

    assert _count(page, "added-count") == 3 and _count(page, "rejected-count") == 0
    assert _bank() == before + 3
    multiple = db.session.query(Question).filter_by(stem="下列属于抗菌药物的是").one()
    assert (multiple.kind, multiple.practice_category, multiple.level, multiple.type,
            multiple.options, multiple.answer, multiple.score) == (
        "professional", "clinical", "physician", "multiple", ["青霉素", "头孢", "阿司匹林"],
        "AB", 2)
    judge = db.session.query(Question).filter_by(stem="医师可以泄露患者隐私。").one()
    assert (judge.options, judge.answer) == (["正确", "错误"], "B")
    # Who imported which question is in the audit log the province reads.
    assert db.session.query(AuditLog).filter_by(entity="question", action="import",
                                                username="province").count() == 3
    assert "医师可以泄露患者隐私" in client.get("/questionview/list/").get_data(as_text=True)


def test_good_rows_go_in_and_every_bad_row_is_listed_with_all_of_its_reasons(as_role):
    client = as_role("province")
    _question("已在题库中的题目")
    rows = [
        _row(stem="好题一", options=("甲", "乙", "丙"), answer="C"),                       # 2
        _row(qtype="判断题", stem="好题二", options=(), answer="正确"),                   # 3
        _row(stem="缺答案", answer=""),                                                  # 4
        _row(stem="答案不在选项中", options=("甲", "乙", "丙"), answer="D"),              # 5
        _row(stem="单选两个答案", options=("甲", "乙", "丙"), answer="AB"),               # 6
        _row(stem="已在题库中的题目"),                                                    # 7
        _row(stem="好题一", options=("甲", "乙", "丙"), answer="B"),                      # 8
        _row(qtype="填空题", stem="未知题型"),                                            # 9
        _row(stem="三个问题", options=("只有一个选项",), answer="", score=0),             # 10
        _row(kind="业务水平", category="牙科", stem="选项有空缺",                         # 11
             options=("甲", "", "丙"), answer="A"),
        _row(stem="分值过大", score=100000),                                              # 12
        _row(stem="分值不是整数", score="1.5"),                                           # 13
    ]
    before = _bank()

    response = _send(client, _xlsx(rows))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert _count(page, "added-count") == 2 and _count(page, "rejected-count") == 10
    assert _bank() == before + 2
    assert {q.stem for q in db.session.query(Question).order_by(Question.id.desc()).limit(2)} \
        == {"好题一", "好题二"}
    rejected = _rejected(page)
    assert sorted(rejected) == [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert rejected[4] == "缺少答案"
    assert rejected[5] == "答案D不在选项之中"
    assert rejected[6] == "单选题和判断题只能有一个答案"
    assert rejected[7] == "题库中已有相同的题目"
    assert rejected[8] == "与第2行试题重复"
    assert rejected[9] == "请选择题型：单选题、多选题或判断题"
    assert rejected[10].split("；") == ["选择题至少需要两个选项", "缺少答案",
                                       "分值须为不小于1的整数"]
    assert rejected[11].split("；") == ["执业类别应为临床、中医、口腔、公共卫生，或留空表示不限",
                                       "选项B为空，但其后的选项已填写"]
    assert rejected[12] == "分值过大，最多为1000"
    assert rejected[13] == "分值须为不小于1的整数"


def _refused(response, message):
    page = response.get_data(as_text=True)
    assert response.status_code == 400, page[:300]
    assert message in re.search(r'id="form-error">(.*?)<', page).group(1)


def _without_dimension(data):
    """The same workbook with the sheet's <dimension> removed, as some writers leave it."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for part in source.infolist():
            body = source.read(part.filename)
            if part.filename == "xl/worksheets/sheet1.xml":
                body = re.sub(rb"<dimension[^>]*/>", b"", body)
            target.writestr(part, body)
    return out.getvalue()


def _declaring_a_million_rows():
    """A tiny file whose sheet declares (and reaches) row 1,000,000."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, TEMPLATE_HEADERS)
    sheet.write_row(999_999, 0, _row(stem="第一百万行"))
    book.close()
    return buffer.getvalue()


def test_a_file_that_is_not_an_xlsx_workbook_is_refused_whatever_its_name(as_role):
    client = as_role("province")
    before = _bank()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    _refused(_send(client, png, "bank.xlsx"), "文件格式不正确")
    _refused(_send(client, "试卷类别,题干\n医学人文,题目\n".encode(), "bank.xlsx"), "文件格式不正确")
    word = io.BytesIO()
    with zipfile.ZipFile(word, "w") as package:
        package.writestr("word/document.xml", "<w:document/>")
    _refused(_send(client, word.getvalue(), "bank.xlsx"), "文件格式不正确")
    assert _bank() == before


def test_wrong_headers_an_over_size_file_and_a_sheet_of_too_many_rows_are_refused(as_role):
    client = as_role("province")
    before = _bank()
    _refused(_send(client, _xlsx([_row(stem="题")], headers=TEMPLATE_HEADERS[:4] + ["题目"])),
             "表头与模板不一致")
    _refused(_send(client, _xlsx([])), "文件中没有试题数据")
    _refused(_send(client, b"PK" + b"\x00" * question_import.MAX_BYTES), "文件过大")

    started = time.monotonic()
    _refused(_send(client, _declaring_a_million_rows()), "一次最多导入5000道试题")
    # Without the declaration the rows are streamed, and the streaming stops at the limit.
    _refused(_send(client, _without_dimension(_declaring_a_million_rows())),
             "一次最多导入5000道试题")
    assert time.monotonic() - started < 20
    assert _bank() == before


def test_rows_past_the_limit_are_refused_even_when_the_sheet_declares_fewer(as_role, monkeypatch):
    monkeypatch.setattr(question_import, "MAX_ROWS", 3)
    client = as_role("province")
    before = _bank()
    rows = [_row(stem=f"题{i}") for i in range(4)]
    _refused(_send(client, _without_dimension(_xlsx(rows))), "一次最多导入3道试题")
    assert _bank() == before
    page = _send(client, _xlsx(rows[:3])).get_data(as_text=True)
    assert _count(page, "added-count") == 3


def test_a_file_with_unpacked_parts_beyond_the_limit_is_refused(as_role, monkeypatch):
    from models import spreadsheet

    monkeypatch.setattr(spreadsheet, "MAX_UNPACKED_BYTES", 10_000)
    client = as_role("province")
    _refused(_send(client, _xlsx([_row(stem="长" * 20_000)])), "一次最多导入5000道试题")


@pytest.mark.parametrize("role", ["city", "district", "institution", "physician"])
def test_only_the_province_imports_and_exports_the_bank(as_role, role):
    client = as_role(role)
    before = _bank()
    for url in ("/questions/import/", "/questions/import/template.xlsx",
                "/questions/import/export.xlsx"):
        assert client.get(url).status_code == 403, url
    assert _send(client, _xlsx([_row(stem="越权导入")])).status_code == 403
    assert _bank() == before


def test_the_import_command_refuses_an_actor_who_may_not_change_the_bank(province):
    from werkzeug.exceptions import Forbidden

    from commands import question_bank
    from models import AppUser
    from security import scope

    city = scope.actor_for(db.session.query(AppUser).filter_by(username="city").one())
    with pytest.raises(Forbidden):
        question_bank.import_questions(city, _xlsx([_row(stem="越权导入")]))
    assert db.session.query(Question).filter_by(stem="越权导入").count() == 0


def test_the_export_holds_the_bank_in_the_template_columns_with_text_kept_as_text(as_role):
    client = as_role("province")
    _question("=1+1", explanation="=HYPERLINK(\"http://example.com\")")
    _question("下列属于抗菌药物的是", kind="professional", type="multiple",
              practice_category="clinical", level="assistant",
              options=["青霉素", "头孢", "阿司匹林"], answer="AB", score=2)
    _question("医师可以泄露患者隐私。", type="judge", options=["正确", "错误"], answer="B")

    response = client.get("/questions/import/export.xlsx")

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == TEMPLATE_HEADERS
    assert len(rows) - 1 == _bank()
    by_stem = {row[4]: row for row in rows[1:]}
    assert by_stem["下列属于抗菌药物的是"] == (
        "业务水平", "临床", "执业助理医师", "多选题", "下列属于抗菌药物的是", "青霉素", "头孢",
        "阿司匹林", None, None, None, "AB", 2, None)
    assert by_stem["医师可以泄露患者隐私。"][3:13] == (
        "判断题", "医师可以泄露患者隐私。", None, None, None, None, None, None, "错误", 1)
    formula_like = next(row for row in sheet.iter_rows(min_row=2) if row[4].value == "=1+1")
    assert formula_like[4].data_type == "s" and formula_like[13].data_type == "s"
    assert formula_like[13].value == "=HYPERLINK(\"http://example.com\")"

    # The export is in the template's columns: imported again, every row is already there.
    page = _send(client, response.data).get_data(as_text=True)
    assert _count(page, "added-count") == 0 and _count(page, "rejected-count") == _bank()
    assert set(_rejected(page).values()) == {"题库中已有相同的题目"}

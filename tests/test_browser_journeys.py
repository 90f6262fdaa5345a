"""Two journeys through the staff console in headless Chromium, done the way a person does them:
open the menus, fill the forms field by field, press the buttons, read what the pages say.

Journey 1 — a medical institution (NX1008611): 本机构信息, 科室信息 (新增眼科), 新增医师, 允许报名.
Journey 2 — a city administration (city): 新增机构, 指定所属考核机构, then the new institution's
first login is sent to 修改密码.

The live server, the browser and the screenshot folder are the fixtures of tests/test_browser.py
(a fresh migrated and seeded SQLite database for this module). Each journey checks the things it
cannot go on without at once; what a user would only trip over (English text in the Chinese UI,
raw values such as ``None``, a free-text box where a choice list belongs, landing on an
unexpected page) is collected as it goes and reported together at the end of the journey, after
its screenshot, so that one problem does not hide the next.
"""
import datetime
import re

import pytest
from playwright.sync_api import expect

from tests import test_browser as shared
from tests.test_browser import CJK, DESKTOP, Visit, _log_in, _screenshot

pytestmark = pytest.mark.browser

# The module-scoped fixtures of tests/test_browser.py, re-used here (pytest finds them by name):
# a fresh migrated and seeded SQLite database, the app served over HTTP in a thread, Debian's
# Chromium, and the screenshot folder that is kept for a human to look at.
workdir = shared.workdir
live_app = shared.live_app
base_url = shared.base_url
browser = shared.browser
shots = shared.shots

INSTITUTION_ACCOUNT = "NX1008611"
NEW_INSTITUTION_ACCOUNT = "NX3000001"
INITIAL_PASSWORD = "666666"

# Latin letters the Chinese interface legitimately shows: account codes such as NX1008611.
_ACCOUNT_CODE = re.compile(r"[A-Z]{2}\d{5,}")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_ADDRESS = re.compile(r"0x[0-9a-f]+")

# Every visible text node (not inside <script>, <option>, .sr-only) that contains Latin letters.
_LATIN_TEXT_JS = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const text = node.textContent.replace(/\\s+/g, ' ').trim();
    if (!/[A-Za-z]{2,}/.test(text)) continue;
    const el = node.parentElement;
    if (!el || el.closest('script,style,noscript,option,.sr-only')) continue;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === 'hidden' || style.display === 'none')
      continue;
    found.push(text.slice(0, 100));
  }
  return found;
}"""

# The list table of a FAB list page as [{header: cell text}], headers read from <thead>.
_LIST_ROWS_JS = """() => {
  const table = [...document.querySelectorAll('table.table')].find(t => t.querySelector('thead'));
  if (!table) return null;
  const headers = [...table.querySelectorAll('thead th')].map(th => th.innerText.trim());
  return [...table.querySelectorAll('tbody tr')].map(tr => {
    const row = {};
    [...tr.children].forEach((td, i) => { if (headers[i]) row[headers[i]] = td.innerText.trim(); });
    const box = tr.querySelector('input.action_check');
    row.__pk = box ? box.value : null;
    return row;
  });
}"""

# A FAB show page as {label: value}.
_SHOW_FIELDS_JS = """() => Object.fromEntries(
  [...document.querySelectorAll('table.table tr')]
    .filter(tr => tr.querySelector('th') && tr.querySelector('td'))
    .map(tr => [tr.querySelector('th').innerText.trim(), tr.querySelector('td').innerText.trim()]))"""


class JourneyVisit(Visit):
    """A Visit that knows which error answers are part of the journey (a refused form)."""

    def __init__(self, browser, base_url, viewport, expected=()):
        self.expected = set(expected)  # (status, method, path)
        super().__init__(browser, base_url, viewport)
        self.findings = []
        self.latin = {}  # path -> English / raw texts seen there, in order, once each

    def _check_response(self, response):
        path = response.url[len(self.base_url):] if response.url.startswith(self.base_url) else ""
        if (response.status, response.request.method, path) in self.expected:
            return
        super()._check_response(response)

    def note(self, ok, message):
        """A problem a user would trip over: recorded, reported at the end of the journey."""
        if not ok and message not in self.findings:
            self.findings.append(message)
        return ok

    def read_page(self):
        """Look at what the page shows: English or raw values in the Chinese interface."""
        page = self.page
        page.wait_for_load_state("load")
        path = page.url[len(self.base_url):].split("?")[0]
        seen = self.latin.setdefault(path, [])
        for text in page.evaluate(_LATIN_TEXT_JS):
            text = _ADDRESS.sub("0x…", text)
            if _LATIN_WORD.search(_ACCOUNT_CODE.sub("", text)) and text not in seen:
                seen.append(text)

    def report(self):
        problems = [f"HTTP/JS: {p}" for p in self.problems] + self.findings + [
            f"{path}: English / raw text shown: {texts}"
            for path, texts in self.latin.items() if texts]
        assert not problems, "problems met on the journey:\n  - " + "\n  - ".join(problems)


@pytest.fixture()
def journey(browser, base_url):
    opened = []

    def open_journey(expected=()):
        v = JourneyVisit(browser, base_url, DESKTOP, expected)
        opened.append(v)
        return v

    yield open_journey
    for v in opened:
        v.close()


# ---------------------------------------------------------------- helpers: what a person does


def _menu(v, category, href):
    """Open a top menu and click one of its entries."""
    page = v.page
    page.locator("ul.nav.navbar-nav > li.dropdown > a.dropdown-toggle",
                 has_text=category).first.click()
    entry = page.locator(f'ul.dropdown-menu a[href="{href}"]')
    expect(entry).to_be_visible()
    text = entry.inner_text().strip()
    v.note(bool(CJK.search(text)), f"menu 【{category}】 entry for {href} reads {text!r}")
    with page.expect_navigation(wait_until="load"):
        entry.click()
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))
    v.read_page()


def _submit_model_form(v):
    page = v.page
    button = page.locator("form#model_form").get_by_role("button", name="保存")
    with page.expect_navigation(wait_until="load"):
        button.click()
    v.read_page()


def _flash(page, category="success"):
    """The flashed messages of a category, without the close button's ×."""
    alerts = page.locator(f".alert.alert-{category}")
    expect(alerts.first).to_be_visible()
    return [t.replace("×", "").strip() for t in alerts.all_inner_texts()]


def _pick(page, select_id, option_text):
    """Pick an option of a (select2-enhanced) <select>: open it, type, click the option."""
    select = page.locator(f"select#{select_id}")
    container = page.locator(f"select#{select_id} + .select2-container")
    if container.count():
        container.locator(".select2-selection").click()
        search = page.locator(".select2-container--open .select2-search__field").first
        if search.count() and search.is_visible():
            search.fill(option_text)
        exact = re.compile(rf"^\s*{re.escape(option_text)}\s*$")
        page.locator(".select2-container--open .select2-results__option",
                     has_text=exact).first.click()
    else:
        select.select_option(label=option_text)
    chosen = select.evaluate("s => [...s.selectedOptions].map(o => o.text.trim())")
    assert option_text in chosen, (select_id, chosen)


def _choose(v, field_id, label, code):
    """A field with a fixed set of values (gender, category, level...): choose ``label``.

    Where the form offers a list, pick from it. Where it offers a bare text box, type what a
    person would type, the Chinese label, and record that the form gave no choices.
    """
    page = v.page
    field = page.locator(f"#{field_id}")
    if field.evaluate("e => e.tagName") == "SELECT":
        _pick(page, field_id, label)
        return
    shown = field.input_value()
    caption = page.locator(f'label[for="{field_id}"]').first.inner_text().strip(" *\n")
    v.note(False, f"{page.url[len(v.base_url):]}: 【{caption}】 (#{field_id}) is a free-text box"
                  f"{f' pre-filled with the code {shown!r}' if shown else ''} instead of a list; "
                  f"a user types {label!r} where the app stores the code {code!r}")
    field.fill(label)


def _list_rows(page):
    rows = page.evaluate(_LIST_ROWS_JS)
    assert rows is not None, f"no list table on {page.url}"
    return rows


def _rows_where(page, column, value):
    return [row for row in _list_rows(page) if row.get(column) == value]


def _stored(app, fn):
    """Read the database the live server writes (after the page said it was saved)."""
    from app.extensions import db

    with app.app_context():
        try:
            return fn(db.session)
        finally:
            db.session.remove()


# ---------------------------------------------------------------- journey 1: an institution


def test_institution_journey(journey, live_app, shots, capsys):
    from models import Enrollment, Institution, Physician
    from models.physician import GENDER, PHYSICIAN_LEVEL, PRACTICE_CATEGORY
    from security import idcard
    from models import Cycle

    v = journey(expected={(400, "POST", "/institution/mine/")})
    page = v.page
    _log_in(page, INSTITUTION_ACCOUNT)
    expect(page).to_have_url(f"{v.base_url}/")
    v.read_page()

    # a) 本机构信息: new contact person and mobile number.
    _menu(v, "机构信息", "/institution/mine/")
    expect(page.locator("#account")).to_have_text(INSTITUTION_ACCOUNT)
    page.fill("#contact", "周晓梅")
    page.fill("#mobile", "13912345678")
    with page.expect_navigation(wait_until="load"):
        page.click("#save")
    expect(page).to_have_url(f"{v.base_url}/institution/mine/")
    saved = _flash(page)
    v.note(all(CJK.search(m) for m in saved), f"/institution/mine/: the save message reads {saved}")
    v.read_page()
    page.reload(wait_until="load")
    expect(page.locator("#contact")).to_have_value("周晓梅")
    expect(page.locator("#mobile")).to_have_value("13912345678")

    # ... and a mobile number that is not one: refused in Chinese, nothing stored.
    page.fill("#mobile", "12345")
    with page.expect_navigation(wait_until="load"):
        page.click("#save")
    expect(page.locator("#form-error")).to_be_visible()
    mobile_group = page.locator(".form-group.has-error", has=page.locator("#mobile"))
    expect(mobile_group.locator(".help-block")).to_have_text("请输入正确的11位手机号码")
    assert page.locator(".alert-success").count() == 0
    v.read_page()
    page.goto("/institution/mine/", wait_until="load")
    expect(page.locator("#mobile")).to_have_value("13912345678")
    expect(page.locator("#contact")).to_have_value("周晓梅")
    stored = _stored(live_app, lambda s: s.query(Institution.contact, Institution.mobile)
                     .filter_by(account=INSTITUTION_ACCOUNT).one())
    assert tuple(stored) == ("周晓梅", "13912345678"), stored
    counts_before = int(page.locator("#count-total").inner_text())

    # b) 科室信息: add 眼科 with its 诊疗科目.
    _menu(v, "机构信息", "/departmentview/list/")
    with page.expect_navigation(wait_until="load"):
        page.click('a[href="/departmentview/add"]')
    v.read_page()
    page.fill("#name", "眼科")
    _pick(page, "subjects", "眼科")
    expect(page.locator("#enabled")).to_be_checked()
    _submit_model_form(v)
    v.note(page.url == f"{v.base_url}/departmentview/list/",
           f"after adding a department the browser is on {page.url}, not the department list")
    assert "记录已添加" in " ".join(_flash(page))
    page.goto("/departmentview/list/", wait_until="load")
    v.read_page()
    rows = _rows_where(page, "名称", "眼科")
    assert len(rows) == 1, _list_rows(page)
    v.note(rows[0].get("关联诊疗科目") == "眼科",
           f"/departmentview/list/: the 关联诊疗科目 of 眼科 reads {rows[0].get('关联诊疗科目')!r},"
           " not 眼科")
    assert rows[0].get("状态") == "启用", rows[0]

    # c) 新增医师 in 眼科.
    number = idcard.make("460100", datetime.date(1991, 2, 3), 555)
    masked = number[:3] + "*****" + number[-4:]
    _menu(v, "医师管理", "/physicianview/list/")
    with page.expect_navigation(wait_until="load"):
        page.click('a[href="/physicianview/add"]')
    v.read_page()
    page.fill("#name", "赵明")
    page.fill("#id_number", number)
    _choose(v, "gender", "男", GENDER.MALE)
    _pick(page, "department", "眼科")
    _choose(v, "practice_category", "临床", PRACTICE_CATEGORY.CLINICAL)
    _choose(v, "level", "执业医师", PHYSICIAN_LEVEL.PHYSICIAN)
    page.fill("#certificate_no", "110460100000555")
    page.fill("#qualification_no", "200746010000555")
    _submit_model_form(v)
    expect(page).to_have_url(f"{v.base_url}/physicianview/list/")
    assert "记录已添加" in " ".join(_flash(page))
    rows = _rows_where(page, "证件号码", masked)
    assert len(rows) == 1, _list_rows(page)
    physician_row = rows[0]
    assert physician_row["姓名"] == "赵明", physician_row
    assert physician_row["科室"] == "眼科", physician_row
    assert physician_row["执业类别"] == "临床", physician_row
    assert physician_row["级别"] == "执业医师", physician_row
    assert number not in page.locator("body").inner_text(), "full ID number shown in the list"

    stored = _stored(live_app, lambda s: s.query(
        Physician.gender, Physician.practice_category, Physician.level, Physician.institution_id,
        Physician.birth_date).filter_by(id_number=number).one())
    for value, choices, what in ((stored.gender, GENDER, "gender"),
                                 (stored.practice_category, PRACTICE_CATEGORY, "practice_category"),
                                 (stored.level, PHYSICIAN_LEVEL, "level")):
        v.note(value in choices, f"新增医师 stored physician.{what} = {value!r}, which is none of "
                                 f"{choices.values()}")
    assert stored.birth_date == datetime.date(1991, 2, 3), stored

    # What 本机构信息 now says: one more physician, and the per-level counts add up.
    page.goto("/institution/mine/", wait_until="load")
    statics = page.locator("#institution-form p.form-control-static").all_inner_texts()
    total, licensed, assistant = (int(x) for x in statics[-3:])
    assert total == counts_before + 1, (counts_before, statics)
    v.note(total == licensed + assistant,
           f"/institution/mine/: after adding a 执业医师 the counts read total {total}, "
           f"执业医师 {licensed}, 执业助理医师 {assistant}: the new physician is in no level")

    # d) 允许报名 for that physician from the list's 操作 menu.
    page.goto("/physicianview/list/?_flt_0_id=0", wait_until="load")  # the 未确认 tab
    assert _rows_where(page, "证件号码", masked), "new physician not in the 未确认 tab"
    page.goto("/", wait_until="load")
    _menu(v, "医师管理", "/physicianview/list/")
    row = page.locator("table.table tbody tr", has=page.locator(
        f'input.action_check[value="{physician_row["__pk"]}"]'))
    row.locator("input.action_check").check()
    page.locator(".btn-group", has=page.locator("a.allow_enrollment_menu_item")) \
        .locator("button.dropdown-toggle").click()
    item = page.locator("a.allow_enrollment_menu_item")
    expect(item).to_be_visible()
    v.note(item.inner_text().strip() == "允许报名",
           f"/physicianview/list/: the 操作 menu entry reads {item.inner_text().strip()!r},"
           " not 允许报名")
    item.click()
    modal = page.locator("#modal-confirm")
    expect(modal).to_be_visible()
    question = modal.locator(".modal-text").inner_text().strip()
    v.note(bool(CJK.search(question)), f"/physicianview/list/: the 允许报名 confirmation asks "
                                       f"{question!r}")
    with page.expect_navigation(wait_until="load"):
        modal.locator("#modal-confirm-ok").click()
    assert "已允许报名 1 人" in _flash(page)
    v.note(page.url == f"{v.base_url}/physicianview/list/",
           f"after 允许报名 on /physicianview/list/ the browser lands on "
           f"{page.url[len(v.base_url):]} (the page visited before the list), not back on the list")
    v.read_page()

    page.goto("/physicianview/list/?_flt_0_id=1", wait_until="load")
    v.read_page()
    confirmed = _rows_where(page, "证件号码", masked)
    assert len(confirmed) == 1 and confirmed[0]["姓名"] == "赵明", _list_rows(page)
    page.goto("/physicianview/list/?_flt_0_id=0", wait_until="load")
    assert not _rows_where(page, "证件号码", masked), "still in the 未确认 tab"

    def enrollment_state(s):
        cycle = Cycle.current()
        return s.query(Enrollment.state).join(Physician).filter(
            Physician.id_number == number, Enrollment.cycle_id == cycle.id).scalar()

    assert _stored(live_app, enrollment_state) == "pending_enrollment"

    page.goto("/physicianview/list/?_flt_0_id=1", wait_until="load")
    _screenshot(page, shots, "journey-1-institution.png", capsys)
    v.report()


# ---------------------------------------------------------------- journey 2: an administration


def test_administration_journey(journey, live_app, shots, capsys):
    from models import Institution
    from models.institution import INSTITUTION_GRADE, INSTITUTION_LEVEL, INSTITUTION_TYPE

    v = journey()
    page = v.page
    _log_in(page, "city")
    expect(page).to_have_url(f"{v.base_url}/")

    # 新增机构.
    _menu(v, "机构信息", "/institutionview/list/")
    with page.expect_navigation(wait_until="load"):
        page.click('a[href="/institutionview/add"]')
    v.read_page()
    page.fill("#name", "演示市第二人民医院")
    page.fill("#account", NEW_INSTITUTION_ACCOUNT)
    _pick(page, "administration", "龙华区卫生健康委员会")
    _choose(v, "type", "医疗机构", INSTITUTION_TYPE.MEDICAL)
    _choose(v, "level", "二级", INSTITUTION_LEVEL.LEVEL2)
    _choose(v, "grade", "甲等", INSTITUTION_GRADE.GRADE_A)
    _submit_model_form(v)
    messages = " ".join(_flash(page))
    assert f"已创建机构账号{NEW_INSTITUTION_ACCOUNT}，初始密码为666666" in messages, messages
    expect(page).to_have_url(f"{v.base_url}/institutionview/list/")
    rows = _rows_where(page, "机构账号", NEW_INSTITUTION_ACCOUNT)
    assert len(rows) == 1, _list_rows(page)
    assert rows[0]["名称"] == "演示市第二人民医院", rows[0]
    stored = _stored(live_app, lambda s: s.query(Institution.type, Institution.level,
                                                 Institution.grade)
                     .filter_by(account=NEW_INSTITUTION_ACCOUNT).one())
    for value, choices, what in ((stored.type, INSTITUTION_TYPE, "type"),
                                 (stored.level, INSTITUTION_LEVEL, "level"),
                                 (stored.grade, INSTITUTION_GRADE, "grade")):
        v.note(value in choices, f"新增机构 stored institution.{what} = {value!r}, which is none "
                                 f"of {choices.values()}")

    # 编辑: 所属考核机构 = 演示省人民医院.
    pk = rows[0]["__pk"]
    with page.expect_navigation(wait_until="load"):
        page.click(f'a[href="/institutionview/edit/{pk}"]')
    v.read_page()
    offered = page.locator("select#assessment_institution option").all_inner_texts()
    not_assessors = _stored(live_app, lambda s: {
        name for (name,) in s.query(Institution.name).filter(Institution.is_assessment.is_(False))})
    wrong = [o for o in offered if o.strip() in not_assessors]
    v.note(not wrong, f"/institutionview/edit/{pk}: 所属考核机构 offers institutions that are not "
                      f"assessment institutions: {wrong}")
    _pick(page, "assessment_institution", "演示省人民医院")
    _submit_model_form(v)
    assert "记录已更新" in " ".join(_flash(page))
    v.note(page.url == f"{v.base_url}/institutionview/list/",
           f"after editing an institution the browser is on {page.url}, not the list")
    page.goto("/institutionview/list/", wait_until="load")
    rows = _rows_where(page, "机构账号", NEW_INSTITUTION_ACCOUNT)
    assert len(rows) == 1 and rows[0]["所属考核机构"] == "演示省人民医院", rows
    with page.expect_navigation(wait_until="load"):
        page.click(f'a[href="/institutionview/show/{pk}"]')
    v.read_page()
    fields = page.evaluate(_SHOW_FIELDS_JS)
    assert fields.get("所属考核机构") == "演示省人民医院", fields
    assert fields.get("机构账号") == NEW_INSTITUTION_ACCOUNT, fields

    # 注销, then the new institution's first login: straight to 修改密码.
    page.locator("ul.nav.navbar-nav a.dropdown-toggle", has=page.locator(".fa-user")).click()
    logout = page.locator('ul.dropdown-menu form[action="/logout/"] button')
    expect(logout).to_be_visible()
    with page.expect_navigation(wait_until="load"):
        logout.click()
    expect(page).to_have_url(re.compile(r"/login/$"))

    _log_in(page, NEW_INSTITUTION_ACCOUNT, INITIAL_PASSWORD)
    assert page.locator(".dk-error").count() == 0, page.locator(".dk-error").inner_text()
    expect(page).to_have_url(f"{v.base_url}/account/password")
    expect(page.locator("body")).to_contain_text("首次登录或密码已被重置，请先修改密码")
    v.read_page()
    page.goto("/institution/mine/", wait_until="load")
    expect(page).to_have_url(f"{v.base_url}/account/password")
    _screenshot(page, shots, "journey-2-administration.png", capsys)
    v.report()

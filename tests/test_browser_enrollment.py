"""我要报名 end to end in headless Chromium, on a phone, then reviewed on a desktop.

The demo physician 王医生 logs in at the 医师 door on a phone-sized screen (390x844, touch),
opens 我要报名 and fills the five steps the way a person does: photo and licence images picked
from files, choices picked from the lists, dates typed, rows added, radios tapped. The preview
shows what will be submitted; 提交 freezes it. Then, on a desktop, his institution (NX1008611)
opens the 简易程序 review list, looks at the attachments, rates 工作成绩/职业道德 合格 and
submits; the assessment institution (NX1008600) confirms; the physician's home page then reads
报名完成-等待测评.

The live server, the browser and the screenshot folder are the module-scoped fixtures of
tests/test_browser.py (this module gets its own migrated and seeded SQLite database). Things a
phone user would only trip over (a page wider than the screen) are collected along the way and
reported together at the end, after the screenshots, so one does not hide the next.
"""
import re
import tempfile
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests import test_browser as shared
from tests.test_browser import (
    CJK,
    DESKTOP,
    PHONE,
    TIMEOUT_MS,
    Visit,
    _log_in,
    _screenshot,
)

pytestmark = pytest.mark.browser

# The module-scoped fixtures of tests/test_browser.py, re-used here (pytest finds them by name).
workdir = shared.workdir
live_app = shared.live_app
base_url = shared.base_url
browser = shared.browser
shots = shared.shots

INSTITUTION_ACCOUNT = "NX1008611"
ASSESSMENT_ACCOUNT = "NX1008600"
MEDICINE_SUBJECTS = ["呼吸内科专业", "消化内科专业", "心血管内科专业"]  # 内科 of NX1008611
SECTIONS = ["基本信息", "执业信息", "相关经历", "工作成绩、职业道德", "考核程序"]
STATEMENT = "本人执业十七年，遵守各项规章制度，认真完成本职工作。"

# Elements sticking out to the right of the viewport: what makes a phone page scroll sideways.
_OVERFLOW_JS = """(limit) => {
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > limit) {
      const id = el.id ? '#' + el.id : '';
      const cls = el.className && typeof el.className === 'string'
        ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
      out.push(`${el.tagName.toLowerCase()}${id}${cls} right=${Math.round(box.right)}`);
    }
  }
  return out.slice(0, 8);
}"""


class PhoneVisit(Visit):
    """A Visit on a phone: 390x844, mobile meta viewport honoured, touch events."""

    def __init__(self, browser, base_url):
        self.base_url = base_url
        self.context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                           device_scale_factor=2, locale="zh-CN",
                                           base_url=base_url)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.set_default_navigation_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.problems = []
        self.findings = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"JS error: {exc}"))
        self.page.on("console", lambda message: self._check_console(message, self.problems))
        self.page.on("response", self._check_response)

    def check_width(self, where):
        """No sideways scrolling on a phone: recorded, reported at the end of the journey."""
        width = self.page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"] + 1:
            culprits = self.page.evaluate(_OVERFLOW_JS, PHONE["width"] + 1)
            self.findings.append(f"{where}: horizontal overflow on a phone, scrollWidth "
                                 f"{width} > {PHONE['width']}; sticking out: {culprits}")
        return width


@pytest.fixture()
def phone(browser, base_url):
    v = PhoneVisit(browser, base_url)
    yield v
    v.close()


@pytest.fixture()
def desktops(browser, base_url):
    opened = []

    def open_desktop():
        v = Visit(browser, base_url, DESKTOP)
        opened.append(v)
        return v

    yield open_desktop
    for v in opened:
        v.close()


@pytest.fixture()
def images():
    """JPEGs on disk, as a person would pick them from the phone's gallery."""
    folder = Path(tempfile.mkdtemp(prefix="dingkao-images-"))

    def jpeg(name, size, colour):
        path = folder / name
        Image.new("RGB", size, colour).save(path, format="JPEG", quality=90)
        return path

    return {
        "photo": jpeg("photo.jpg", (350, 490), (220, 226, 240)),
        "licence": jpeg("licence.jpg", (600, 400), (240, 235, 210)),
        "proof": jpeg("proof.jpg", (500, 700), (210, 240, 220)),
    }


# ---------------------------------------------------------------- helpers: what a person does


def _tap_and_wait(page, selector):
    with page.expect_navigation(wait_until="load"):
        page.locator(selector).tap()


def _saved(page, number, title):
    """After 下一步: no error on the page, the step's 已保存 flash, the next step's breadcrumb."""
    error = page.locator(".dk-error")
    assert error.count() == 0, f"step {number} ({title}) refused: {error.first.inner_text()}"
    expect(page.locator(".alert-success")).to_contain_text(f"{title}已保存")


def _select(page, selector, label):
    page.locator(selector).select_option(label=label)
    chosen = page.locator(selector).evaluate("s => [...s.selectedOptions].map(o => o.text.trim())")
    assert label in chosen, (selector, chosen)


def _visible_options(page, selector):
    return page.locator(selector).evaluate(
        "s => [...s.options].filter(o => !o.hidden && getComputedStyle(o).display !== 'none')"
        ".map(o => o.text.trim())")


def _open_review(page, name):
    row = page.locator("#review-rows tr", has_text=name)
    expect(row).to_have_count(1)
    with page.expect_navigation(wait_until="load"):
        row.get_by_role("link", name="审核").click()
    expect(page).to_have_url(re.compile(r"/review/\d+$"))
    expect(page.locator("#step-1").locator("xpath=..")).to_have_class(re.compile(r"\bactive\b"))
    expect(page.locator("h3")).to_contain_text(name)


def _attachments(page):
    """Walk the review's pages with 【下一步】 (个人信息 → 执业信息 → 工作成绩、职业道德, 002
    2.2.7): every picture on them (头像, 执业证书, 申请材料), once loaded (or failed). Ends on
    the last page, where the decision is."""
    pictures = []
    for step in (1, 2, 3):
        if step > 1:
            with page.expect_navigation(wait_until="load"):
                page.locator("#next").click()
        expect(page.locator("#step-content")).to_have_attribute("data-step", str(step))
        page.wait_for_function(
            "() => [...document.querySelectorAll('.review-file img')].every(i => i.complete)",
            timeout=TIMEOUT_MS)
        pictures += page.locator(".review-file img").evaluate_all(
            "imgs => imgs.map(i => ({src: i.getAttribute('src'), width: i.naturalWidth,"
            " height: i.naturalHeight,"
            " purpose: i.closest('div').querySelector('.small')?.innerText.trim()}))")
    expect(page.locator("#previous")).to_be_visible()
    return pictures


# ---------------------------------------------------------------- the journey


def test_physician_enrolls_on_a_phone_and_is_reviewed(phone, desktops, images, shots, capsys,
                                                      base_url):
    from app.demo import DEMO_PHYSICIAN_ID

    page = phone.page
    findings = []  # what a user would trip over, reported together at the end

    # --- /me/ → 我要报名
    _log_in(page, DEMO_PHYSICIAN_ID, physician=True)
    expect(page).to_have_url(f"{base_url}/me/")
    expect(page.locator("#physician-name")).to_have_text("王医生")
    expect(page.locator("#enrollment-state")).to_have_text("已开通报名")
    phone.check_width("/me/")
    _tap_and_wait(page, "#tool-enroll")
    expect(page).to_have_url(f"{base_url}/me/enroll/1")

    # --- 1 基本信息
    expect(page.locator("#steps li.active")).to_contain_text("基本信息")
    phone.check_width("step 1 基本信息")
    page.set_input_files("#photo", str(images["photo"]))
    _select(page, "#gender", "男")
    page.locator("#ethnicity").fill("汉族")
    _select(page, "#education", "本科")
    page.locator("#mobile").fill("13900000001")
    _tap_and_wait(page, "#next")
    _saved(page, 1, "基本信息")
    expect(page).to_have_url(f"{base_url}/me/enroll/2")

    # --- 2 执业信息
    expect(page.locator("#steps li.active")).to_contain_text("执业信息")
    phone.check_width("step 2 执业信息")
    _select(page, "#department_id", "内科")
    shown = _visible_options(page, "#specialties")
    assert sorted(shown) == sorted(MEDICINE_SUBJECTS), (
        f"specialties offered for 内科: {shown}, expected only {MEDICINE_SUBJECTS}")
    page.locator("#specialties").select_option(label="呼吸内科专业")
    _select(page, "#title", "中级")
    _select(page, "#level", "执业医师")
    _select(page, "#is_trainee", "否")
    _select(page, "#practice_category", "临床")
    page.locator("#practice_scope").fill("内科专业")
    _select(page, "#employment", "在职")
    page.locator("#first_registration_date").fill("2008-07-01")
    expect(page.locator("#first_registration_date")).to_have_value("2008-07-01")
    _select(page, "#licence_kind", "电子证照（1页）")
    page.set_input_files("#licence", str(images["licence"]))
    phone.check_width("step 2 执业信息 (filled in)")
    _screenshot(page, shots, "phone-step2-practice.png", capsys)
    _tap_and_wait(page, "#next")
    _saved(page, 2, "执业信息")
    expect(page).to_have_url(f"{base_url}/me/enroll/3")

    # --- 3 相关经历: add one education row, see it listed, go on
    expect(page.locator("#steps li.active")).to_contain_text("相关经历")
    phone.check_width("step 3 相关经历")
    # The manual's three sections, each with its +添加.
    for section in ("education", "practice", "change"):
        expect(page.locator(f"#add-{section}")).to_be_visible()
    _tap_and_wait(page, "#add-education")
    page.locator("#organisation").fill("海南医学院")
    page.locator("#start_date").fill("2003-09-01")
    page.locator("#end_date").fill("2008-07-01")
    page.locator("#description").fill("临床医学 本科")
    _tap_and_wait(page, "#save-row")
    assert page.locator(".dk-error").count() == 0, page.locator(".dk-error").first.inner_text()
    expect(page).to_have_url(f"{base_url}/me/enroll/3")
    rows = page.locator("#section-education")
    expect(rows).to_contain_text("海南医学院")
    expect(rows).to_contain_text("教育经历")
    expect(rows).to_contain_text("2003-09-01")
    phone.check_width("step 3 相关经历 (one row)")
    _tap_and_wait(page, "#next")
    _saved(page, 3, "相关经历")
    expect(page).to_have_url(f"{base_url}/me/enroll/4")

    # --- 4 工作成绩、职业道德
    expect(page.locator("#steps li.active")).to_contain_text("工作成绩、职业道德")
    phone.check_width("step 4 工作成绩、职业道德")
    for radio in ("#good_record-yes", "#bad_record-no", "#work_quantity-pass",
                  "#ethics_fail-no"):
        page.locator(radio).tap()
        expect(page.locator(radio)).to_be_checked()
    page.locator("#list-awards input").first.fill("2024年市级先进个人")
    page.locator("#add-awards").tap()
    page.locator("#list-awards input").nth(1).fill("2025年优秀医师")
    page.locator("#work_quality_result-pass").tap()
    page.locator("#patients").fill("9000")
    _tap_and_wait(page, "#next")
    _saved(page, 4, "工作成绩、职业道德")
    expect(page).to_have_url(f"{base_url}/me/enroll/5")

    # --- 5 考核程序: 简易程序, condition (1), proof, statement
    expect(page.locator("#steps li.active")).to_contain_text("考核程序")
    phone.check_width("step 5 考核程序")
    expect(page.locator("#eligibility")).to_contain_text("2008-07-01")
    page.locator("#procedure-simple").tap()
    expect(page.locator("#procedure-simple")).to_be_checked()
    page.locator("#simple_condition").select_option(value="1")
    page.set_input_files("#proof", str(images["proof"]))
    page.locator("#statement").fill(STATEMENT)
    _tap_and_wait(page, "#next")
    _saved(page, 5, "考核程序")

    # --- preview → 提交
    expect(page).to_have_url(f"{base_url}/me/enroll/preview")
    phone.check_width("preview")
    headings = [h.strip() for h in page.locator("h5").all_inner_texts()]
    # The five sections, then the physician's own uploaded images.
    assert headings == SECTIONS + ["附件"], f"preview sections {headings}, expected {SECTIONS}"
    assert page.locator("#preview-photo").evaluate("img => img.naturalWidth") > 0
    body = page.locator("body").inner_text()
    for shown in ("王医生", "内科", "呼吸内科专业", "2008-07-01", "海南医学院", "简易程序",
                  STATEMENT, "1 份"):
        assert shown in body, f"preview does not show {shown!r}"
    assert page.locator("#missing").count() == 0, page.locator("#missing").inner_text()
    _screenshot(page, shots, "phone-preview.png", capsys)
    _tap_and_wait(page, "#submit-enrollment")
    expect(page).to_have_url(f"{base_url}/me/enroll/submitted")
    expect(page.locator("#submitted-at")).to_have_text(
        re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"))
    phone.check_width("submitted")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="返回首页").tap()
    expect(page).to_have_url(f"{base_url}/me/")
    expect(page.locator("#enrollment-state")).to_have_text("已报名-待医疗卫生机构审核")
    phone.check_width("/me/ after submitting")

    # --- the institution reviews on a desktop
    hospital = desktops()
    hpage = hospital.page
    _log_in(hpage, INSTITUTION_ACCOUNT)
    hpage.goto("/review/?procedure=simple", wait_until="load")
    expect(hpage.locator("#tab-simple").locator("xpath=..")).to_have_class(
        re.compile(r"\bactive\b"))
    _open_review(hpage, "王医生")
    expect(hpage.locator("#review-state")).to_contain_text("待医疗卫生机构审核")
    pictures = _attachments(hpage)
    assert len(pictures) >= 3, f"expected photo, licence and proof images in 附件, got {pictures}"
    broken = [p for p in pictures if not p["width"]]
    assert not broken, f"{INSTITUTION_ACCOUNT}: broken images in 附件: {broken}"
    hpage.locator("#work-pass").check()
    hpage.locator("#ethics-pass").check()
    _screenshot(hpage, shots, "desktop-review-detail.png", capsys)
    with hpage.expect_navigation(wait_until="load"):
        hpage.locator("#approve").click()
    assert hpage.locator("#form-error").count() == 0, hpage.locator("#form-error").inner_text()
    expect(hpage.locator(".alert-success").first).to_contain_text("操作成功")
    expect(hpage.locator("#review-rows")).not_to_contain_text("王医生")

    # --- the assessment institution confirms
    assessor = desktops()
    apage = assessor.page
    _log_in(apage, ASSESSMENT_ACCOUNT)
    apage.goto("/review/?stage=assessment&procedure=simple", wait_until="load")
    _open_review(apage, "王医生")
    expect(apage.locator("#review-state")).to_contain_text("待考核机构复核")
    pictures = _attachments(apage)
    broken = [p for p in pictures if not p["width"]]
    if len(pictures) < 3 or broken:
        findings.append(f"{ASSESSMENT_ACCOUNT} (assessment institution) re-review page: the 附件 "
                        f"images do not load: {broken or pictures}")
    _screenshot(apage, shots, "desktop-assessment-attachments.png", capsys)
    with apage.expect_navigation(wait_until="load"):
        apage.locator("#confirm").click()
    assert apage.locator("#form-error").count() == 0, apage.locator("#form-error").inner_text()
    expect(apage.locator(".alert-success").first).to_contain_text("操作成功")
    expect(apage.locator("#review-rows")).not_to_contain_text("王医生")

    # --- back on the phone
    page.goto("/me/", wait_until="load")
    expect(page.locator("#enrollment-state")).to_have_text("报名完成-等待测评")
    assert CJK.search(page.locator("body").inner_text())
    phone.check_width("/me/ after the reviews")

    problems = ([f"phone HTTP/JS: {p}" for p in phone.problems]
                + [f"institution HTTP/JS: {p}" for p in hospital.problems]
                + [f"assessment HTTP/JS: {p}" for p in assessor.problems]
                + phone.findings + findings)
    assert not problems, "problems met on the journey:\n  - " + "\n  - ".join(problems)

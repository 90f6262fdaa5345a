"""我要学习 on a phone in headless Chromium: 王医生 (一般程序, 临床 执业医师) opens 我要学习 from his
home page, sees the mock papers grouped as the manual shows them, practises (a wrong answer
shows 回答错误, the right option and the explanation, and goes into the 错题本; a right one
shows 回答正确), reads the paper in 背题模式 and removes a question from his 错题本.

Screenshots are kept in /tmp/study-*.png for a human to look at. Things a phone user would trip
over (a page wider than the screen) are collected and reported together at the end."""
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import test_browser as shared
from tests.test_browser import _log_in, _screenshot
from tests.test_browser_enrollment import PhoneVisit

pytestmark = pytest.mark.browser

workdir = shared.workdir
live_app = shared.live_app
base_url = shared.base_url
browser = shared.browser

SHOTS = Path("/tmp")
WRONG_STEM = "医师在执业活动中，下列哪一项不属于医师应当履行的义务？"


@pytest.fixture(scope="module")
def papers(live_app):
    """A humanities mock paper with explained questions, and a professional one drawn from
    the bank, for the 一般程序 王医生 is enrolled in."""
    from app.extensions import db
    from models import Cycle, Enrollment, Paper, Physician, Question

    with live_app.app_context():
        enrollment = db.session.query(Enrollment).join(Physician).filter(
            Physician.name == "王医生").one()
        enrollment.procedure = "general"
        humanities = [
            Question(kind="humanities", type="single", stem=WRONG_STEM,
                     options=["树立敬业精神，恪守职业道德", "尊重、关心、爱护患者",
                              "为患者开具不必要的检查以增加收入", "努力钻研业务，更新知识"],
                     answer="C", score=10,
                     explanation="《中华人民共和国医师法》规定医师应当恪守职业道德、尊重患者、"
                                 "钻研业务；开具不必要的检查违背职业道德，不是义务。"),
            Question(kind="humanities", type="multiple",
                     stem="医患沟通中，下列做法正确的是：",
                     options=["使用患者能理解的语言", "耐心倾听患者的陈述",
                              "回避患者关于病情的提问", "尊重患者的知情同意权"],
                     answer="ABD", score=10,
                     explanation="有效沟通要求通俗表达、耐心倾听并尊重知情同意；回避提问损害"
                                 "信任。"),
            Question(kind="humanities", type="judge",
                     stem="医师可以因患者欠费而拒绝对急危患者实施抢救。", options=[],
                     answer="B", score=10,
                     explanation="对急危患者，医师应当采取紧急措施进行诊治，不得拒绝急救处置。"),
        ]
        professional = [
            Question(kind="professional", practice_category="clinical", type="single",
                     stem=f"临床业务模拟题 {i + 1}：成人社区获得性肺炎最常见的病原体是？",
                     options=["肺炎链球菌", "金黄色葡萄球菌", "铜绿假单胞菌", "肺炎克雷伯菌"],
                     answer="A", score=10, explanation="肺炎链球菌仍是最常见的病原体。")
            for i in range(4)]
        db.session.add_all(humanities + professional)
        cycle = Cycle.current()
        mock_humanities = Paper(cycle=cycle, name="2026年医师定期考核人文医学模拟试卷（一）",
                                kind="humanities", procedure="general", is_mock=True,
                                questions=humanities)
        mock_professional = Paper(cycle=cycle, name="2026年医师定期考核业务水平模拟试卷【执业医师】"
                                                    "[临床]",
                                  kind="professional", procedure="general", is_mock=True,
                                  practice_category="clinical", level="physician",
                                  draw_single=2)
        db.session.add_all([mock_humanities, mock_professional])
        db.session.commit()
        ids = mock_humanities.id, mock_professional.id
        db.session.remove()
    return ids


@pytest.fixture()
def phone(browser, base_url):
    v = PhoneVisit(browser, base_url)
    yield v
    v.close()


def _tap_and_wait(page, selector):
    with page.expect_navigation(wait_until="load"):
        page.locator(selector).tap()


def _go_to(page, text):
    """Page through the practice cards (上一题 to the first, then 下一题) to the one with
    ``text``; returns it."""
    card = page.locator(".dk-study-card:visible")
    while not card.locator(".dk-prev").is_disabled():
        card.locator(".dk-prev").tap()
        card = page.locator(".dk-study-card:visible")
    while text not in card.locator("legend").inner_text():
        assert not card.locator(".dk-next").is_disabled(), f"no practice card with {text}"
        card.locator(".dk-next").tap()
        card = page.locator(".dk-study-card:visible")
    return card


def test_physician_practises_memorises_and_keeps_a_mistake_book_on_a_phone(
        phone, papers, base_url, capsys):
    from app.demo import DEMO_PHYSICIAN_ID

    humanities_id, professional_id = papers
    page = phone.page
    _log_in(page, DEMO_PHYSICIAN_ID, physician=True)
    expect(page).to_have_url(f"{base_url}/me/")
    expect(page.locator("#tool-study")).to_have_text("我要学习")
    _tap_and_wait(page, "#tool-study")

    # --- the list, grouped as the manual shows it
    expect(page).to_have_url(f"{base_url}/me/study/")
    group = page.locator("#study-general")
    expect(group).to_contain_text("报名一般程序的医师")
    expect(group).to_contain_text("需学习[医学人文知识、专业知识]")
    expect(page.locator(f"#paper-{humanities_id}")).to_contain_text("共3题")
    expect(page.locator(f"#paper-{professional_id}")).to_contain_text("临床 · 执业医师")
    phone.check_width("/me/study/")
    _screenshot(page, SHOTS, "study-list.png", capsys)

    # --- 练习模式: one card at a time
    _tap_and_wait(page, f"#practice-{humanities_id}")
    cards = page.locator(".dk-study-card")
    expect(cards).to_have_count(3)
    expect(page.locator(".dk-study-card:visible")).to_have_count(1)
    card = page.locator(".dk-study-card:visible")
    expect(card).to_contain_text("第 1 / 3 题")
    # Submitting with nothing chosen asks for a choice first.
    card.locator(".dk-check").tap()
    expect(card.locator(".dk-study-message")).to_have_text("请先选择答案")

    # The question to answer wrong, wherever the shuffle put it.
    card = _go_to(page, WRONG_STEM)
    card.locator('.dk-option[data-letter="A"]').tap()
    card.locator(".dk-check").tap()
    expect(card.locator(".dk-verdict")).to_have_text("回答错误，已记入错题本")
    expect(card.locator(".dk-answer")).to_have_text("C")
    expect(card.locator(".dk-explanation")).to_contain_text("开具不必要的检查违背职业道德")
    expect(card.locator('.dk-option.dk-right[data-letter="C"]')).to_have_count(1)
    expect(card.locator('.dk-option.dk-wrong[data-letter="A"]')).to_have_count(1)
    expect(page.locator("#wrong-count")).to_have_text("1")
    # Checked once: the button goes, the options are fixed.
    expect(card.locator(".dk-check")).to_be_hidden()
    expect(card.locator("input:enabled")).to_have_count(0)
    phone.check_width("练习模式 (wrong)")
    _screenshot(page, SHOTS, "study-practice-wrong.png", capsys)

    # The judge question, answered right.
    card = _go_to(page, "急危患者")
    card.locator('.dk-option[data-letter="B"]').tap()
    card.locator(".dk-check").tap()
    expect(card.locator(".dk-verdict")).to_have_text("回答正确")
    expect(card.locator(".dk-answer")).to_have_text("错误")
    expect(page.locator("#right-count")).to_have_text("1")
    _screenshot(page, SHOTS, "study-practice-right.png", capsys)

    # --- 背题模式
    page.goto(f"/me/study/{humanities_id}/memorise", wait_until="load")
    expect(page.locator(".dk-study-card")).to_have_count(3)
    expect(page.locator(".dk-option.dk-right")).to_have_count(1 + 3 + 1)
    expect(page.locator(".dk-explanation").first).to_contain_text("医师法")
    phone.check_width("背题模式")
    _screenshot(page, SHOTS, "study-memorise.png", capsys)

    # --- 错题本, then 移除
    page.goto("/me/study/mistakes", wait_until="load")
    mistake = page.locator(".dk-study-card")
    expect(mistake).to_have_count(1)
    expect(mistake).to_contain_text(WRONG_STEM)
    expect(mistake.locator(".dk-times")).to_have_text("答错 1 次")
    phone.check_width("错题本")
    _screenshot(page, SHOTS, "study-mistakes.png", capsys)
    with page.expect_navigation(wait_until="load"):
        mistake.locator("button", has_text="移除").tap()
    expect(page.locator(".alert-success")).to_contain_text("已从错题本移除")
    expect(page.locator("#mistakes-empty")).to_be_visible()

    problems = phone.problems + phone.findings
    assert not problems, "\n".join(problems)

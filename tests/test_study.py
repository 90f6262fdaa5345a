"""我要学习 (DOMAIN §9; manual 001 第五阶段 考前学习准备): the mock papers that fit the physician,
grouped by procedure; 练习模式 with right or wrong, the answer and the explanation after each
question; 背题模式 with the answers shown; the 错题本. The answers of a real exam never reach a
physician through these pages, and one physician never sees another's 错题本."""
import datetime
import json
import re

import pytest

from app.extensions import db
from models import Enrollment, Physician, PracticeMistake
from tests.conftest import PASSWORD, _token_from_session, login, post
from tests.test_exam import _no_face_verification, bank, paper  # noqa: F401 (autouse)

EXPLANATION = "《医师法》第二十三条规定的义务"


def procedure(value):
    """王医生's procedure this cycle (None: not chosen yet)."""
    enrollment = db.session.query(Enrollment).join(Physician).filter(
        Physician.name == "王医生").one()
    enrollment.procedure = value
    db.session.commit()


def mock(kind, procedure_, questions=None, name=None, category=None, level=None, **draws):
    """A mock paper (模拟试卷) of the current cycle."""
    made = paper(kind, procedure_, questions, is_mock=True, **draws)
    made.name = name or f"模拟{made.name}"
    made.practice_category, made.level = category, level
    db.session.commit()
    return made


def explained(questions):
    for question in questions:
        question.explanation = f"{EXPLANATION}（{question.stem}）"
    db.session.commit()
    return questions


def check(client, paper_id, question_id, response):
    return client.post(f"/me/study/{paper_id}/check",
                       data=json.dumps({"question_id": question_id, "response": response}),
                       content_type="application/json",
                       headers={"X-CSRFToken": _token_from_session(client)})


def mistakes(physician_name="王医生"):
    db.session.expire_all()
    return db.session.query(PracticeMistake).join(
        Physician, Physician.id == PracticeMistake.physician_id).filter(
        Physician.name == physician_name).all()


def another_physician(province):
    """张医生 of the same hospital, with an account that may log in (mobile bound)."""
    from app.demo import DEMO_PHYSICIAN_ID
    from security import idcard
    from security.accounts import create_account
    from security.roles import PHYSICIAN

    wang = db.session.query(Physician).filter_by(id_number=DEMO_PHYSICIAN_ID).one()
    number = idcard.make("460100", datetime.date(1988, 6, 1), 77)
    zhang = Physician(name="张医生", id_number=number, gender="male",
                      birth_date=datetime.date(1988, 6, 1), institution=wang.institution,
                      department=wang.department, practice_category="clinical",
                      level="physician")
    db.session.add(zhang)
    db.session.flush()
    user = create_account(number, [PHYSICIAN], name="张医生", password=PASSWORD,
                          must_change=False, physician=zhang)
    user.mobile = "13900000077"
    user.mobile_bound_at = datetime.datetime.now()
    db.session.commit()
    client = province.test_client()
    assert login(client, number, kind="physician").status_code == 302
    return client


# --- the list -------------------------------------------------------------------------------


def test_the_list_shows_the_mock_papers_of_the_physicians_procedure_and_category(as_role):
    procedure("general")
    humanities = mock("humanities", "general", bank("humanities"), name="人文模拟卷一")
    clinical = mock("professional", "general", bank("professional", category="clinical"),
                    name="临床业务模拟卷", category="clinical", level="physician")
    any_category = mock("professional", "general", bank("professional", category="any"),
                        name="通用业务模拟卷")
    dental = mock("professional", "general", bank("professional", category="dental"),
                  name="口腔业务模拟卷", category="dental")
    assistant = mock("professional", "general", name="助理医师业务模拟卷",
                     category="clinical", level="assistant", draw_single=1)
    simple = mock("humanities", "simple", name="简易程序人文模拟卷", draw_single=1)
    real = paper("humanities", "general", bank("humanities", singles=1, multiples=0, judges=0,
                                               category="real"))
    real.name = "正式人文测评卷"
    db.session.commit()

    doctor = as_role("physician")
    assert 'id="tool-study"' in doctor.get("/me/").get_data(as_text=True)
    page = doctor.get("/me/study/").get_data(as_text=True)
    assert "我要学习" in page
    assert "报名一般程序的医师" in page and "需学习[医学人文知识、专业知识]" in page
    for shown in (humanities, clinical, any_category):
        assert shown.name in page and f"/me/study/{shown.id}/practice" in page
        assert f"/me/study/{shown.id}/memorise" in page
    for hidden in (dental, assistant, simple, real):
        assert hidden.name not in page
    assert "练习模式" in page and "背题模式" in page and "临床 · 执业医师" in page
    # Humanities first, as the manual lists them.
    assert page.index(humanities.name) < page.index(clinical.name)
    assert "需学习[医学人文知识]<" not in page  # no 简易程序 group

    # Not chosen yet: both procedures' groups, as the manual shows them.
    procedure(None)
    page = doctor.get("/me/study/").get_data(as_text=True)
    assert "报名简易程序的医师" in page and "需学习[医学人文知识]" in page
    assert simple.name in page and humanities.name in page and real.name not in page
    assert page.index(simple.name) < page.index(humanities.name)

    procedure("simple")
    page = doctor.get("/me/study/").get_data(as_text=True)
    assert simple.name in page and humanities.name not in page and clinical.name not in page


def test_with_no_mock_paper_the_list_says_so(as_role):
    procedure("general")
    paper("humanities", "general", bank("humanities"))  # a real paper only
    page = as_role("physician").get("/me/study/").get_data(as_text=True)
    assert 'id="study-empty"' in page and "暂无为您发布的模拟试卷" in page


@pytest.mark.parametrize("role", ["province", "district", "institution", "assessment",
                                  "operator", "sysadmin"])
def test_staff_cannot_open_the_study_pages(as_role, role):
    procedure("general")
    humanities = mock("humanities", "general", bank("humanities"))
    question = humanities.questions[0]
    client = as_role(role)
    assert client.get("/me/study/").status_code == 403
    assert client.get(f"/me/study/{humanities.id}/memorise").status_code == 403
    assert client.get("/me/study/mistakes").status_code == 403
    assert check(client, humanities.id, question.id, "A").status_code == 403


# --- 练习模式 -------------------------------------------------------------------------------


def test_practice_tells_right_or_wrong_with_the_answer_and_explanation(as_role):
    procedure("general")
    questions = explained(bank("humanities", singles=2))
    single, multiple, judge = questions[0], questions[2], questions[3]
    humanities = mock("humanities", "general", questions)
    doctor = as_role("physician")

    page = doctor.get(f"/me/study/{humanities.id}/practice").get_data(as_text=True)
    assert "练习模式" in page and "提交本题" in page and "第 1 / 4 题" in page
    assert single.stem in page and "对的" in page and "正确" in page
    # The answers and explanations stay on the server until a question is checked.
    assert EXPLANATION not in page and "dk-right" not in page.split("<script")[0]

    right = check(doctor, humanities.id, single.id, "A")
    assert right.status_code == 200
    assert right.get_json() == {"ok": True, "right": True, "answer": "A",
                                "explanation": single.explanation}
    assert mistakes() == []

    wrong = check(doctor, humanities.id, multiple.id, "A")  # one of the two right options
    assert wrong.get_json()["right"] is False and wrong.get_json()["answer"] == "AC"
    assert EXPLANATION in wrong.get_json()["explanation"]
    assert check(doctor, humanities.id, multiple.id, "CA").get_json()["right"] is True
    assert check(doctor, humanities.id, judge.id, "B").get_json()["right"] is False
    assert sorted(m.question_id for m in mistakes()) == sorted([multiple.id, judge.id])

    # Not answerable: nothing chosen, an option the question does not have, two for a single.
    for response in ("", "Z", "AB"):
        refused = check(doctor, humanities.id, single.id, response)
        assert refused.status_code == 400 and refused.get_json()["message"]
    assert "请先选择答案" in check(doctor, humanities.id, single.id, "").get_json()["message"]
    assert len(mistakes()) == 2


def test_a_drawn_mock_paper_practises_a_fresh_draw_from_the_bank(as_role):
    procedure("general")
    questions = bank("professional", singles=6, multiples=0, judges=0, category="clinical")
    other_kind = bank("humanities", singles=1, multiples=0, judges=0)[0]
    drawn = mock("professional", "general", category="clinical", draw_single=3)
    doctor = as_role("physician")
    page = doctor.get(f"/me/study/{drawn.id}/practice").get_data(as_text=True)
    shown = [q for q in questions if f'data-question="{q.id}"' in page]
    assert len(shown) == 3 and "第 3 / 3 题" in page
    # Any question of the pool may be checked (the draw is the browser's), nothing else.
    assert check(doctor, drawn.id, questions[5].id, "B").get_json()["right"] is False
    assert check(doctor, drawn.id, other_kind.id, "A").status_code == 404


def test_a_wrong_answer_lands_in_the_mistake_book_twice_counts_two(as_role):
    procedure("general")
    questions = explained(bank("humanities", singles=1, multiples=0, judges=1))
    single, judge = questions
    humanities = mock("humanities", "general", questions)
    doctor = as_role("physician")
    assert "错题本是空的" in doctor.get("/me/study/mistakes").get_data(as_text=True)

    check(doctor, humanities.id, single.id, "B")
    check(doctor, humanities.id, single.id, "C")
    check(doctor, humanities.id, judge.id, "B")
    [first, second] = sorted(mistakes(), key=lambda m: m.question_id)
    assert (first.question_id, first.times) == (single.id, 2)
    assert (second.question_id, second.times) == (judge.id, 1)
    # A right answer afterwards keeps the question in the book (the physician removes it).
    assert check(doctor, humanities.id, single.id, "A").get_json()["right"] is True
    assert {m.question_id: m.times for m in mistakes()} == {single.id: 2, judge.id: 1}

    page = doctor.get("/me/study/mistakes").get_data(as_text=True)
    assert single.stem in page and judge.stem in page
    assert "答错 2 次" in page and "答错 1 次" in page
    assert first.last_at.strftime("%Y-%m-%d") in page
    assert single.explanation in page and "正确答案" in page
    assert re.search(r'class="dk-option dk-right"[^>]*data-letter="A"', page)
    assert "错题本 (2)" in doctor.get("/me/study/").get_data(as_text=True)

    removed = post(doctor, f"/me/study/mistakes/{first.id}/remove")
    assert removed.status_code == 302 and removed.headers["Location"].endswith(
        "/me/study/mistakes")
    assert [m.question_id for m in mistakes()] == [judge.id]
    page = doctor.get("/me/study/mistakes").get_data(as_text=True)
    assert "已从错题本移除" in page and single.stem not in page
    assert post(doctor, f"/me/study/mistakes/{first.id}/remove").status_code == 404


def test_wrong_answers_at_the_same_moment_each_count(as_role, province):
    from tests.helpers import burst, logged_in_clients

    procedure("general")
    questions = bank("humanities", singles=1, multiples=0, judges=0)
    humanities = mock("humanities", "general", questions)
    clients = logged_in_clients(province, 6, role="physician")
    outcomes = burst(province, [(client, f"/me/study/{humanities.id}/check",
                                 {"question_id": questions[0].id, "response": "B"})
                                for client in clients])
    assert all(o.status == 200 for o in outcomes), outcomes
    [mistake] = mistakes()
    assert mistake.times == 6


def test_one_physician_neither_sees_nor_removes_anothers_mistakes(as_role, province):
    procedure("general")
    questions = bank("humanities", singles=1, multiples=0, judges=1)
    humanities = mock("humanities", "general", questions)
    wang = as_role("physician")
    check(wang, humanities.id, questions[0].id, "B")
    [mistake] = mistakes()

    zhang = another_physician(province)
    page = zhang.get("/me/study/mistakes").get_data(as_text=True)
    assert questions[0].stem not in page and "错题本是空的" in page
    assert post(zhang, f"/me/study/mistakes/{mistake.id}/remove").status_code == 404
    assert [m.id for m in mistakes()] == [mistake.id]
    # His own mistakes are his; 王医生's book is untouched by them.
    check(zhang, humanities.id, questions[1].id, "B")
    assert [m.question_id for m in mistakes("张医生")] == [questions[1].id]
    assert [m.question_id for m in mistakes()] == [questions[0].id]
    assert questions[1].stem not in wang.get("/me/study/mistakes").get_data(as_text=True)


# --- 背题模式 -------------------------------------------------------------------------------


def test_memorise_shows_every_question_with_its_answer_and_explanation(as_role):
    procedure("general")
    questions = explained(bank("humanities", singles=2))
    humanities = mock("humanities", "general", questions)
    page = as_role("physician").get(f"/me/study/{humanities.id}/memorise").get_data(
        as_text=True)
    assert "背题模式" in page
    for question in questions:
        assert question.stem in page and question.explanation in page
    # Listed in the paper's order, right options marked.
    assert page.index(questions[0].stem) < page.index(questions[-1].stem)
    assert "正确答案" in page and page.count('dk-right"') >= 1
    multiple_card = page[page.index(questions[2].stem):page.index(questions[3].stem)]
    assert re.findall(r'dk-option dk-right" data-letter="(\w)"', multiple_card) == ["A", "C"]
    assert "A、C" in multiple_card
    judge_card = page[page.index(questions[3].stem):]
    assert re.search(r'正确答案: <b class="dk-answer dk-ok">正确</b>', judge_card)


# --- what is never answered -----------------------------------------------------------------


def test_a_real_exam_papers_questions_are_never_answered_or_shown(as_role):
    procedure("general")
    mock_questions = bank("humanities", singles=1, multiples=0, judges=0)
    humanities = mock("humanities", "general", mock_questions)
    real_questions = explained(bank("professional", singles=2, multiples=0, judges=0,
                                    category="exam"))
    real = paper("professional", "general", real_questions)
    doctor = as_role("physician")

    # The real paper by its own id: no page, no check.
    assert doctor.get(f"/me/study/{real.id}/practice").status_code == 404
    assert doctor.get(f"/me/study/{real.id}/memorise").status_code == 404
    assert check(doctor, real.id, real_questions[0].id, "A").status_code == 404
    # Its question through a mock paper that does not hold it.
    assert check(doctor, humanities.id, real_questions[0].id, "A").status_code == 404
    # Not a question at all, or not a number.
    assert check(doctor, humanities.id, 999999, "A").status_code == 404
    assert check(doctor, humanities.id, "x", "A").status_code == 404
    assert check(doctor, 999999, mock_questions[0].id, "A").status_code == 404
    assert mistakes() == []
    # A disabled question has left the paper.
    mock_questions[0].enabled = False
    db.session.commit()
    assert check(doctor, humanities.id, mock_questions[0].id, "A").status_code == 404


def test_another_categorys_or_procedures_mock_paper_is_not_found(as_role):
    procedure("general")
    dental_questions = bank("professional", singles=1, multiples=0, judges=0,
                            category="dental")
    dental = mock("professional", "general", dental_questions, category="dental")
    simple = mock("humanities", "simple", bank("humanities", singles=1, multiples=0,
                                                judges=0))
    doctor = as_role("physician")
    for target, question in ((dental, dental_questions[0]), (simple, simple.questions[0])):
        assert doctor.get(f"/me/study/{target.id}/practice").status_code == 404
        assert doctor.get(f"/me/study/{target.id}/memorise").status_code == 404
        assert check(doctor, target.id, question.id, "A").status_code == 404
    assert mistakes() == []


def test_a_question_on_a_real_papers_fixed_list_is_in_no_mock_paper(as_role):
    procedure("general")
    secret = bank("professional", singles=2, multiples=0, judges=0, category="clinical")
    paper("professional", "general", secret, category="clinical").practice_category = \
        "clinical"
    studied = bank("professional", singles=3, multiples=0, judges=0, category="open")
    db.session.commit()
    drawn = mock("professional", "general", name="抽题模拟卷", draw_single=3)
    fixed = mock("professional", "general", [secret[0], studied[0]], name="固定模拟卷")
    doctor = as_role("physician")

    assert "共1题" in doctor.get("/me/study/").get_data(as_text=True).split("固定模拟卷")[1]
    for target in (drawn, fixed):
        for mode in ("practice", "memorise"):
            page = doctor.get(f"/me/study/{target.id}/{mode}").get_data(as_text=True)
            assert secret[0].stem not in page and secret[1].stem not in page
        for question in secret:
            assert check(doctor, target.id, question.id, "A").status_code == 404
    assert check(doctor, fixed.id, studied[0].id, "A").get_json()["right"] is True
    assert check(doctor, drawn.id, studied[2].id, "A").get_json()["right"] is True


def test_nothing_is_studied_while_a_real_exam_is_being_answered(as_role):
    from tests.test_exam import awaiting_exam, hand_in, start

    awaiting_exam("simple")
    real = paper("humanities", "simple", bank("humanities", category="real"), attempts=20)
    questions = bank("humanities", singles=1, multiples=0, judges=0)
    humanities = mock("humanities", "simple", questions)
    doctor = as_role("physician")
    attempt = start(doctor, real.id)

    page = doctor.get("/me/study/").get_data(as_text=True)
    assert "正在考试" in page and humanities.name in page
    for url in (f"/me/study/{humanities.id}/practice", f"/me/study/{humanities.id}/memorise",
                "/me/study/mistakes"):
        refused = doctor.get(url)
        assert refused.status_code == 302 and refused.headers["Location"].endswith(
            "/me/study/"), url
    refused = check(doctor, humanities.id, questions[0].id, "B")
    assert refused.status_code == 400 and "正在考试" in refused.get_json()["message"]
    assert mistakes() == []

    hand_in(doctor, attempt)
    assert "正在考试" not in doctor.get("/me/study/").get_data(as_text=True)
    assert doctor.get(f"/me/study/{humanities.id}/memorise").status_code == 200
    assert check(doctor, humanities.id, questions[0].id, "B").get_json()["right"] is False

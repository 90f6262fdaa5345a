"""医学人文与业务水平综合试卷 (manual 001 第三阶段 第十一步; DOMAIN §9): the general procedure's
combined paper — a humanities part and a professional part matched to the physician's 执业类别
and 医师级别 — sat instead of the humanities and professional pair; the pair and the combined
paper are never set together; failing it leads to 待确认补考 and the make-up combined paper."""
import datetime
import re

from app.extensions import db
from models import Cycle, ExamAttempt, Paper, Question
from tests.conftest import flashes, post
from tests.test_exam import (  # noqa: F401 (_no_face_verification is autouse)
    _attempt,
    _close,
    _enrollment,
    _no_face_verification,
    answer,
    answer_all,
    awaiting_exam,
    bank,
    hand_in,
    paper,
    start,
)


def professional(count, qtype="single", category=None, level=None, tag=""):
    """Professional questions of the bank tagged with ``category`` / ``level`` (None = any)."""
    made = []
    for i in range(count):
        options, answer = (["对的", "错的"], "A") if qtype != "multiple" else \
            (["对一", "错", "对二", "错二"], "AC")
        made.append(Question(kind="professional", type=qtype, options=options, answer=answer,
                             stem=f"业务 {qtype} {i} {category} {level} {tag}", score=20,
                             practice_category=category, level=level))
    db.session.add_all(made)
    db.session.flush()
    return made


def professional_bank():
    """王医生 is 临床 / 执业医师: what he may draw, and decoys of other categories and levels
    that outnumber it, so a draw that ignored the physician would pick them."""
    mine = (professional(2, category="clinical", level="physician")
            + professional(1)  # untagged: serves any physician
            + professional(1, "multiple", category="clinical"))
    decoys = (professional(6, category="dental") + professional(6, category="clinical",
                                                                level="assistant")
              + professional(4, "multiple", category="tcm"))
    return mine, decoys


def combined(makeup=False, **extra):
    """The combined paper: 2 单选 + 1 判断 of humanities, 3 单选 + 1 多选 professional (7 × 20)."""
    made = paper("combined", "general", makeup=makeup, draw_single=2, draw_judge=1,
                 draw_professional_single=3, draw_professional_multiple=1, **extra)
    made.name = "专业知识业务水平测评试卷" + ("（补考）" if makeup else "")
    db.session.commit()
    return made


def test_the_combined_paper_journey_draws_both_parts_and_passing_it_is_qualified(as_role):
    awaiting_exam("general")
    humanities = bank("humanities", singles=4, multiples=0, judges=2)
    mine, decoys = professional_bank()
    paper_row = combined()
    doctor = as_role("physician")
    cards = doctor.get("/me/exams/").get_data(as_text=True)
    # The manual's card: name, 考核对象, 可考次数, 考试时间, 进入测评.
    assert paper_row.name in cards and "参加一般程序的医师" in cards
    assert "剩余1次" in cards and "考试时间" in cards and "进入测评" in cards

    attempt_id = start(doctor, paper_row.id)
    attempt = _attempt(attempt_id)
    drawn = [db.session.get(Question, q) for q in attempt.question_ids]
    # Humanities part first, then the professional part, each with its counts per type.
    assert [(q.kind, q.type) for q in drawn[:3]].count(("humanities", "single")) == 2
    assert [(q.kind, q.type) for q in drawn[:3]].count(("humanities", "judge")) == 1
    assert sorted(q.type for q in drawn[3:]) == ["multiple", "single", "single", "single"]
    assert {q.id for q in drawn[3:]} == {q.id for q in mine}  # only his category and level
    assert {q.id for q in drawn[:3]} <= {q.id for q in humanities}

    # A reload and a second 开始考试 resume the same attempt in the same order.
    page = doctor.get(f"/me/exams/attempt/{attempt_id}").get_data(as_text=True)
    shown = [int(i) for i in re.findall(r'data-question="(\d+)"', page)]
    assert shown == attempt.question_ids
    assert start(doctor, paper_row.id) == attempt_id
    again = doctor.get(f"/me/exams/attempt/{attempt_id}").get_data(as_text=True)
    assert [int(i) for i in re.findall(r'data-question="(\d+)"', again)] == shown
    assert _attempt(attempt_id).option_orders == attempt.option_orders

    answer_all(doctor, attempt_id)
    assert hand_in(doctor, attempt_id).status_code == 302
    assert _attempt(attempt_id).score == 140 and _attempt(attempt_id).passed
    assert _enrollment().state == "passed"
    assert "已合格" in doctor.get("/me/exams/").get_data(as_text=True)
    # 测评进度 lists it under 一般程序.
    progress = as_role("institution").get("/paperresultview/list/?_flt_0_enrollment=一般程序")
    assert paper_row.name in progress.get_data(as_text=True)


def test_a_failed_combined_paper_goes_to_makeup_and_the_makeup_combined_paper_decides(as_role):
    awaiting_exam("general")
    bank("humanities", singles=2, multiples=0, judges=1)
    professional_bank()
    regular = combined()
    doctor = as_role("physician")
    attempt_id = start(doctor, regular.id)
    answer_all(doctor, attempt_id, right=False)
    hand_in(doctor, attempt_id)
    assert _enrollment().state == "awaiting_makeup_confirmation"
    assert "考试次数已用完" in doctor.get("/me/exams/").get_data(as_text=True)

    province = as_role("province")
    assert "王医生" in province.get("/makeup/list/").get_data(as_text=True)
    post(province, "/makeup/action_post", {"action": "confirm_makeup",
                                           "rowid": str(_enrollment().id)})
    assert _enrollment().state == "awaiting_makeup"
    window = next(w for w in Cycle.current().windows if w.kind == "makeup_exam")
    window.start_date = datetime.date.today() - datetime.timedelta(days=1)
    db.session.commit()
    makeup = combined(makeup=True)
    cards = doctor.get("/me/exams/").get_data(as_text=True)
    assert makeup.name in cards and regular.name + "<" not in cards
    attempt_id = start(doctor, makeup.id)
    assert len(_attempt(attempt_id).question_ids) == 7
    answer_all(doctor, attempt_id)
    hand_in(doctor, attempt_id)
    assert _enrollment().state == "passed"


def test_an_exempted_physician_sits_only_the_humanities_part(as_role):
    """一般程序 免考 waives the professional part (our rule): the attempt draws the humanities
    part alone and the pass mark shrinks with it (60 of 7 questions → 26 of 3)."""
    from commands import exemption as deciding
    from models import Exemption, StoredFile
    from tests.test_state_machine import _actor

    enrollment = awaiting_exam("general")
    bank("humanities", singles=2, multiples=0, judges=1)
    professional_bank()
    paper_row = combined()
    proof = StoredFile(storage_name="xx/p", original_name="p.pdf", content_type="application/pdf",
                       size=1, sha256="0", purpose="exemption_proof",
                       physician_id=enrollment.physician_id)
    exemption = Exemption(enrollment=enrollment, condition="c", proof=proof, state="pending")
    db.session.add_all([proof, exemption])
    db.session.commit()
    deciding.decide(_actor("NX1008611"), [exemption.id], True)
    deciding.decide(_actor("NX1008600"), [exemption.id], True)
    doctor = as_role("physician")
    cards = doctor.get("/me/exams/").get_data(as_text=True)
    assert "免考: 业务水平" in cards
    notice = doctor.get(f"/me/exams/{paper_row.id}/notice").get_data(as_text=True)
    assert "合格分数：26分" in notice
    attempt_id = start(doctor, paper_row.id)
    kinds = {db.session.get(Question, q).kind for q in _attempt(attempt_id).question_ids}
    assert kinds == {"humanities"} and len(_attempt(attempt_id).question_ids) == 3
    answer_all(doctor, attempt_id)
    # One of the three wrong: 40 passes the shrunk mark (26), not the paper's 60.
    wrong = _attempt(attempt_id).question_ids[0]
    assert answer(doctor, attempt_id, wrong, "B").status_code == 200
    hand_in(doctor, attempt_id)
    assert _attempt(attempt_id).score == 40 and _attempt(attempt_id).passed
    result = doctor.get(f"/me/exams/attempt/{attempt_id}/result").get_data(as_text=True)
    assert "合格分数26" in result
    assert _enrollment().state == "passed"


def _form(cycle, **fields):
    window = cycle.window("exam")
    opens = datetime.datetime.combine(window.start_date, datetime.time(9))
    return {"name": "试卷", "cycle": str(cycle.id), "procedure": "general",
            "practice_category": "", "level": "", "opens_at": f"{opens:%Y-%m-%d %H:%M:%S}",
            "closes_at": f"{opens + datetime.timedelta(hours=8):%Y-%m-%d %H:%M:%S}",
            "duration_minutes": "60", "pass_mark": "60", "max_attempts": "1", **fields}


def test_the_paper_form_sets_both_parts_and_refuses_a_mixed_configuration(as_role):
    province = as_role("province")
    cycle = Cycle.current()
    saved = post(province, "/paperview/add", _form(
        cycle, name="综合试卷", kind="combined", draw_single="2", draw_judge="1",
        draw_professional_single="3", draw_professional_multiple="1"))
    assert saved.status_code == 302, flashes(province)
    row = db.session.query(Paper).one()
    assert row.kind == "combined" and row.draws["single"] == 2
    assert row.professional_draws == {"single": 3, "multiple": 1, "judge": None}
    shown = province.get(f"/paperview/show/{row.id}").get_data(as_text=True)
    assert "医学人文与业务水平综合" in shown and "综合试卷业务水平部分" in shown

    # The pair cannot join it in the same cycle's general procedure.
    post(province, "/paperview/add", _form(cycle, name="人文卷", kind="humanities",
                                           draw_single="2"))
    assert any("不能同时设置" in m and "综合试卷" in m for m in flashes(province))
    assert db.session.query(Paper).count() == 1
    # A combined paper is for the general procedure and draws both of its parts.
    post(province, "/paperview/add", _form(cycle, name="简易综合", kind="combined",
                                           procedure="simple", draw_single="2",
                                           draw_professional_single="1"))
    assert any("仅用于参加一般程序的医师" in m for m in flashes(province))
    post(province, "/paperview/add", _form(cycle, name="缺一部分", kind="combined",
                                           is_makeup="y", draw_single="2"))
    assert any("医学人文部分和业务水平部分" in m for m in flashes(province))
    assert db.session.query(Paper).count() == 1
    # A mock paper may be anything the procedure studies: a humanities mock is fine.
    assert post(province, "/paperview/add", _form(
        cycle, name="模拟人文", kind="humanities", is_mock="y",
        draw_single="1")).status_code == 302
    assert db.session.query(Paper).count() == 2

    # Once the pair is set instead, a combined paper is refused the other way round.
    db.session.query(Paper).filter(Paper.kind == "combined").delete()
    db.session.commit()
    assert post(province, "/paperview/add", _form(
        cycle, name="人文卷", kind="humanities", draw_single="2")).status_code == 302
    post(province, "/paperview/add", _form(
        cycle, name="综合二", kind="combined", draw_single="2", draw_professional_single="1"))
    assert any("不能同时设置" in m and "人文卷" in m for m in flashes(province))
    assert db.session.query(Paper).filter(Paper.kind == "combined").count() == 0


def test_a_combined_mock_paper_practises_the_physicians_professional_questions(as_role):
    from tests.test_study import check, mock, procedure

    procedure("general")
    humanities = bank("humanities", singles=2, multiples=0, judges=0)
    mine, decoys = professional_bank()
    study = mock("combined", "general", draw_single=2, draw_professional_single=3,
                 draw_professional_multiple=1)
    doctor = as_role("physician")
    assert study.name in doctor.get("/me/study/").get_data(as_text=True)
    page = doctor.get(f"/me/study/{study.id}/practice").get_data(as_text=True)
    shown = {int(i) for i in re.findall(r'data-question="(\d+)"', page)}
    assert shown == {q.id for q in humanities + mine}
    assert check(doctor, study.id, mine[0].id, "A").get_json()["right"] is True
    # Another category's question is not in his paper: its answer stays on the server.
    assert check(doctor, study.id, decoys[0].id, "A").status_code == 404
    assert db.session.query(ExamAttempt).count() == 0


def test_a_combined_paper_that_closes_unsat_moves_the_physician_to_makeup(as_role):
    """The sweeper treats the combined paper like the others: its time over, never sat →
    待确认补考; a combined paper of another category moves nobody."""
    from commands import exam

    awaiting_exam("general")
    bank("humanities", singles=2, multiples=0, judges=1)
    professional_bank()
    mine = combined()
    dental = combined(category="dental")
    dental.practice_category = "dental"
    db.session.commit()
    _close(dental)
    assert exam.close_papers() == 0 and _enrollment().state == "awaiting_exam"
    _close(mine)
    assert exam.close_papers() == 1
    assert _enrollment().state == "awaiting_makeup_confirmation"

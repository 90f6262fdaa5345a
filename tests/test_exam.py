"""测评 (DOMAIN §9): the papers a physician sits, timed attempts that lose nothing, grading,
retries, the order of papers, make-up confirmation and the make-up exam, the deadline with the
browser gone, and every bad input refused with nothing changed."""
import datetime
import json
import re

import pytest

from app.extensions import db
from models import (
    Answer,
    Cycle,
    Enrollment,
    ExamAttempt,
    Paper,
    PaperResult,
    Physician,
    Question,
)
from models import workflow
from tests.conftest import _token_from_session, flashes, post
from tests.helpers import burst, logged_in_clients

NOW = datetime.datetime.now



@pytest.fixture(autouse=True)
def _no_face_verification(province, monkeypatch):
    """These stories are about the paper; 人脸验证 before the start has its own
    (tests/test_proctoring.py)."""
    monkeypatch.setitem(province.config, "FACE_VERIFICATION_REQUIRED", False)


def _enrollment():
    db.session.expire_all()
    return db.session.query(Enrollment).join(Physician).filter(Physician.name == "王医生").one()


def awaiting_exam(procedure):
    """王医生, reviewed and waiting for the exam under ``procedure``."""
    enrollment = _enrollment()
    enrollment.procedure = procedure
    workflow.force(enrollment, "awaiting_exam", reason="test set-up")
    db.session.commit()
    return enrollment


def bank(kind, singles=3, multiples=1, judges=1, category=None):
    """Questions of the bank: each single's answer is A, each multiple's AC, each judge's A."""
    made = []
    for i in range(singles):
        made.append(Question(kind=kind, type="single", stem=f"{kind} 单选 {i} {category}",
                             options=["对的", "错的一", "错的二", "错的三"], answer="A", score=20,
                             practice_category=category))
    for i in range(multiples):
        made.append(Question(kind=kind, type="multiple", stem=f"{kind} 多选 {i} {category}",
                             options=["对一", "错", "对二", "错二"], answer="AC", score=20,
                             practice_category=category))
    for i in range(judges):
        made.append(Question(kind=kind, type="judge", stem=f"{kind} 判断 {i} {category}",
                             options=[], answer="A", score=20, practice_category=category))
    db.session.add_all(made)
    db.session.flush()
    return made


def paper(kind, procedure, questions=None, attempts=1, makeup=False, opens=None, closes=None,
          minutes=30, **draws):
    name = f"{kind}-{procedure}-{draws.pop('category', '')}{'-补考' if makeup else ''}"
    p = Paper(cycle=Cycle.current(), name=name,
              kind=kind, procedure=procedure, is_makeup=makeup,
              opens_at=opens or NOW() - datetime.timedelta(hours=1),
              closes_at=closes or NOW() + datetime.timedelta(days=2),
              duration_minutes=minutes, pass_mark=60, max_attempts=attempts, **draws)
    if questions:
        p.questions = questions
    db.session.add(p)
    db.session.commit()
    return p


def start(client, paper_id):
    response = post(client, f"/me/exams/{paper_id}/start")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    match = re.search(r"/me/exams/attempt/(\d+)$", response.headers["Location"])
    assert match, (response.headers["Location"], flashes(client))
    return int(match.group(1))


def _page(client, attempt_id):
    return client.get(f"/me/exams/attempt/{attempt_id}").get_data(as_text=True)


def answer(client, attempt_id, question_id, response, flagged=False, device=None):
    token = _token_from_session(client)
    body = {"question_id": question_id, "response": response, "flagged": flagged}
    if device:
        body["device"] = device
    return client.post(f"/me/exams/attempt/{attempt_id}/answer", data=json.dumps(body),
                       content_type="application/json", headers={"X-CSRFToken": token})


def answer_all(client, attempt_id, right=True):
    attempt = db.session.get(ExamAttempt, attempt_id)
    for question_id in attempt.question_ids:
        question = db.session.get(Question, question_id)
        response = question.answer if right else ("B" if question.type != "multiple" else "BD")
        assert answer(client, attempt_id, question_id, response).status_code == 200


def hand_in(client, attempt_id):
    return post(client, f"/me/exams/attempt/{attempt_id}/submit")


def _attempt(attempt_id):
    db.session.expire_all()
    return db.session.get(ExamAttempt, attempt_id)


# --- journeys -------------------------------------------------------------------------------


def test_simple_procedure_retries_until_the_paper_is_passed(as_role):
    awaiting_exam("simple")
    humanities = paper("humanities", "simple", bank("humanities"), attempts=20)
    doctor = as_role("physician")
    cards = doctor.get("/me/exams/").get_data(as_text=True)
    assert humanities.name in cards and "剩余20次" in cards and "进入测评" in cards
    notice = doctor.get(f"/me/exams/{humanities.id}/notice").get_data(as_text=True)
    assert "我知晓——开始考试" in notice

    first = start(doctor, humanities.id)
    answer_all(doctor, first, right=False)
    result = hand_in(doctor, first)
    assert result.status_code == 302
    assert _attempt(first).score == 0 and _attempt(first).passed is False
    page = doctor.get(f"/me/exams/attempt/{first}/result").get_data(as_text=True)
    assert "不合格" in page
    assert _enrollment().state == "awaiting_exam"  # 19 attempts left
    assert "剩余19次" in doctor.get("/me/exams/").get_data(as_text=True)

    second = start(doctor, humanities.id)
    assert second != first
    answer_all(doctor, second)
    hand_in(doctor, second)
    assert _attempt(second).score == 100 and _attempt(second).passed
    result = db.session.query(PaperResult).one()
    assert (result.best_score, result.attempts_used, result.passed) == (100, 2, True)
    enrollment = _enrollment()
    assert enrollment.state == "passed" and enrollment.result == "pass"
    assert "已合格" in doctor.get("/me/exams/").get_data(as_text=True)


def test_general_procedure_professional_opens_after_humanities_one_attempt_then_makeup(as_role):
    awaiting_exam("general")
    humanities = paper("humanities", "general", bank("humanities"))
    professional = paper("professional", "general", bank("professional", category="clinical"),
                         category="clinical")
    other = paper("professional", "general", bank("professional", category="dental"),
                  category="dental")
    other.practice_category = "dental"
    professional.practice_category = "clinical"
    db.session.commit()
    doctor = as_role("physician")
    cards = doctor.get("/me/exams/").get_data(as_text=True)
    assert professional.name in cards and "请先通过医学人文测评" in cards
    assert other.name not in cards  # not the physician's category
    refused = post(doctor, f"/me/exams/{professional.id}/start")
    assert refused.status_code == 302 and "请先通过医学人文测评" in flashes(doctor)
    assert db.session.query(ExamAttempt).count() == 0

    attempt = start(doctor, humanities.id)
    answer_all(doctor, attempt)
    hand_in(doctor, attempt)
    assert _enrollment().state == "awaiting_exam"
    attempt = start(doctor, professional.id)
    answer_all(doctor, attempt, right=False)
    hand_in(doctor, attempt)
    assert _enrollment().state == "awaiting_makeup_confirmation"
    again = post(doctor, f"/me/exams/{professional.id}/start")
    assert "当前状态（待确认补考）不能参加考试" in flashes(doctor) and again.status_code == 302

    # 补考管理: the province confirms; the make-up paper decides.
    province = as_role("province")
    listing = province.get("/makeup/list/").get_data(as_text=True)
    assert "王医生" in listing
    assert as_role("district").get("/makeup/list/").status_code == 403
    post(province, "/makeup/action_post", {"action": "confirm_makeup",
                                           "rowid": str(_enrollment().id)})
    assert _enrollment().state == "awaiting_makeup"
    window = next(w for w in Cycle.current().windows if w.kind == "makeup_exam")
    window.start_date = datetime.date.today() - datetime.timedelta(days=1)
    db.session.commit()
    makeup = paper("professional", "general", bank("professional", category="补考"),
                   makeup=True)
    cards = doctor.get("/me/exams/").get_data(as_text=True)
    assert makeup.name in cards and humanities.name not in cards
    attempt = start(doctor, makeup.id)
    answer_all(doctor, attempt)
    hand_in(doctor, attempt)
    assert _enrollment().state == "passed"


def _close(paper_row):
    paper_row.closes_at = NOW() - datetime.timedelta(minutes=1)
    db.session.commit()


def test_a_paper_that_closes_unpassed_moves_the_physician_on(as_role, province):
    """The time of a required paper is over: whoever never sat it (or has an attempt left but
    no time) goes to 待确认补考 when the sweeper runs; an attempt still open is handed in first;
    after a make-up paper, 不合格. A passed paper or another physician's paper moves nobody."""
    from commands import exam
    from models import exam_rules

    awaiting_exam("simple")
    humanities = paper("humanities", "simple", bank("humanities"), attempts=20)
    doctor = as_role("physician")
    assert exam.close_papers() == 0  # open: nothing to do
    attempt = start(doctor, humanities.id)
    _close(humanities)
    # An attempt still open (its deadline later than the paper's close) keeps them waiting.
    assert exam.close_papers() == 0 and _enrollment().state == "awaiting_exam"
    assert exam_rules.settle(_enrollment()) is None  # nor does any other caller move them
    db.session.rollback()
    row = _attempt(attempt)
    row.deadline = NOW() - datetime.timedelta(seconds=1)
    db.session.commit()
    # The sweeper's run (the CLI a timer calls): the attempt handed in, then the time decides.
    output = province.test_cli_runner().invoke(args=["dingkao", "sweep-exams"]).output
    assert "1 attempts handed in" in output
    assert _enrollment().state == "awaiting_makeup_confirmation"
    assert exam.close_papers() == 0  # done once

    # Confirmed for a make-up, the make-up paper closes unsat: 不合格.
    enrollment = _enrollment()
    workflow.apply(enrollment, "makeup_confirmed")
    db.session.commit()
    makeup = paper("humanities", "simple", bank("humanities", category="补考"), makeup=True)
    assert exam.close_papers() == 0
    _close(makeup)
    assert exam.close_papers() == 1
    assert _enrollment().state == "failed" and _enrollment().result == "fail"


def test_a_closed_paper_leaves_the_passed_and_the_exempted_alone(as_role):
    from commands import exam
    from models import Exemption

    enrollment = awaiting_exam("general")
    humanities = paper("humanities", "general", bank("humanities"))
    professional = paper("professional", "general", bank("professional"),
                         closes=NOW() + datetime.timedelta(days=5))
    doctor = as_role("physician")
    attempt = start(doctor, humanities.id)
    answer_all(doctor, attempt)
    hand_in(doctor, attempt)
    _close(humanities)
    assert exam.close_papers() == 0 and _enrollment().state == "awaiting_exam"
    # The professional paper waived (an approved exemption): its close moves nobody either.
    db.session.add(Exemption(enrollment=enrollment, state="pending",
                             condition="test", waived_paper="professional"))
    db.session.flush()
    workflow.force(db.session.query(Exemption).one(), "approved", reason="test set-up")
    db.session.commit()
    _close(professional)
    assert exam.close_papers() == 0 and _enrollment().state == "awaiting_exam"


def test_the_province_declines_a_makeup_with_a_reason(as_role):
    enrollment = awaiting_exam("general")
    workflow.apply(enrollment, "exam_failed")
    db.session.commit()
    province = as_role("province")
    form = province.get(f"/makeup/decline/{enrollment.id}").get_data(as_text=True)
    assert "不予补考 ·" in form and '<label for="reason">原因 *</label>' in form
    empty = post(province, f"/makeup/decline/{enrollment.id}", {"reason": ""})
    assert empty.status_code == 400 and _enrollment().state == "awaiting_makeup_confirmation"
    post(province, f"/makeup/decline/{enrollment.id}", {"reason": "严重违纪"})
    enrollment = _enrollment()
    assert enrollment.state == "failed" and enrollment.result == "fail"
    assert enrollment.reject_reason == "严重违纪"


def test_an_approved_exemption_counts_as_the_waived_paper(as_role):
    """一般程序 with the professional paper waived: the card says 免考 and the humanities paper
    alone decides; 简易程序 with the humanities paper waived has nothing left to sit."""
    from commands import exemption as deciding
    from models import Exemption, StoredFile
    from security import scope
    from tests.test_state_machine import _actor

    enrollment = awaiting_exam("general")
    humanities = paper("humanities", "general", bank("humanities"))
    professional = paper("professional", "general", bank("professional"))
    proof = StoredFile(storage_name="xx/p", original_name="p.pdf", content_type="application/pdf",
                       size=1, sha256="0", purpose="exemption_proof",
                       physician_id=enrollment.physician_id)
    exemption = Exemption(enrollment=enrollment, condition="c", proof=proof, state="pending")
    db.session.add_all([proof, exemption])
    db.session.commit()
    deciding.decide(_actor("NX1008611"), [exemption.id], True)
    deciding.decide(_actor("NX1008600"), [exemption.id], True)
    assert db.session.get(Exemption, exemption.id).waived_paper == "professional"
    doctor = as_role("physician")
    cards = doctor.get("/me/exams/").get_data(as_text=True)
    assert "免考" in cards and professional.name in cards
    attempt = start(doctor, humanities.id)
    answer_all(doctor, attempt)
    hand_in(doctor, attempt)
    assert _enrollment().state == "passed"
    assert scope.current_actor().kind == scope.NOBODY


# --- losing nothing -------------------------------------------------------------------------


def test_a_reload_or_another_device_resumes_the_same_attempt(as_role, province):
    awaiting_exam("simple")
    humanities = paper("humanities", "simple", bank("humanities"), attempts=20)
    doctor = as_role("physician")
    attempt = start(doctor, humanities.id)
    # Chosen by type, not by the (random) drawn order: a judge question has only A and B.
    by_type = {}
    for question_id in _attempt(attempt).question_ids:
        by_type.setdefault(db.session.get(Question, question_id).type, []).append(question_id)
    single, judge = by_type["single"][0], by_type["judge"][0]
    assert answer(doctor, attempt, single, "A").status_code == 200
    assert answer(doctor, attempt, judge, "B", flagged=True).status_code == 200
    deadline = _attempt(attempt).deadline
    page = _page(doctor, attempt)
    # The saved answers come back checked, in the same order, with the time left on the clock.
    order = [int(q) for q in re.findall(r'data-question="(\d+)"', page)]
    assert order == _attempt(attempt).question_ids
    assert page.count("checked") >= 3  # two answers and one flag
    remaining = int(re.search(r'data-remaining="(\d+)"', page).group(1))
    assert 29 * 60 <= remaining <= 30 * 60

    # Another device: the same attempt, the same deadline; the first device is told.
    other = logged_in_clients(province, 1, role="physician")[0]
    assert start(other, humanities.id) == attempt
    assert _attempt(attempt).deadline == deadline
    stale_device = re.search(r'data-device="([^"]+)"', page).group(1)
    stale = answer(doctor, attempt, single, "C", device=stale_device)
    assert stale.status_code == 409 and "其他设备" in stale.get_json()["message"]
    # Told it was taken over even when what it sends would not be a valid answer.
    stale = answer(doctor, attempt, judge, "C", device=stale_device)
    assert stale.status_code == 409 and "其他设备" in stale.get_json()["message"]
    saved = db.session.query(Answer).filter_by(attempt_id=attempt, question_id=single).one()
    assert saved.response == "A"
    assert answer(other, attempt, single, "D").status_code == 200
    assert answer(other, attempt, judge, "C").status_code == 400


def test_the_deadline_hands_in_what_was_saved_with_the_browser_gone(as_role):
    from commands import exam

    awaiting_exam("simple")
    humanities = paper("humanities", "simple", bank("humanities"), attempts=1)
    doctor = as_role("physician")
    attempt = start(doctor, humanities.id)
    questions = _attempt(attempt).question_ids
    for question_id in questions[:3]:
        answer(doctor, attempt, question_id, db.session.get(Question, question_id).answer)
    row = _attempt(attempt)
    row.deadline = NOW() - datetime.timedelta(seconds=1)
    db.session.commit()
    # Nobody asks: the sweeper (the worker's job, or `flask dingkao sweep-exams`) hands it in.
    assert exam.expire_overdue() == 1
    row = _attempt(attempt)
    right = sum(db.session.get(Question, q).score for q in questions[:3])
    assert row.state == "expired" and row.score == right
    assert exam.expire_overdue() == 0
    late = answer(doctor, attempt, questions[4], "A")
    assert late.status_code == 400
    assert db.session.query(Answer).filter_by(attempt_id=attempt).count() == 3


def test_parallel_hand_ins_grade_once(as_role, province):
    awaiting_exam("simple")
    humanities = paper("humanities", "simple", bank("humanities"), attempts=20)
    doctor = as_role("physician")
    attempt = start(doctor, humanities.id)
    answer_all(doctor, attempt)
    device = _attempt(attempt).device
    clients = logged_in_clients(province, 10, role="physician")
    outcomes = burst(province, [(c, f"/me/exams/attempt/{attempt}/submit", {"device": device})
                                for c in clients])
    assert not any(o.server_error for o in outcomes), outcomes
    from models import AuditLog

    hand_ins = db.session.query(AuditLog).filter(AuditLog.entity == "exam_attempt",
                                                 AuditLog.action.in_(("submit", "expire"))).count()
    assert hand_ins == 1
    assert _enrollment().state == "passed"
    assert db.session.query(AuditLog).filter_by(entity="enrollment", action="exam_passed"
                                                ).count() == 1


# --- bad input ------------------------------------------------------------------------------


def test_bad_answers_are_refused_and_change_nothing(as_role):
    awaiting_exam("simple")
    questions = bank("humanities")
    stray = bank("professional", singles=1, multiples=0, judges=0)[0]
    humanities = paper("humanities", "simple", questions, attempts=20)
    doctor = as_role("physician")
    attempt = start(doctor, humanities.id)
    single = next(q for q in questions if q.type == "single")
    assert answer(doctor, attempt, stray.id, "A").status_code == 400
    assert answer(doctor, attempt, single.id, "AB").status_code == 400
    assert answer(doctor, attempt, single.id, "Z").status_code == 400
    assert answer(doctor, attempt, "x", "A").status_code == 400
    assert db.session.query(Answer).count() == 0
    # Someone else's attempt is not found.
    clinic_doctor = as_role("institution")
    assert clinic_doctor.post(f"/me/exams/attempt/{attempt}/answer").status_code in (400, 403)
    hand_in(doctor, attempt)
    after = answer(doctor, attempt, single.id, "A")
    assert after.status_code == 400 and "已交卷" in after.get_json()["message"]
    again = hand_in(doctor, attempt)
    assert again.status_code == 302 and "已交卷" in " ".join(flashes(doctor))


def test_starting_outside_the_papers_time_or_while_another_is_open_is_refused(as_role):
    awaiting_exam("general")
    later = paper("humanities", "general", bank("humanities"),
                  opens=NOW() + datetime.timedelta(hours=2))
    doctor = as_role("physician")
    assert "等待考试开始" in doctor.get("/me/exams/").get_data(as_text=True)
    post(doctor, f"/me/exams/{later.id}/start")
    assert any("等待考试开始" in m for m in flashes(doctor))
    later.opens_at = NOW() - datetime.timedelta(days=2)
    later.closes_at = NOW() - datetime.timedelta(days=1)
    db.session.commit()
    post(doctor, f"/me/exams/{later.id}/start")
    assert any("考试已结束" in m for m in flashes(doctor))
    assert db.session.query(ExamAttempt).count() == 0
    # The cycle's exam window closed: refused even though the paper's own times are open.
    later.opens_at, later.closes_at = NOW() - datetime.timedelta(hours=1), NOW() + \
        datetime.timedelta(hours=1)
    window = next(w for w in Cycle.current().windows if w.kind == "exam")
    window.end_date = datetime.date.today() - datetime.timedelta(days=1)
    db.session.commit()
    post(doctor, f"/me/exams/{later.id}/start")
    assert any("已截止" in m for m in flashes(doctor))
    assert db.session.query(ExamAttempt).count() == 0


def test_a_physician_not_awaiting_the_exam_cannot_start(as_role):
    humanities = paper("humanities", "general", bank("humanities"))
    _enrollment().procedure = "general"
    db.session.commit()
    doctor = as_role("physician")
    post(doctor, f"/me/exams/{humanities.id}/start")
    assert any("不能参加考试" in m for m in flashes(doctor))
    assert db.session.query(ExamAttempt).count() == 0


@pytest.mark.parametrize("drawn", [False, True])
def test_questions_and_options_are_shuffled_per_attempt_and_drawn_from_the_bank(as_role,
                                                                                   drawn):
    awaiting_exam("simple")
    questions = bank("humanities", singles=8, multiples=2, judges=2)
    if drawn:
        humanities = paper("humanities", "simple", attempts=20, draw_single=3,
                           draw_multiple=1, draw_judge=1)
    else:
        humanities = paper("humanities", "simple", questions, attempts=20)
    doctor = as_role("physician")
    orders = set()
    for _ in range(3):
        attempt = start(doctor, humanities.id)
        row = _attempt(attempt)
        assert len(row.question_ids) == (5 if drawn else 12)
        types = [db.session.get(Question, q).type for q in row.question_ids]
        if drawn:
            assert sorted(types) == ["judge", "multiple", "single", "single", "single"]
        orders.add(tuple(row.question_ids))
        hand_in(doctor, attempt)
    assert len(orders) > 1


def test_the_question_bank_refuses_bad_questions(as_role):
    province = as_role("province")
    page = post(province, "/questionview/add", {
        "kind": "humanities", "type": "single", "stem": "新题", "option_a": "甲",
        "option_b": "乙", "answer": "C", "score": "2", "enabled": "y"})
    assert any("不在选项之中" in m for m in flashes(province))
    assert db.session.query(Question).count() == 0
    assert page.status_code == 302
    ok = post(province, "/questionview/add", {
        "kind": "humanities", "type": "single", "stem": "新题", "option_a": "甲",
        "option_b": "乙", "answer": "b", "score": "2", "enabled": "y"})
    assert ok.status_code == 302
    question = db.session.query(Question).one()
    assert question.options == ["甲", "乙"] and question.answer == "B"
    duplicate = post(province, "/questionview/add", {
        "kind": "humanities", "type": "single", "stem": "新题", "option_a": "甲",
        "option_b": "乙", "answer": "A", "score": "2", "enabled": "y"})
    assert any("题库中已有相同的题目" in m for m in flashes(province))
    assert duplicate.status_code == 302 and db.session.query(Question).count() == 1
    assert as_role("city").get("/questionview/list/").status_code == 403


def test_progress_lists_papers_by_procedure_within_scope(as_role):
    awaiting_exam("simple")
    humanities = paper("humanities", "simple", bank("humanities"), attempts=20)
    doctor = as_role("physician")
    attempt = start(doctor, humanities.id)
    answer_all(doctor, attempt)
    hand_in(doctor, attempt)
    hospital = as_role("institution")
    assert "王医生" in hospital.get("/paperresultview/list/").get_data(as_text=True)
    simple = hospital.get("/paperresultview/list/?_flt_0_enrollment=简易程序")
    assert "王医生" in simple.get_data(as_text=True)
    general = hospital.get("/paperresultview/list/?_flt_0_enrollment=一般程序")
    assert "王医生" not in general.get_data(as_text=True)
    clinic = as_role("district")  # 龙华区: the hospital's district sees it
    assert "王医生" in clinic.get("/paperresultview/list/").get_data(as_text=True)
    other = logged_in_clients(hospital.application, 1, username="NX1008622")[0]
    assert "王医生" not in other.get("/paperresultview/list/").get_data(as_text=True)

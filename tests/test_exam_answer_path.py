"""Exam day's hot path (views/exam_answer.py): an answer is saved by one guarded statement, and
accepts nothing the checked view (ExamView.answer) would refuse."""
import datetime
import threading

import pytest
from sqlalchemy import event, select, update
from werkzeug.security import generate_password_hash

from app.extensions import db
from models import Answer, ExamAttempt, Physician
from models.account import AppUser
from tests.conftest import _token_from_session, login
from tests.test_exam import (  # noqa: F401  (_no_face_verification: the autouse fixture)
    _no_face_verification,
    answer,
    awaiting_exam,
    bank,
    hand_in,
    paper,
    start,
)

OTHER_PASSWORD = "Other@2026x"


def _simple_attempt(as_role):
    awaiting_exam("simple")
    questions = bank("humanities")
    humanities = paper("humanities", "simple", questions, attempts=20)
    doctor = as_role("physician")
    return doctor, start(doctor, humanities.id), [q for q in questions if q.type == "single"]


def _statements_of(action):
    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        result = action()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return result, seen


def test_an_answer_is_saved_by_one_statement_without_loading_the_account(as_role):
    doctor, attempt, singles = _simple_attempt(as_role)
    assert answer(doctor, attempt, singles[0].id, "A").status_code == 200  # reads the questions
    response, statements = _statements_of(lambda: answer(doctor, attempt, singles[1].id, "b"))
    assert response.status_code == 200 and response.get_json() == {"ok": True, "response": "B"}
    saves = [s for s in statements if "answer" in s.lower() and "insert" in s.lower()]
    assert len(saves) == 1 and "ab_user" in saves[0], statements
    # The CSRF token's page (GET /account/password) runs its own statements first; the save
    # itself is the last and only one after it.
    assert statements[-1] == saves[0]
    stored = db.session.execute(select(Answer.question_id, Answer.response)
                                .where(Answer.attempt_id == attempt)).all()
    assert sorted(stored) == sorted([(singles[0].id, "A"), (singles[1].id, "B")])


def test_another_physicians_attempt_is_not_found_and_nothing_is_written(as_role, province):
    doctor, attempt, singles = _simple_attempt(as_role)
    assert answer(doctor, attempt, singles[0].id, "A").status_code == 200
    own = db.session.get(ExamAttempt, attempt)
    other = db.session.scalars(select(Physician).where(
        Physician.id != own.enrollment.physician_id,
        Physician.institution_id == own.enrollment.institution_id)).first()
    account = db.session.scalars(select(AppUser).where(AppUser.physician_id == other.id)).one()
    account.password = generate_password_hash(OTHER_PASSWORD, method="pbkdf2:sha256:1000")
    account.must_change_password = False
    account.mobile, account.mobile_bound_at = "13900000001", datetime.datetime.now()
    db.session.commit()
    intruder = province.test_client()
    assert login(intruder, other.id_number, OTHER_PASSWORD, kind="physician").status_code == 302
    # Even with the attempt's own device (read from the page the owner has).
    refused = answer(intruder, attempt, singles[1].id, "B", device=own.device)
    assert refused.status_code == 404
    assert db.session.scalar(select(Answer.response).where(
        Answer.attempt_id == attempt, Answer.question_id == singles[1].id)) is None


def test_a_deactivated_account_saves_nothing(as_role):
    doctor, attempt, singles = _simple_attempt(as_role)
    assert answer(doctor, attempt, singles[0].id, "A").status_code == 200
    own = db.session.get(ExamAttempt, attempt)
    token = _token_from_session(doctor)  # the page open before the account was stopped
    db.session.execute(update(AppUser).where(
        AppUser.physician_id == own.enrollment.physician_id).values(active=False))
    db.session.commit()
    refused = doctor.post(f"/me/exams/attempt/{attempt}/answer", headers={"X-CSRFToken": token},
                          json={"question_id": singles[0].id, "response": "B",
                                "device": own.device})
    assert refused.status_code != 200
    db.session.expire_all()
    assert db.session.scalar(select(Answer.response).where(
        Answer.attempt_id == attempt, Answer.question_id == singles[0].id)) == "A"


def test_refusals_still_answer_with_the_checked_views_reasons(as_role):
    doctor, attempt, singles = _simple_attempt(as_role)
    assert answer(doctor, attempt, singles[0].id, "A").status_code == 200
    taken = answer(doctor, attempt, singles[1].id, "A", device="another-device")
    assert taken.status_code == 409 and taken.get_json()["taken_over"]
    hand_in(doctor, attempt)
    after = answer(doctor, attempt, singles[1].id, "A")
    assert after.status_code == 400 and "已交卷" in after.get_json()["message"]
    assert db.session.query(Answer).filter_by(attempt_id=attempt).count() == 1


def test_a_save_during_a_hand_in_waits_for_it_and_then_writes_nothing(as_role, province):
    """The save waits for a hand-in holding the attempt (as ``commands.exam.submit`` does:
    PostgreSQL's row lock, which the save share-locks; SQLite's write lock, taken by the same
    no-op update as ``commands.lock``) and, once that has committed, finds the attempt handed
    in. Without the wait the answer would land after the grading, never graded."""
    doctor, attempt, singles = _simple_attempt(as_role)
    assert answer(doctor, attempt, singles[0].id, "A").status_code == 200
    question_id = singles[1].id
    db.session.commit()
    outcome = {}

    def save():  # another thread: only plain values from the test's session
        outcome["response"] = answer(doctor, attempt, question_id, "A")

    table = ExamAttempt.__table__
    with db.engine.connect() as hand_in_in_progress:
        hand_in_in_progress.execute(select(table.c.id).where(table.c.id == attempt)
                                    .with_for_update())
        if db.engine.dialect.name == "sqlite":  # the write lock, as commands.lock takes it
            hand_in_in_progress.execute(update(table).where(table.c.id == attempt)
                                        .values(state=table.c.state))
        thread = threading.Thread(target=save)
        thread.start()
        thread.join(1.5)
        assert thread.is_alive(), "the save did not wait for the hand-in's lock"
        hand_in_in_progress.execute(update(table).where(table.c.id == attempt)
                                    .values(state="submitted"))
        hand_in_in_progress.commit()
    thread.join(30)
    response = outcome["response"]
    assert response.status_code == 400 and "已交卷" in response.get_json()["message"]
    assert db.session.scalar(select(Answer.response).where(
        Answer.attempt_id == attempt, Answer.question_id == question_id)) is None


def test_an_answer_without_the_csrf_token_is_refused(as_role):
    """The hot path runs after the CSRF check: a page of another site that posts an answer
    with the physician's cookie but not the token changes nothing."""
    doctor, attempt, singles = _simple_attempt(as_role)
    device = db.session.get(ExamAttempt, attempt).device
    forged = doctor.post(f"/me/exams/attempt/{attempt}/answer",
                         json={"question_id": singles[0].id, "response": "A", "device": device})
    assert forged.status_code == 400
    assert db.session.query(Answer).filter_by(attempt_id=attempt).count() == 0
    assert answer(doctor, attempt, singles[0].id, "A").status_code == 200

"""The paper page's questions, rendered once and kept (views/exam_paper.py): what each attempt
sees is still its own order, its own answers, the question's current text and its language."""
import re

from app.extensions import db
from models import ExamAttempt, Question
from tests.test_exam import (  # noqa: F401  (_no_face_verification: the autouse fixture)
    _no_face_verification,
    _page,
    answer,
    awaiting_exam,
    bank,
    paper,
    start,
)


def _fieldsets(page):
    return {int(q): body for q, body in re.findall(
        r'<fieldset class="dk-question"[^>]*data-question="(\d+)"[^>]*>(.*?)</fieldset>', page,
        re.S)}


def _chosen(body):
    return "".join(sorted(re.findall(r'value="([A-Z])"\s*checked', body)))


def _simple_paper(as_role, **sizes):
    """A physician awaiting the exam (simple procedure) and a humanities paper of a new bank
    (``sizes``: bank's question counts): (client, paper, questions)."""
    awaiting_exam("simple")
    questions = bank("humanities", **sizes)
    humanities = paper("humanities", "simple", questions, attempts=20)
    return as_role("physician"), humanities, questions


def test_each_attempt_sees_its_own_answers_numbers_and_option_order(as_role):
    doctor, humanities, questions = _simple_paper(as_role, singles=3, multiples=2, judges=1)
    attempt_id = start(doctor, humanities.id)
    attempt = db.session.get(ExamAttempt, attempt_id)
    types = {q.id: q.type for q in questions}
    multiple = next(i for i in attempt.question_ids if types[i] == "multiple")
    single = next(i for i in attempt.question_ids if types[i] == "single")
    first = _page(doctor, attempt_id)  # rendered (and kept) before any answer
    assert _chosen(_fieldsets(first)[multiple]) == ""
    assert answer(doctor, attempt_id, multiple, "DB", flagged=True).status_code == 200
    assert answer(doctor, attempt_id, single, "C").status_code == 200
    page = _page(doctor, attempt_id)
    fieldsets = _fieldsets(page)
    assert list(fieldsets) == attempt.question_ids
    assert _chosen(fieldsets[multiple]) == "BD" and _chosen(fieldsets[single]) == "C"
    assert re.search(r'class="flag"\s*checked', fieldsets[multiple])
    assert not re.search(r'class="flag"\s*checked', fieldsets[single])
    assert sum(_chosen(body) != "" for body in fieldsets.values()) == 2
    for number, question_id in enumerate(attempt.question_ids, 1):
        assert re.search(rf"<legend>{number}\. \[", fieldsets[question_id])
        # The options in this attempt's order, each shown under its position's letter.
        shown = re.findall(r'value="([A-Z])"', fieldsets[question_id])
        assert shown == attempt.option_orders[str(question_id)]


def test_an_edited_question_is_shown_as_it_reads_now(as_role):
    doctor, humanities, _questions = _simple_paper(as_role)
    attempt_id = start(doctor, humanities.id)
    question_id = db.session.get(ExamAttempt, attempt_id).question_ids[0]
    assert "<b>改过</b>" not in _page(doctor, attempt_id)
    question = db.session.get(Question, question_id)
    question.stem = question.stem + " <b>改过</b>"
    question.options = ["新的甲", "新的乙", "新的丙", "新的丁"] if question.options else []
    db.session.commit()
    body = _fieldsets(_page(doctor, attempt_id))[question_id]
    assert "&lt;b&gt;改过&lt;/b&gt;" in body  # escaped, and the new text
    if question.options:
        assert "新的甲" in body


def test_the_questions_follow_the_language_chosen(as_role):
    doctor, humanities, _questions = _simple_paper(as_role)
    attempt_id = start(doctor, humanities.id)
    assert "标记" in "".join(_fieldsets(_page(doctor, attempt_id)).values())
    doctor.get("/lang/en")
    english = "".join(_fieldsets(_page(doctor, attempt_id)).values())
    assert "Mark for review" in english and "标记" not in english
    doctor.get("/lang/zh")
    assert "标记" in "".join(_fieldsets(_page(doctor, attempt_id)).values())


def test_two_attempts_of_one_paper_each_see_their_own_option_order(as_role):
    from tests.test_exam import hand_in

    doctor, humanities, _questions = _simple_paper(as_role, singles=4, multiples=2, judges=1)
    orders = []
    for _ in range(2):  # the second attempt after the first is handed in (unanswered)
        attempt_id = start(doctor, humanities.id)
        order = db.session.get(ExamAttempt, attempt_id).option_orders
        for question_id, body in _fieldsets(_page(doctor, attempt_id)).items():
            assert re.findall(r'value="([A-Z])"', body) == order[str(question_id)]
        orders.append(order)
        hand_in(doctor, attempt_id)
    assert orders[0] != orders[1]  # shuffled per attempt (4 singles, 2 multiples)

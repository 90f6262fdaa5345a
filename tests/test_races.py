"""The same action fired many times at once (double clicks, two reviewers, a retried request):
exactly one takes effect, the losers are told, nobody gets a 500, and the state tally the home
pages read still equals a recount of the enrollments.

Each request is a real POST through its own test client, logged in beforehand as the right
account, on its own thread; the threads are released together by a barrier (``burst`` in
tests/helpers.py), each request with its own app context and database session. The database is
the suite's: a SQLite file by default (the threads contend on the one file), PostgreSQL when
TEST_DATABASE_URL is set. After the burst everything is read afresh from the database, and every
broken guarantee is reported together.
"""
import datetime

import pytest

from app.extensions import db
from models import (
    AuditLog,
    Department,
    Enrollment,
    Institution,
    Physician,
    ReviewRecord,
    Submission,
)
from security import idcard
from tests.conftest import post
from tests.helpers import Findings, burst, count_in, fresh, logged_in_clients
from tests.test_enrollment import fill_all_steps
from tests.test_review import _institution_review, _submitted

N = 20
REJECT_REASON = "执业范围填写有误"
ALLOWED = r"已允许报名 (\d+) 人"  # 允许报名's flash: "%(count)s physicians allowed to enroll"


def _wang():
    fresh()
    return db.session.query(Enrollment).join(Physician).filter(Physician.name == "王医生").one()


def _audit(entity, entity_id, *actions):
    return db.session.query(AuditLog).filter(
        AuditLog.entity == entity, AuditLog.entity_id == entity_id,
        AuditLog.action.in_(actions)).order_by(AuditLog.id).all()


# --- 提交 (physician self-service) ---------------------------------------------------------


def test_simultaneous_submits_make_one_submission(province, as_role):
    """20 × POST /me/enroll/submit of 王医生's enrollment, its five steps done: one submission,
    one audit row, 待医疗卫生机构审核, one success and 19 refusals, the tally right."""
    fill_all_steps(as_role("physician"))
    enrollment_id = _wang().id
    clients = logged_in_clients(province, N, "physician")

    outcomes = burst(province, [(client, "/me/enroll/submit", {}) for client in clients])

    found = Findings(outcomes)
    found.expect(not any(o.had_app_context for o in outcomes),
                 "a request thread started inside the test's app context")
    found.no_server_error()
    enrollment = _wang()
    submissions = db.session.query(Submission).filter_by(enrollment_id=enrollment_id).all()
    found.expect(len(submissions) == 1, f"{len(submissions)} Submission rows (versions "
                                        f"{sorted(s.version for s in submissions)})")
    submits = _audit("enrollment", enrollment_id, "submit")
    found.expect(len(submits) == 1, f"{len(submits)} submit audit rows")
    found.expect(enrollment.state == "pending_institution_review" and enrollment.submitted_at,
                 f"state {enrollment.state}, submitted_at {enrollment.submitted_at}")
    winners = [o for o in outcomes if o.location.endswith("/me/enroll/submitted")]
    found.expect(len(winners) == 1, f"{len(winners)} requests were told the submission "
                                    "succeeded")
    found.losers_were_told(winners)
    found.tally_matches_recount()
    found.check()


# --- 程序审核 (institution) and 复核 (assessment institution) --------------------------------


def _decisions(mix):
    """N decisions: all 提交/确认, or approve and reject alternating (10 + 10)."""
    return ["approve" if mix == "approve" or i % 2 == 0 else "reject" for i in range(N)]


def _one_review(outcomes, decisions, stage, enrollment_id, states):
    """Findings for a review burst: one ReviewRecord of ``stage``, one audit row, one success,
    no 500; the state follows the one record's decision (``states``: decision -> (audit
    action, state)). Refused reviews come back as the review page with its error (400)."""
    found = Findings(outcomes)
    found.no_server_error()
    enrollment = db.session.get(Enrollment, enrollment_id)
    records = db.session.query(ReviewRecord).filter_by(enrollment_id=enrollment_id,
                                                       stage=stage).order_by(ReviewRecord.id)
    records = records.all()
    found.expect(len(records) == 1, f"{len(records)} {stage} ReviewRecords, decisions "
                                    f"{[r.decision for r in records]}")
    audits = _audit("enrollment", enrollment_id, *{action for action, _ in states.values()})
    found.expect(len(audits) == 1, f"{len(audits)} audit rows: {[a.action for a in audits]}")
    winners = [o for o in outcomes if not o.server_error and o.status < 400]
    found.expect(len(winners) == 1, f"{len(winners)} requests succeeded (2xx/3xx)")
    found.losers_were_told(winners)
    # The state is the one the *last* record's decision leads to (for a meaningful message
    # even when there are several).
    decision = records[-1].decision if records else None
    if decision is not None:
        action, state = states[decision]
        found.expect(enrollment.state == state,
                     f"state {enrollment.state} after a {decision} ReviewRecord")
        found.expect(not audits or audits[-1].action == action,
                     f"the last audit row says {audits[-1].action if audits else None}, the "
                     f"last ReviewRecord {decision}")
        if len(winners) == 1:
            found.expect(decisions[winners[0].index] == decision,
                         f"the successful request was a {decisions[winners[0].index]}, the "
                         f"ReviewRecord a {decision}")
    else:
        found.expect(False, f"state {enrollment.state} without a ReviewRecord")
    return found, enrollment, decision


@pytest.mark.parametrize("mix", ["approve", "approve+reject"])
def test_simultaneous_institution_reviews_make_one_review(province, as_role, mix):
    """20 × POST /review/<id>/institution by NX1008611: all 提交 (合格/合格), or 10 提交 + 10 驳回
    with a reason. One ReviewRecord (stage institution); 待考核机构复核 or 被机构驳回 to match."""
    _submitted(as_role)
    enrollment_id = _wang().id
    decisions = _decisions(mix)
    clients = logged_in_clients(province, N, "institution")
    form = {"approve": {"decision": "approve", "work_rating": "pass", "ethics_rating": "pass"},
            "reject": {"decision": "reject", "reason": REJECT_REASON}}

    outcomes = burst(province, [(client, f"/review/{enrollment_id}/institution", form[d])
                                for client, d in zip(clients, decisions)])

    found, enrollment, decision = _one_review(outcomes, decisions, "institution", enrollment_id, {
        "approve": ("institution_approve", "pending_assessment_review"),
        "reject": ("institution_reject", "rejected_by_institution")})
    if decision == "approve":
        found.expect((enrollment.work_rating, enrollment.ethics_rating) == ("pass", "pass"),
                     f"ratings {enrollment.work_rating}/{enrollment.ethics_rating}")
        found.expect(enrollment.reject_reason is None,
                     f"approved, yet the reject reason {enrollment.reject_reason!r} is on it")
    elif decision == "reject":
        found.expect(enrollment.reject_reason == REJECT_REASON,
                     f"rejected with reason {enrollment.reject_reason!r}")
    found.tally_matches_recount()
    found.check()


def test_simultaneous_assessment_reviews_make_one_review(province, as_role):
    """20 × POST /review/<id>/assessment by NX1008600 at once, 10 确认 + 10 驳回 with a reason:
    one ReviewRecord (stage assessment); 待参加考核 or 被考核机构驳回 to match; no reject reason
    left on a confirmed one."""
    _submitted(as_role)
    assert _institution_review(as_role("institution")).status_code == 302
    enrollment_id = _wang().id
    decisions = _decisions("approve+reject")
    clients = logged_in_clients(province, N, "assessment")
    form = {"approve": {"decision": "approve"},
            "reject": {"decision": "reject", "reason": REJECT_REASON}}

    outcomes = burst(province, [(client, f"/review/{enrollment_id}/assessment", form[d])
                                for client, d in zip(clients, decisions)])

    found, enrollment, decision = _one_review(outcomes, decisions, "assessment", enrollment_id, {
        "approve": ("assessment_confirm", "awaiting_exam"),
        "reject": ("assessment_reject", "returned_by_assessment")})
    if decision == "approve":
        found.expect(enrollment.reject_reason is None,
                     f"confirmed, yet the reject reason {enrollment.reject_reason!r} is on it")
    elif decision == "reject":
        found.expect(enrollment.reject_reason == REJECT_REASON,
                     f"rejected with reason {enrollment.reject_reason!r}")
    found.tally_matches_recount()
    found.check()


# --- 允许报名 and 重新纳入 (institution's roster) --------------------------------------------


def _hospital():
    return db.session.query(Institution).filter_by(account="NX1008611").one()


def _not_yet_included(hospital_client, count):
    """Ids of ``count`` physicians of 演示市第一人民医院 not in the cycle; the demo has four, the
    others are added through 新增医师."""
    hospital = _hospital()
    enrolled = db.session.query(Enrollment.physician_id)
    physicians = db.session.query(Physician).filter(
        Physician.institution_id == hospital.id, ~Physician.id.in_(enrolled)).order_by(
        Physician.id).limit(count).all()
    department = db.session.query(Department).filter_by(institution_id=hospital.id,
                                                        name="外科").one()
    for sequence in range(700, 700 + count - len(physicians)):
        number = idcard.make("460100", datetime.date(1980, 6, 1), sequence)
        response = post(hospital_client, "/physicianview/add", {
            "name": f"并发{sequence}", "id_number": number, "gender": "male",
            "department": str(department.id), "practice_category": "clinical",
            "level": "physician", "certificate_no": f"1104606{sequence:08d}",
            "qualification_no": f"2007460{sequence:08d}"})
        assert response.status_code == 302, response.get_data(as_text=True)[-800:]
        physicians.append(db.session.query(Physician).filter_by(id_number=number).one())
    return [p.id for p in physicians]


@pytest.mark.parametrize("copies", [2, 10])
def test_the_same_allow_enrollment_batch_at_once_includes_each_physician_once(
        province, as_role, copies):
    """``copies`` × 允许报名 (POST /physicianview/action_post, action=allow_enrollment) of the
    same 5 physicians not yet included: one Enrollment and one audit row per physician, no 500
    (a unique-constraint IntegrityError is one), every client told, the tally right."""
    ids = _not_yet_included(as_role("institution"), 5)
    clients = logged_in_clients(province, copies, "institution")
    form = {"action": "allow_enrollment", "rowid": [str(i) for i in ids]}

    outcomes = burst(province, [(client, "/physicianview/action_post", form)
                                for client in clients])

    found = Findings(outcomes)
    found.no_server_error()
    per_physician = {pid: db.session.query(Enrollment).filter_by(physician_id=pid).count()
                     for pid in ids}
    found.expect(set(per_physician.values()) == {1},
                 f"Enrollments per physician: {per_physician}")
    states = {e.state for e in db.session.query(Enrollment).filter(
        Enrollment.physician_id.in_(ids))}
    found.expect(states == {"pending_enrollment"}, f"states {states}")
    audits = {pid: len(_audit("physician", pid, "allow_enrollment")) for pid in ids}
    found.expect(set(audits.values()) == {1},
                 f"allow_enrollment audit rows per physician: {audits}")
    found.tally_matches_recount()
    found.losers_were_told([])  # every client gets a message, the winner included
    reported = count_in(ALLOWED, [m for o in outcomes for m in o.messages])
    found.expect(reported == len(ids), f"the messages report {reported} physicians included, "
                                       f"not {len(ids)}")
    found.check()


@pytest.mark.parametrize("copies", [2, 10])
def test_reinclude_at_once_reincludes_the_cancelled_enrollment_once(province, as_role, copies):
    """``copies`` × 允许报名 of one physician whose enrollment was cancelled (重新纳入): the
    enrollment is 待报名 again, one reinclude audit row, no 500, the tally right."""
    hospital_client = as_role("institution")
    enrollment = db.session.query(Enrollment).join(Physician).filter(
        Physician.name != "王医生", Enrollment.state == "pending_enrollment",
        Enrollment.institution_id == _hospital().id).order_by(Enrollment.id).first()
    enrollment_id, physician_id = enrollment.id, enrollment.physician_id
    cancelled = post(hospital_client, f"/physicianview/cancel/{physician_id}", {"reason": "离职"})
    assert cancelled.status_code == 302
    assert db.session.get(Enrollment, enrollment_id).state == "cancelled"
    clients = logged_in_clients(province, copies, "institution")
    form = {"action": "allow_enrollment", "rowid": str(physician_id)}

    outcomes = burst(province, [(client, "/physicianview/action_post", form)
                                for client in clients])

    found = Findings(outcomes)
    found.no_server_error()
    enrollment = db.session.get(Enrollment, enrollment_id)
    found.expect(enrollment.state == "pending_enrollment", f"state {enrollment.state}")
    count = db.session.query(Enrollment).filter_by(physician_id=physician_id).count()
    found.expect(count == 1, f"{count} Enrollments of the physician")
    reincludes = _audit("enrollment", enrollment_id, "reinclude")
    found.expect(len(reincludes) == 1, f"{len(reincludes)} reinclude audit rows")
    found.tally_matches_recount()
    found.losers_were_told([])
    reported = count_in(ALLOWED, [m for o in outcomes for m in o.messages])
    found.expect(reported == 1, f"the messages report {reported} physicians included, not 1")
    found.check()


# --- 执业信息 (physician) and 编辑 (institution) changing the same department -----------------


def test_physician_and_institution_changing_his_department_at_once(province, as_role):
    """10 × 王医生 saving 执业信息 (step 2) with 外科 and 10 × his institution's 编辑 of him
    with 内科, all at once (each takes him from the other's). Each path writes the physician's
    row and, through the department trigger, his enrollments: without one lock order (the
    physician's row first) PostgreSQL finds a deadlock and kills one of the two (a 500). No
    500; the enrollment's department is the physician's."""
    fill_all_steps(as_role("physician"))
    wang = _wang().physician
    hospital = wang.institution_id
    surgery, medicine = (db.session.query(Department).filter_by(
        institution_id=hospital, name=name).one().id for name in ("外科", "内科"))
    subject = db.session.get(Department, surgery).subjects[0].id
    step2 = {"department_id": str(surgery), "specialties": str(subject),
             "title": "intermediate", "title_date": "2019-09-01", "level": "physician",
             "is_trainee": "no", "practice_category": "clinical", "practice_scope": "外科专业",
             "employment": "employed", "first_registration_date": "2008-07-01",
             "licence_kind": "electronic", "next": "1"}
    edit = {"name": wang.name, "gender": wang.gender, "id_type": wang.id_type or "resident_id",
            "department": str(medicine), "practice_category": wang.practice_category,
            "level": wang.level, "certificate_no": wang.certificate_no or "110460100000001",
            "qualification_no": wang.qualification_no or "200746010000001"}
    physicians = logged_in_clients(province, 10, "physician")
    staff = logged_in_clients(province, 10, "institution")
    jobs = [job for pair in zip(
        [(client, "/me/enroll/2", step2) for client in physicians],
        [(client, f"/physicianview/edit/{wang.id}", edit) for client in staff]) for job in pair]

    outcomes = burst(province, jobs)

    found = Findings(outcomes)
    found.no_server_error()
    for outcome in outcomes:
        found.expect(outcome.status == 302, f"request {outcome.index}: {outcome.status}")
    enrollment = _wang()
    found.expect(enrollment.physician.department_id in (surgery, medicine),
                 f"department {enrollment.physician.department_id}")
    found.expect(enrollment.department_id == enrollment.physician.department_id,
                 f"enrollment's department {enrollment.department_id}, the physician's "
                 f"{enrollment.physician.department_id}")
    found.check()

"""Schedule windows (DOMAIN §2): every windowed action is refused before its window opens and
after it closes — through the views, with nothing changed and a message naming the window —
and, as the control, goes through while the window is open.

Each test moves one window of the demo's current cycle in the database (``place_window``):
entirely in the future ("before"), entirely in the past ("after") or around today ("open"). The
states the actions start from are reached through the views while every window is open.

The exam and make-up exam windows have no action yet and are not tested here.
"""

import pytest

from app.extensions import db
from models import (
    ApplicationAttachment,
    AssessmentApplication,
    Enrollment,
    Exemption,
    Experience,
    Institution,
    Physician,
    ReviewRecord,
    StoredFile,
    Submission,
)
from tests.conftest import post
from tests.helpers import clear_flashes, fresh, place_window, shows_window, told
from tests.test_application import PDF, _login_clinic, _open_for_clinic, _upload
from tests.test_enrollment import _post, fill_all_steps
from tests.test_exemption import _apply, _approved_enrollment
from tests.test_review import _institution_review, _submitted

WHEN = ["before", "open", "after"]


def _wang():
    fresh()
    return db.session.query(Enrollment).join(Physician).filter(Physician.name == "王医生").one()


def _refused(client, response, window, what):
    """The action was refused with a message naming the window's dates (no 500)."""
    messages = told(client, response)
    assert response.status_code < 500, what
    assert any(shows_window(m, *window) for m in messages), (
        f"{what}: no message naming the window {window[0]} ~ {window[1]}; told {messages}, "
        f"status {response.status_code}")


def _accepted(client, response, what):
    clear_flashes(client)
    assert response.status_code in (200, 302), (what, response.status_code,
                                                response.get_data(as_text=True)[-800:])


# --- 考核机构申请 (assessment_application) --------------------------------------------------


@pytest.mark.parametrize("when", WHEN)
def test_assessment_application_window(as_role, when):
    """Upload an attachment and 提交申请 (/institution/application/…), the four required
    attachments already uploaded while the window was open."""
    _open_for_clinic(as_role)
    clinic = _login_clinic()
    for slot in (1, 2, 3, 4):
        assert _upload(clinic, slot, PDF, f"附件{slot}.pdf").status_code == 302
    clear_flashes(clinic)
    window = place_window("assessment_application", when)
    files, attachments = db.session.query(StoredFile).count(), \
        db.session.query(ApplicationAttachment).count()

    upload = _upload(clinic, 5, PDF, "其他材料.pdf")
    submit = post(clinic, "/institution/application/submit")

    fresh()
    application = db.session.query(AssessmentApplication).one()
    if when == "open":
        _accepted(clinic, upload, "upload")
        _accepted(clinic, submit, "submit")
        assert db.session.query(ApplicationAttachment).count() == attachments + 1
        assert application.state == "submitted"
        return
    _refused(clinic, upload, window, "upload")
    _refused(clinic, submit, window, "submit")
    assert db.session.query(StoredFile).count() == files
    assert db.session.query(ApplicationAttachment).count() == attachments
    assert application.state == "draft" and application.submitted_at is None


# --- 医师报名 (enrollment): the physician's steps and 提交 ------------------------------------


@pytest.mark.parametrize("when", WHEN)
def test_enrollment_window_physician_steps_and_submit(as_role, when):
    """Save step 1 (基本信息), add a step 3 row (相关经历) and 提交 (/me/enroll/…), the five
    steps done while the window was open."""
    doctor = as_role("physician")
    fill_all_steps(doctor)
    clear_flashes(doctor)
    window = place_window("enrollment", when)
    physician_id = _wang().physician_id
    experiences = db.session.query(Experience).filter_by(physician_id=physician_id).count()

    step1 = _post(doctor, "/me/enroll/1", {
        "gender": "male", "ethnicity": "回族", "birth_date": "1985-03-12", "education": "本科",
        "email": "wang@example.com", "mobile": "13900000001"})
    step1_told = told(doctor, step1)
    step3 = _post(doctor, "/me/enroll/3", {
        "kind": "practice", "organisation": "演示市第二人民医院", "start_date": "2010-01-01",
        "end_date": "2012-01-01", "save": "1"})
    step3_told = told(doctor, step3)
    submit = _post(doctor, "/me/enroll/submit")

    enrollment = _wang()
    physician = db.session.get(Physician, physician_id)
    now_experiences = db.session.query(Experience).filter_by(physician_id=physician_id).count()
    submissions = db.session.query(Submission).filter_by(enrollment_id=enrollment.id).count()
    if when == "open":
        assert step1.status_code == step3.status_code == 302
        assert physician.ethnicity == "回族" and now_experiences == experiences + 1
        assert submit.headers["Location"].endswith("/me/enroll/submitted")
        assert enrollment.state == "pending_institution_review" and submissions == 1
        return
    for what, messages in (("step 1", step1_told), ("step 3", step3_told)):
        assert any(shows_window(m, *window) for m in messages), (what, messages)
    _refused(doctor, submit, window, "submit")
    assert physician.ethnicity == "汉族" and now_experiences == experiences
    assert enrollment.state == "pending_enrollment" and enrollment.submitted_at is None
    assert submissions == 0


# --- 医师报名 (enrollment): the institution's 允许报名 and 重新纳入 ----------------------------


@pytest.mark.parametrize("when", WHEN)
def test_enrollment_window_roster_include(as_role, when):
    """允许报名 (POST /physicianview/action_post, action=allow_enrollment) of a physician not yet
    included, and of one whose enrollment was cancelled (重新纳入). Today only the end of the
    window is checked: "before" is expected to fail until the command layer checks both."""
    hospital_client = as_role("institution")
    hospital = db.session.query(Institution).filter_by(account="NX1008611").one()
    enrolled = db.session.query(Enrollment.physician_id)
    newcomer = db.session.query(Physician).filter(
        Physician.institution_id == hospital.id, ~Physician.id.in_(enrolled)).order_by(
        Physician.id).first()
    cancelled = db.session.query(Enrollment).join(Physician).filter(
        Physician.name != "王医生", Enrollment.state == "pending_enrollment",
        Enrollment.institution_id == hospital.id).order_by(Enrollment.id).first()
    newcomer_id, cancelled_id = newcomer.id, cancelled.id
    cancelled_physician_id = cancelled.physician_id
    assert post(hospital_client, f"/physicianview/cancel/{cancelled_physician_id}",
                {"reason": "离职"}).status_code == 302
    clear_flashes(hospital_client)
    window = place_window("enrollment", when)

    include = post(hospital_client, "/physicianview/action_post",
                   {"action": "allow_enrollment", "rowid": str(newcomer_id)})
    include_told = told(hospital_client, include)
    reinclude = post(hospital_client, "/physicianview/action_post",
                     {"action": "allow_enrollment", "rowid": str(cancelled_physician_id)})

    fresh()
    included = db.session.query(Enrollment).filter_by(physician_id=newcomer_id).count()
    state = db.session.get(Enrollment, cancelled_id).state
    if when == "open":
        assert include.status_code == reinclude.status_code == 302
        assert included == 1 and state == "pending_enrollment"
        return
    assert include.status_code < 500 and reinclude.status_code < 500
    assert (included, state) == (0, "cancelled"), (
        f"the window {window[0]} ~ {window[1]} is {when}, yet 允许报名 included the physician "
        f"({included} enrollment) and the cancelled enrollment is now {state}; told "
        f"{include_told}")
    assert any(shows_window(m, *window) for m in include_told), include_told
    _refused(hospital_client, reinclude, window, "reinclude")


# --- 报名审核 (enrollment_review): 程序审核 and 复核 -----------------------------------------


@pytest.mark.parametrize("when", WHEN)
def test_enrollment_review_window(as_role, when):
    """The institution's 提交 and 驳回 (/review/<id>/institution) and 批量提交 (/review/batch) of
    a submitted enrollment, then the assessment institution's 确认 and 驳回
    (/review/<id>/assessment) of one the institution submitted while the window was open."""
    _submitted(as_role)
    hospital = as_role("institution")
    assessor = as_role("assessment")
    enrollment_id = _wang().id
    window = place_window("enrollment_review", when)

    approve = _institution_review(hospital)
    if when == "open":
        _accepted(hospital, approve, "institution approve")
        assert _wang().state == "pending_assessment_review"
        confirm = post(assessor, f"/review/{enrollment_id}/assessment", {"decision": "approve"})
        _accepted(assessor, confirm, "assessment confirm")
        assert _wang().state == "awaiting_exam"
        return
    _refused(hospital, approve, window, "institution approve")
    reject = _institution_review(hospital, decision="reject", reason="材料不全")
    _refused(hospital, reject, window, "institution reject")
    batch = post(hospital, "/review/batch", {"rowid": str(enrollment_id), "work_rating": "pass",
                                             "ethics_rating": "pass", "procedure": "general"})
    _refused(hospital, batch, window, "batch review")
    enrollment = _wang()
    assert enrollment.state == "pending_institution_review"
    assert enrollment.work_rating is None and enrollment.reject_reason is None
    assert db.session.query(ReviewRecord).filter_by(enrollment_id=enrollment_id).count() == 0

    place_window("enrollment_review", "open")
    assert _institution_review(hospital).status_code == 302
    clear_flashes(hospital)
    window = place_window("enrollment_review", when)
    confirm = post(assessor, f"/review/{enrollment_id}/assessment", {"decision": "approve"})
    _refused(assessor, confirm, window, "assessment confirm")
    reject = post(assessor, f"/review/{enrollment_id}/assessment",
                  {"decision": "reject", "reason": "补充材料"})
    _refused(assessor, reject, window, "assessment reject")
    enrollment = _wang()
    assert enrollment.state == "pending_assessment_review" and enrollment.reject_reason is None
    assert db.session.query(ReviewRecord).filter_by(enrollment_id=enrollment_id,
                                                    stage="assessment").count() == 0


# --- 免考申请 (exemption_application) ---------------------------------------------------------


@pytest.mark.parametrize("when", WHEN)
def test_exemption_application_window(as_role, when):
    """免考申请 (POST /me/exemption with a condition and proof) once the enrollment is approved."""
    doctor = _approved_enrollment(as_role)
    clear_flashes(doctor)
    window = place_window("exemption_application", when)
    files = db.session.query(StoredFile).count()

    response = _apply(doctor)

    fresh()
    if when == "open":
        _accepted(doctor, response, "apply")
        assert db.session.query(Exemption).one().state == "pending"
        return
    _refused(doctor, response, window, "apply")
    assert db.session.query(Exemption).count() == 0
    assert db.session.query(StoredFile).count() == files


# --- 免考审核 (exemption_review) -------------------------------------------------------------


def _exemption():
    fresh()
    return db.session.query(Exemption).one()


@pytest.mark.parametrize("when", WHEN)
def test_exemption_review_window(as_role, when):
    """The institution's 审核通过 (/exemptionview/action_post, action=approve) and 驳回
    (/exemptionview/reject/<id>), then the assessment institution's 审核通过 of one the
    institution approved while the window was open."""
    doctor = _approved_enrollment(as_role)
    assert _apply(doctor).status_code == 302
    hospital = as_role("institution")
    assessor = as_role("assessment")
    exemption_id = _exemption().id
    window = place_window("exemption_review", when)

    approve = post(hospital, "/exemptionview/action_post",
                   {"action": "approve", "rowid": str(exemption_id)})
    if when == "open":
        _accepted(hospital, approve, "institution approve")
        assert _exemption().state == "pending_assessment"
        confirm = post(assessor, "/exemptionview/action_post",
                       {"action": "approve", "rowid": str(exemption_id)})
        _accepted(assessor, confirm, "assessment approve")
        assert _exemption().state == "approved"
        return
    _refused(hospital, approve, window, "institution approve")
    reject = post(hospital, f"/exemptionview/reject/{exemption_id}", {"reason": "证明材料不清晰"})
    _refused(hospital, reject, window, "institution reject")
    exemption = _exemption()
    assert exemption.state == "pending" and exemption.reject_reason is None
    assert exemption.decided_at is None

    place_window("exemption_review", "open")
    post(hospital, "/exemptionview/action_post", {"action": "approve", "rowid": str(exemption_id)})
    assert _exemption().state == "pending_assessment"
    clear_flashes(hospital)
    window = place_window("exemption_review", when)
    confirm = post(assessor, "/exemptionview/action_post",
                   {"action": "approve", "rowid": str(exemption_id)})
    _refused(assessor, confirm, window, "assessment approve")
    reject = post(assessor, f"/exemptionview/reject/{exemption_id}", {"reason": "证明材料不清晰"})
    _refused(assessor, reject, window, "assessment reject")
    exemption = _exemption()
    assert exemption.state == "pending_assessment" and exemption.waived_paper is None
    assert exemption.reject_reason is None

"""Reviews (DOMAIN §6-7): institution review, assessment re-review, rejections at each level,
resubmission with the changes shown, and refused transitions."""
import io

from app.extensions import db
from models import AuditLog, Enrollment, Institution, Physician
from tests.conftest import flashes, post
from tests.test_enrollment import _post, fill_all_steps


def _enrollment():
    db.session.expire_all()
    return db.session.query(Enrollment).join(Physician).filter(Physician.name == "王医生").one()


def _submitted(as_role, procedure="general"):
    doctor = as_role("physician")
    fill_all_steps(doctor, procedure)
    assert _post(doctor, "/me/enroll/submit").status_code == 302
    return doctor


def _institution_review(client, decision="approve", work="pass", ethics="pass", reason=""):
    return post(client, f"/review/{_enrollment().id}/institution", {
        "decision": decision, "work_rating": work, "ethics_rating": ethics, "reason": reason})


def test_happy_path_general_procedure(as_role):
    _submitted(as_role)
    hospital = as_role("institution")
    listing = hospital.get("/review/?procedure=general").get_data(as_text=True)
    assert "王医生" in listing
    assert f'href="/review/{_enrollment().id}">审核</a>' in listing  # the row's 审核 link
    # The submission page by page (002 2.2.7): 相关经历 with 执业信息, eligibility on the last.
    practice = hospital.get(f"/review/{_enrollment().id}?step=2").get_data(as_text=True)
    last = hospital.get(f"/review/{_enrollment().id}?step=3").get_data(as_text=True)
    assert "海南医学院" in practice and 'id="eligibility"' in last
    assert _institution_review(hospital).status_code == 302
    assert _enrollment().state == "pending_assessment_review"
    assessor = as_role("assessment")
    assert "王医生" in assessor.get("/review/?stage=assessment&procedure=general").get_data(
        as_text=True)
    post(assessor, f"/review/{_enrollment().id}/assessment", {"decision": "approve"})
    assert _enrollment().state == "awaiting_exam"
    assert "报名完成-等待测评" in as_role("physician").get("/me/").get_data(as_text=True)
    actions = [a.action for a in db.session.query(AuditLog).filter_by(
        entity="enrollment", entity_id=_enrollment().id).order_by(AuditLog.id)]
    assert actions == ["submit", "institution_approve", "assessment_confirm"]


def test_simple_procedure_unqualified_rating_fails_the_cycle(as_role):
    _submitted(as_role, "simple")
    hospital = as_role("institution")
    assert "王医生" in hospital.get("/review/?procedure=simple").get_data(as_text=True)
    _institution_review(hospital, ethics="fail")
    post(as_role("assessment"), f"/review/{_enrollment().id}/assessment", {"decision": "approve"})
    enrollment = _enrollment()
    assert enrollment.state == "failed" and enrollment.result == "fail"


def test_institution_rejection_then_resubmission_shows_what_changed(as_role):
    doctor = _submitted(as_role)
    hospital = as_role("institution")
    no_reason = _institution_review(hospital, decision="reject")
    assert no_reason.status_code == 400 and "请填写原因" in no_reason.get_data(as_text=True)
    _institution_review(hospital, decision="reject", reason="执业范围填写有误")
    assert _enrollment().state == "rejected_by_institution"
    home = doctor.get("/me/").get_data(as_text=True)
    assert "待报名（被机构驳回）" in home and "执业范围填写有误" in home
    step2 = doctor.get("/me/enroll/2")
    assert step2.status_code == 200
    form = {k: v for k, v in {
        "department_id": str(_enrollment().physician.department_id),
        "specialties": str(_enrollment().physician.specialties[0].id), "title": "intermediate",
        "level": "physician", "is_trainee": "no", "practice_category": "clinical",
        "practice_scope": "内科、全科医学专业", "employment": "employed",
        "first_registration_date": "2008-07-01", "licence_kind": "electronic"}.items()}
    assert _post(doctor, "/me/enroll/2", form).status_code == 302
    assert _post(doctor, "/me/enroll/submit").status_code == 302
    assert _enrollment().state == "pending_institution_review"
    detail = hospital.get(f"/review/{_enrollment().id}").get_data(as_text=True)
    changes = detail[detail.index('id="changes"'):]
    assert "执业范围" in changes and "内科专业" in changes and "内科、全科医学专业" in changes


def test_a_resubmission_with_a_new_photo_shows_the_old_and_the_new_picture(as_role):
    from models import StoredFile, Submission
    from tests.test_enrollment import _jpeg

    doctor = _submitted(as_role)
    hospital = as_role("institution")
    _institution_review(hospital, decision="reject", reason="照片不清晰")
    old_photo = _enrollment().physician.photo_id
    step1 = {"gender": "male", "ethnicity": "汉族", "birth_date": "1985-03-12",
             "education": "本科", "email": "wang@example.com", "mobile": "13900000001",
             "next": "1"}
    assert _post(doctor, "/me/enroll/1", step1,
                 {"photo": (io.BytesIO(_jpeg((360, 500))), "new.jpg")}).status_code == 302
    assert _post(doctor, "/me/enroll/submit").status_code == 302
    new_photo = _enrollment().physician.photo_id
    assert new_photo != old_photo
    detail = hospital.get(f"/review/{_enrollment().id}").get_data(as_text=True)
    changes = detail[detail.index('id="changes"'):detail.index('id="review-steps"')]
    row = changes[changes.index('class="image-change"'):]
    before = row[row.index('class="image-before"'):row.index('class="image-after"')]
    after = row[row.index('class="image-after"'):]
    assert f"/files/{old_photo}" in before and f"/files/{new_photo}" not in before
    assert f"/files/{new_photo}" in after
    assert hospital.get(f"/files/{old_photo}").status_code == 200
    # Below it, the 照片 of page 1 is the current one only.
    current = detail[detail.index('id="review-steps"'):]
    thumb = _enrollment().physician.photo_thumb_id
    assert current.count('class="review-file"') == 1 and f"/files/{thumb}" in current
    # Unchanged kinds (the licence) are not listed; a submission made before images were kept
    # shows no picture row and no error.
    assert changes.count('class="image-change"') == 1
    for submission in db.session.query(Submission).all():
        submission.images = None
    db.session.commit()
    detail = hospital.get(f"/review/{_enrollment().id}").get_data(as_text=True)
    assert 'class="image-change"' not in detail and "照片" in detail
    assert db.session.get(StoredFile, old_photo) is not None


def test_assessment_rejection_returns_to_the_institution(as_role):
    _submitted(as_role)
    hospital = as_role("institution")
    _institution_review(hospital)
    post(as_role("assessment"), f"/review/{_enrollment().id}/assessment",
         {"decision": "reject", "reason": "职业道德评定依据不足"})
    assert _enrollment().state == "returned_by_assessment"
    listing = hospital.get("/review/?procedure=general").get_data(as_text=True)
    assert "待医疗卫生机构审核（被考核机构驳回）" in listing
    _institution_review(hospital)
    assert _enrollment().state == "pending_assessment_review"


def test_administration_rejects_after_review(as_role):
    _submitted(as_role)
    _institution_review(as_role("institution"))
    district = as_role("district")
    post(district, f"/enrollmentview/reject/{_enrollment().id}", {"reason": "不属于本周期考核对象"})
    enrollment = _enrollment()
    assert enrollment.state == "rejected_by_administration"
    assert "待报名（被行政机构驳回）" in as_role("physician").get("/me/").get_data(as_text=True)


def test_illegal_transitions_are_refused(as_role):
    _submitted(as_role)
    hospital = as_role("institution")
    assessor = as_role("assessment")
    early = post(assessor, f"/review/{_enrollment().id}/assessment", {"decision": "approve"})
    assert early.status_code == 400 and "不在待考核机构复核状态" in early.get_data(as_text=True)
    _institution_review(hospital)
    twice = _institution_review(hospital)
    assert twice.status_code == 400
    assert "不在待医疗卫生机构审核状态" in twice.get_data(as_text=True)
    assert _enrollment().state == "pending_assessment_review"


def test_review_needs_an_assigned_assessment_institution(as_role):
    _submitted(as_role)
    hospital = db.session.query(Institution).filter_by(account="NX1008611").one()
    hospital.assessment_institution_id = None
    db.session.commit()
    client = as_role("institution")
    refused = _institution_review(client)
    assert refused.status_code == 400
    assert "当前机构暂未指定考核机构，无法进行此操作，请联系龙华区卫生健康委员会" in refused.get_data(
        as_text=True)
    assert _enrollment().state == "pending_institution_review"


def test_another_institutions_reviewer_gets_404(as_role):
    _submitted(as_role)
    from flask import current_app
    from tests.conftest import login

    clinic = current_app.test_client()
    login(clinic, "NX1008622")
    assert clinic.get(f"/review/{_enrollment().id}").status_code == 404
    assert post(clinic, f"/review/{_enrollment().id}/institution",
                {"decision": "approve"}).status_code == 404


def test_batch_review_submits_several_physicians(as_role):
    _submitted(as_role)
    hospital = as_role("institution")
    post(hospital, "/review/batch", {"rowid": str(_enrollment().id), "work_rating": "pass",
                                     "ethics_rating": "pass", "procedure": "general"})
    assert "已提交1名医师的审核意见" in flashes(hospital)
    assert _enrollment().state == "pending_assessment_review"


def test_the_state_tally_follows_every_transition(as_role):
    """Home pages read the tally: after include, cancel, submit, reviews and a rejection it
    still equals a recount of the enrollments."""
    from sqlalchemy import func

    from models import EnrollmentTally

    def tally():
        db.session.expire_all()
        return {(t.institution_id, t.state): t.count
                for t in db.session.query(EnrollmentTally) if t.count}

    def recount():
        return {(i, s): n for i, s, n in db.session.query(
            Enrollment.institution_id, Enrollment.state, func.count(Enrollment.id)
        ).group_by(Enrollment.institution_id, Enrollment.state)}

    assert tally() == recount()
    _submitted(as_role)
    hospital = as_role("institution")
    _institution_review(hospital)
    post(as_role("assessment"), f"/review/{_enrollment().id}/assessment",
         {"decision": "reject", "reason": "补充材料"})
    other = db.session.query(Enrollment).join(Physician).filter(
        Physician.name != "王医生", Enrollment.state == "pending_enrollment",
        Enrollment.institution.has(account="NX1008611")).first()
    post(hospital, f"/physicianview/cancel/{other.physician_id}", {"reason": "离职"})
    post(hospital, "/physicianview/action_post", {"action": "allow_enrollment",
                                                  "rowid": str(other.physician_id)})
    assert tally() == recount()
    assert tally()[(_enrollment().institution_id, "returned_by_assessment")] == 1


def test_other_institutions_opinion_is_added_by_the_reviewing_institution(as_role):
    _submitted(as_role)
    hospital = as_role("institution")
    empty = post(hospital, f"/review/{_enrollment().id}/opinion", {"institution_name": "",
                                                                   "opinion": ""})
    assert empty.status_code == 400
    post(hospital, f"/review/{_enrollment().id}/opinion",
         {"institution_name": "美兰区阳光口腔诊所", "opinion": "多点执业期间表现良好"})
    detail = hospital.get(f"/review/{_enrollment().id}?step=3").get_data(as_text=True)
    assert "多点执业期间表现良好" in detail
    assessor = as_role("assessment")
    refused = post(assessor, f"/review/{_enrollment().id}/opinion",
                   {"institution_name": "某院", "opinion": "意见"})
    assert refused.status_code == 404 and len(_enrollment().other_opinions) == 1

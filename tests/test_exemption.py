"""免考申请 and 免考审核 (DOMAIN §8, manual 002 2.2.8)."""
import io

from app.extensions import db
from models import Exemption
from tests.conftest import flashes, post
from tests.test_enrollment import _jpeg, _post
from tests.test_review import _enrollment, _institution_review, _submitted


def _approved_enrollment(as_role, procedure="general"):
    doctor = _submitted(as_role, procedure)
    _institution_review(as_role("institution"))
    post(as_role("assessment"), f"/review/{_enrollment().id}/assessment", {"decision": "approve"})
    assert _enrollment().state == "awaiting_exam"
    return doctor


def _apply(doctor, condition="本周期内取得高一级专业技术职务任职资格"):
    return _post(doctor, "/me/exemption", {"condition": condition},
                 {"proof": (io.BytesIO(_jpeg()), "证明.jpg")})


def _exemption():
    db.session.expire_all()
    return db.session.query(Exemption).one()


def test_exemption_needs_an_approved_enrollment(as_role):
    doctor = as_role("physician")
    page = doctor.get("/me/exemption").get_data(as_text=True)
    assert "报名审核通过（报名完成-等待测评）后方可申请免考" in page
    assert _apply(doctor).status_code == 400
    assert db.session.query(Exemption).count() == 0


def test_approved_by_institution_then_assessment_waives_the_professional_paper(as_role):
    doctor = _approved_enrollment(as_role, "general")
    assert _apply(doctor).status_code == 302
    assert _exemption().state == "pending"
    hospital = as_role("institution")
    post(hospital, "/exemptionview/action_post", {"action": "approve",
                                                  "rowid": str(_exemption().id)})
    assert _exemption().state == "pending_assessment"
    again = post(hospital, "/exemptionview/action_post", {"action": "approve",
                                                          "rowid": str(_exemption().id)})
    assert again.status_code == 302 and "该免考申请不在待审核状态" in flashes(hospital)
    post(as_role("assessment"), "/exemptionview/action_post",
         {"action": "approve", "rowid": str(_exemption().id)})
    assert _exemption().state == "approved" and _exemption().waived_paper == "professional"
    assert "业务水平测评" in doctor.get("/me/exemption").get_data(as_text=True)


def test_simple_procedure_exemption_waives_the_humanities_paper(as_role):
    doctor = _approved_enrollment(as_role, "simple")
    _apply(doctor)
    post(as_role("institution"), "/exemptionview/action_post",
         {"action": "approve", "rowid": str(_exemption().id)})
    post(as_role("assessment"), "/exemptionview/action_post",
         {"action": "approve", "rowid": str(_exemption().id)})
    assert _exemption().waived_paper == "humanities"


def test_rejected_exemption_can_be_resubmitted(as_role):
    doctor = _approved_enrollment(as_role)
    _apply(doctor)
    hospital = as_role("institution")
    form = hospital.get(f"/exemptionview/reject/{_exemption().id}").get_data(as_text=True)
    assert '<label for="reason">驳回原因 *</label>' in form  # as the manual names it
    empty = post(hospital, f"/exemptionview/reject/{_exemption().id}", {"reason": ""})
    assert empty.status_code == 400 and "请填写原因" in empty.get_data(as_text=True)
    post(hospital, f"/exemptionview/reject/{_exemption().id}", {"reason": "证明材料不清晰"})
    assert _exemption().state == "rejected"
    assert "证明材料不清晰" in doctor.get("/me/exemption").get_data(as_text=True)
    double = _post(doctor, "/me/exemption", {"condition": "不存在的条件"},
                   {"proof": (io.BytesIO(_jpeg()), "证明.jpg")})
    assert double.status_code == 400 and "请选择免考条件" in double.get_data(as_text=True)
    assert _apply(doctor).status_code == 302
    assert _exemption().state == "pending" and _exemption().reject_reason is None


def test_second_application_while_pending_is_refused(as_role):
    doctor = _approved_enrollment(as_role)
    _apply(doctor)
    second = _apply(doctor)
    assert second.status_code == 400
    assert db.session.query(Exemption).count() == 1

"""医师管理 (DOMAIN §4, manual 000 §7-11): include, cancel, add, transfer out and in, delete."""
import datetime

from app.extensions import db
from models import AuditLog, Department, Enrollment, Institution, Physician
from models.account import AppUser
from security import idcard
from tests.conftest import flashes, post


def _physician(name):
    return db.session.query(Physician).filter(Physician.name == name).first()


def _hospital_physician_without_enrollment():
    hospital = db.session.query(Institution).filter_by(account="NX1008611").one()
    enrolled = db.session.query(Enrollment.physician_id)
    return (db.session.query(Physician)
            .filter(Physician.institution_id == hospital.id, ~Physician.id.in_(enrolled))
            .order_by(Physician.id).first())


def _audit(action, entity_id):
    return db.session.query(AuditLog).filter_by(action=action, entity_id=entity_id).all()


def test_allow_enrollment_includes_the_physician_once_and_is_audited(as_role):
    client = as_role("institution")
    physician = _hospital_physician_without_enrollment()
    response = post(client, "/physicianview/action_post",
                    {"action": "allow_enrollment", "rowid": str(physician.id)})
    assert response.status_code == 302
    assert "已允许报名 1 人" in flashes(client)
    post(client, "/physicianview/action_post",
         {"action": "allow_enrollment", "rowid": str(physician.id)})
    assert db.session.query(Enrollment).filter_by(physician_id=physician.id).count() == 1
    row, = _audit("allow_enrollment", physician.id)
    assert row.username == "NX1008611"


def test_confirmed_tab_lists_only_included_physicians(as_role):
    client = as_role("institution")
    physician = _hospital_physician_without_enrollment()
    confirmed = client.get("/physicianview/list/?_flt_0_id=1").get_data(as_text=True)
    unconfirmed = client.get("/physicianview/list/?_flt_0_id=0").get_data(as_text=True)
    assert physician.masked_id_number not in confirmed
    assert physician.masked_id_number in unconfirmed


def test_id_search_finds_the_physician_by_15_or_18_digits(as_role):
    client = as_role("institution")
    physician = _hospital_physician_without_enrollment()
    id15 = physician.id_number[:6] + physician.id_number[8:17]
    for form in (physician.id_number, id15):
        page = client.get(f"/physicianview/list/?_flt_0_id_number={form}").get_data(as_text=True)
        assert physician.masked_id_number in page and physician.name in page


def test_adding_an_existing_physician_points_to_transfer_in(as_role):
    client = as_role("institution")
    existing = _physician("王医生")
    id15 = existing.id_number[:6] + existing.id_number[8:17]
    department = db.session.query(Department).filter_by(name="内科").join(Institution).filter(
        Institution.account == "NX1008611").one()
    before = db.session.query(Physician).count()
    response = post(client, "/physicianview/add", {
        "name": "重复", "id_number": id15, "gender": "male", "department": str(department.id),
        "practice_category": "clinical", "level": "physician", "certificate_no": "1",
        "qualification_no": "2"})
    assert "医师已存在, 请前往【调入医师】模块查询" in response.get_data(as_text=True)
    assert db.session.query(Physician).count() == before


def test_adding_a_new_physician_opens_an_account_on_666666(as_role, province):
    from tests.conftest import login

    client = as_role("institution")
    department = db.session.query(Department).filter_by(name="外科").join(Institution).filter(
        Institution.account == "NX1008611").one()
    number = idcard.make("460100", datetime.date(1992, 5, 6), 321)
    response = post(client, "/physicianview/add", {
        "name": "赵新", "id_number": number.lower(), "gender": "male",
        "department": str(department.id), "practice_category": "clinical",
        "level": "physician", "certificate_no": "110460100000321",
        "qualification_no": "200746010000321"})
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]
    physician = _physician("赵新")
    assert physician.institution.account == "NX1008611" and physician.id_number == number
    assert _audit("add", physician.id)
    assert login(province.test_client(), number, "666666", kind="physician").status_code == 302


def test_cancel_needs_a_reason_and_is_refused_after_review(as_role):
    client = as_role("institution")
    enrollment = db.session.query(Enrollment).join(Physician).filter(
        Physician.name == "王医生").one()
    empty = post(client, f"/physicianview/cancel/{enrollment.physician_id}", {"reason": ""})
    assert empty.status_code == 400 and "请填写原因" in empty.get_data(as_text=True)
    assert enrollment.state == "pending_enrollment"

    from models import workflow

    workflow.force(enrollment, "pending_assessment_review", reason="test set-up")
    db.session.commit()
    late = post(client, f"/physicianview/cancel/{enrollment.physician_id}", {"reason": "离职"})
    assert "不能取消报名" in late.get_data(as_text=True)
    db.session.refresh(enrollment)
    assert enrollment.state == "pending_assessment_review"

    workflow.force(enrollment, "pending_enrollment", reason="test set-up")
    db.session.commit()
    ok = post(client, f"/physicianview/cancel/{enrollment.physician_id}", {"reason": "已离职"})
    assert ok.status_code == 302
    db.session.refresh(enrollment)
    assert enrollment.state == "cancelled" and enrollment.reject_reason == "已离职"
    assert _audit("cancel", enrollment.id)[0].reason == "已离职"


def test_transfer_out_then_in_at_another_institution(as_role):
    physician = _hospital_physician_without_enrollment()
    hospital = as_role("institution")
    other = as_role("assessment")

    still_here = other.get(f"/roster/transfer-in/?id_number={physician.id_number}")
    assert "仍在【演示市第一人民医院】执业" in still_here.get_data(as_text=True)

    missing = post(hospital, f"/physicianview/transfer-out/{physician.id}",
                   {"reason": "other", "detail": ""})
    assert missing.status_code == 400 and "请填写详细说明" in missing.get_data(as_text=True)
    done = post(hospital, f"/physicianview/transfer-out/{physician.id}",
                {"reason": "resigned", "detail": "2026年10月离职"})
    assert done.status_code == 302
    db.session.refresh(physician)
    assert physician.roster_status == "transferred_out" and physician.institution_id is None

    refused = post(hospital, "/physicianview/action_post",
                   {"action": "allow_enrollment", "rowid": str(physician.id)})
    assert refused.status_code == 404  # no longer on this roster

    department = db.session.query(Department).join(Institution).filter(
        Institution.account == "NX1008600", Department.name == "急诊科").one()
    id15 = physician.id_number[:6] + physician.id_number[8:17]
    page = other.get(f"/roster/transfer-in/?id_number={id15}").get_data(as_text=True)
    assert physician.name in page
    taken = post(other, "/roster/transfer-in/", {"id_number": id15, "confirm": "1",
                                                 "department_id": str(department.id)})
    assert taken.status_code == 302
    db.session.refresh(physician)
    assert physician.institution.account == "NX1008600"
    assert physician.department_id == department.id
    assert [a.action for a in db.session.query(AuditLog).filter_by(entity_id=physician.id,
                                                                     entity="physician")
            ] == ["transfer_out", "transfer_in"]


def test_delete_is_refused_with_enrollment_history_and_removes_the_account_otherwise(as_role):
    client = as_role("institution")
    enrolled = _physician("王医生")
    post(client, f"/physicianview/delete/{enrolled.id}")
    assert db.session.get(Physician, enrolled.id) is not None
    assert any("已有报名记录" in m for m in flashes(client))
    fresh = _hospital_physician_without_enrollment()
    fresh_id, number = fresh.id, fresh.id_number
    post(client, f"/physicianview/delete/{fresh_id}")
    db.session.expire_all()
    assert db.session.get(Physician, fresh_id) is None
    assert db.session.query(AppUser).filter_by(username=number).first() is None
    assert _audit("delete", fresh_id)


def test_reset_password_unbinds_the_physicians_phone(as_role):
    client = as_role("institution")
    doctor = _physician("王医生")
    account = db.session.query(AppUser).filter_by(physician_id=doctor.id).one()
    assert account.mobile_bound_at is not None
    post(client, "/physicianview/action_post", {"action": "reset_password",
                                                "rowid": str(doctor.id)})
    db.session.refresh(account)
    assert account.must_change_password and account.mobile is None
    assert account.mobile_bound_at is None

"""The institution's side of review and roster as the manuals 000 and 002 describe them: the
home page's 待处理任务 by procedure and 免考待审核, the review page by page (个人信息 → 执业信息 →
工作成绩、职业道德), the roster's row buttons, 新增医师's fields."""
import io
import re

from app.extensions import db
from models import Enrollment, Exemption, Institution, Physician
from models.enrollment import EXEMPTION_STATE, PROCEDURE
from models import workflow
from tests.conftest import flashes, post
from tests.test_enrollment import _jpeg, _post
from tests.test_review import _enrollment, _institution_review, _submitted


def _tasks(page):
    return dict(re.findall(r"<tr><td>([^<]+)</td><td><b class=\"task-count\">(\d+)</b>", page))


def _waiting(institution_ids, states, procedure):
    return db.session.query(Enrollment).filter(
        Enrollment.institution_id.in_(institution_ids), Enrollment.state.in_(states),
        Enrollment.procedure == procedure).count()


def test_home_splits_review_tasks_by_procedure_and_counts_match_the_database(as_role):
    _submitted(as_role, "simple")
    hospital = as_role("institution")
    page = hospital.get("/").get_data(as_text=True)
    tasks = _tasks(page)
    own = _enrollment().institution_id
    assert tasks["简易程序待审核"] == str(_waiting([own], workflow.INSTITUTION_STAGE, "simple")) == "1"
    assert tasks["一般程序待审核"] == str(_waiting([own], workflow.INSTITUTION_STAGE, "general")) == "0"
    assert tasks["免考待审核"] == "0"
    assert "/review/?stage=institution&amp;procedure=simple" in page
    # Another institution (here the assessment institution, as a reviewer of its own) counts
    # none of it.
    assert _tasks(as_role("assessment").get("/").get_data(as_text=True))["简易程序待审核"] == "0"
    listing = hospital.get("/review/?stage=institution&procedure=simple").get_data(as_text=True)
    assert "王医生" in listing and "简易程序申请理由" in listing


def test_assessment_home_counts_re_reviews_and_exemptions(as_role):
    doctor = _submitted(as_role, "general")
    assert _institution_review(as_role("institution")).status_code == 302
    assessor = as_role("assessment")
    tasks = _tasks(assessor.get("/").get_data(as_text=True))
    covered = [i for (i,) in db.session.query(Institution.id).filter(
        (Institution.assessment_institution_id == _enrollment().institution.assessment_institution_id)
        | (Institution.id == _enrollment().institution.assessment_institution_id))]
    assert tasks["一般程序待复核"] == str(_waiting(covered, workflow.ASSESSMENT_STAGE, "general")) == "1"
    assert tasks["简易程序待复核"] == "0"
    assert post(assessor, f"/review/{_enrollment().id}/assessment",
                {"decision": "approve"}).status_code == 302
    assert _post(doctor, "/me/exemption", {"condition": "本周期内取得高一级专业技术职务任职资格"},
                 {"proof": (io.BytesIO(_jpeg()), "证明.jpg")}).status_code == 302
    hospital = as_role("institution")
    page = hospital.get("/").get_data(as_text=True)
    assert _tasks(page)["免考待审核"] == "1" == str(db.session.query(Exemption).filter_by(
        state=EXEMPTION_STATE.PENDING).count())
    assert "/exemptionview/list/?_flt_0_state=pending" in page
    listing = hospital.get("/exemptionview/list/?_flt_0_state=pending").get_data(as_text=True)
    assert "王医生" in listing
    # Another institution's clerk counts none of them.
    assert _tasks(as_role("assessment").get("/").get_data(as_text=True))["免考待审核"] == "0"


def _new_physician_form(department_id, number, **extra):
    return {"name": "钱新", "id_number": number, "gender": "female", "id_type": "resident_id",
            "department": str(department_id), "practice_category": "clinical",
            "level": "physician", **extra}


def test_add_physician_has_the_manuals_fields_and_requires_both_certificate_numbers(as_role):
    import datetime

    from models import Department
    from security import idcard

    client = as_role("institution")
    form = client.get("/physicianview/add").get_data(as_text=True)
    for label in ("证件类型", "学历", "电子邮箱", "民族", "从事专业", "职称", "是否规培生", "职务",
                  "执业范围", "执业证书编码", "资格证书编码"):
        assert label in form, label
    department = db.session.query(Department).filter_by(name="外科").join(Institution).filter(
        Institution.account == "NX1008611").one()
    number = idcard.make("460100", datetime.date(1990, 1, 2), 654)
    before = db.session.query(Physician).count()
    refused = post(client, "/physicianview/add", _new_physician_form(department.id, number))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "请填写执业证书编码" in page and "请填写资格证书编码" in page
    assert db.session.query(Physician).count() == before
    done = post(client, "/physicianview/add", _new_physician_form(
        department.id, number, certificate_no="110460100000654",
        qualification_no="200746010000654", education="本科", email="qian@example.com",
        ethnicity="汉族", title="intermediate", position="主治医师",
        practice_scope="外科专业", is_trainee="y"))
    assert done.status_code == 302, done.get_data(as_text=True)[-600:]
    physician = db.session.query(Physician).filter_by(id_number=number).one()
    assert (physician.certificate_no, physician.qualification_no) == (
        "110460100000654", "200746010000654")
    assert (physician.education, physician.email, physician.title, physician.is_trainee) == (
        "本科", "qian@example.com", "intermediate", True)


ROW_ACTIONS = ("allow_enrollment", "cancel_enrollment", "transfer_out", "reset_password")


def _hospital_physicians():
    return db.session.query(Physician).join(Institution, Physician.institution_id == Institution.id) \
        .filter(Institution.account == "NX1008611").order_by(Physician.id).all()


def test_add_physician_takes_a_photo_checked_by_its_content(as_role):
    import datetime

    from models import Department, StoredFile
    from security import idcard

    client = as_role("institution")
    assert 'type="file"' in client.get("/physicianview/add").get_data(as_text=True)
    department = db.session.query(Department).filter_by(name="外科").join(Institution).filter(
        Institution.account == "NX1008611").one()
    number = idcard.make("460100", datetime.date(1991, 3, 4), 655)
    form = _new_physician_form(department.id, number, certificate_no="110460100000655",
                               qualification_no="200746010000655")
    files_before = db.session.query(StoredFile).count()
    # Not a picture (a script named .jpg): refused on the form, nothing saved, fields kept.
    refused = _post(client, "/physicianview/add", form,
                    {"photo_upload": (io.BytesIO(b"<script>alert(1)</script>"), "me.jpg")})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "文件格式不正确" in page and "110460100000655" in page
    assert db.session.query(Physician).filter_by(id_number=number).count() == 0
    assert db.session.query(StoredFile).count() == files_before
    done = _post(client, "/physicianview/add", form,
                 {"photo_upload": (io.BytesIO(_jpeg()), "me.jpg")})
    assert done.status_code == 302
    physician = db.session.query(Physician).filter_by(id_number=number).one()
    assert physician.photo is not None and physician.photo_thumb is not None
    assert physician.photo.physician_id == physician.id
    assert client.get(f"/files/{physician.photo_id}").status_code == 200
    # 编辑 with a new photo replaces it; 编辑 without one keeps it.
    first = physician.photo_id
    edit = {k: v for k, v in form.items() if k != "id_number"}
    assert _post(client, f"/physicianview/edit/{physician.id}", edit,
                 {"photo_upload": (io.BytesIO(_jpeg((400, 560))), "new.jpg")}).status_code == 302
    db.session.expire_all()
    second = db.session.get(Physician, physician.id).photo_id
    assert second not in (None, first)
    assert _post(client, f"/physicianview/edit/{physician.id}", edit).status_code == 302
    db.session.expire_all()
    assert db.session.get(Physician, physician.id).photo_id == second


def test_roster_rows_offer_allow_or_cancel_whichever_applies_and_the_button_includes(as_role):
    from models import AuditLog, Cycle

    client = as_role("institution")
    page = client.get("/physicianview/list/").get_data(as_text=True)
    cycle = Cycle.current()
    included = {e.physician_id for e in db.session.query(Enrollment).filter_by(cycle_id=cycle.id)
                if e.state != "cancelled"}
    physicians = _hospital_physicians()
    assert included and set(p.id for p in physicians) - included
    for p in physicians:
        allow, cancel = f'id="row-allow_enrollment-{p.id}"', f'id="row-cancel_enrollment-{p.id}"'
        if p.id in included:
            assert cancel in page and allow not in page, p.name
        else:
            assert allow in page and cancel not in page, p.name
        assert f'id="row-reset_password-{p.id}"' in page
    assert "新增医师" in page
    assert "创建科室" in client.get("/departmentview/list/").get_data(as_text=True)
    newcomer = next(p for p in physicians if p.id not in included)
    done = post(client, f"/physicianview/action/allow_enrollment/{newcomer.id}")
    assert done.status_code == 302
    assert db.session.query(Enrollment).filter_by(cycle_id=cycle.id,
                                                 physician_id=newcomer.id).count() == 1
    assert "已允许报名 1 人" in flashes(client)
    assert db.session.query(AuditLog).filter_by(action="allow_enrollment",
                                               entity_id=newcomer.id).count() == 1
    page = client.get("/physicianview/list/").get_data(as_text=True)
    assert f'id="row-cancel_enrollment-{newcomer.id}"' in page


def test_row_buttons_need_the_csrf_token(as_role):
    client = as_role("institution")
    newcomer = _hospital_physicians()[-1]
    count = db.session.query(Enrollment).count()
    for name in ROW_ACTIONS:
        refused = client.post(f"/physicianview/action/{name}/{newcomer.id}")
        assert refused.status_code == 400, name
    assert client.post(f"/physicianview/delete/{newcomer.id}").status_code == 400
    assert client.post("/confirm-cycle").status_code == 400
    assert client.post(f"/review/{newcomer.id}/institution",
                       data={"decision": "reject", "reason": "x"}).status_code == 400
    assert db.session.query(Enrollment).count() == count
    assert db.session.get(Physician, newcomer.id) is not None


def test_another_institutions_clerk_gets_404_on_every_row_button(as_role):
    from models import Department

    other = as_role("assessment")  # a clerk of another institution
    physician = _hospital_physicians()[0]
    for name in ROW_ACTIONS:
        assert post(other, f"/physicianview/action/{name}/{physician.id}").status_code == 404, name
    assert post(other, f"/physicianview/delete/{physician.id}").status_code == 404
    assert other.get(f"/physicianview/edit/{physician.id}").status_code == 404
    assert other.get(f"/physicianview/show/{physician.id}").status_code == 404
    assert other.get(f"/physicianview/cancel/{physician.id}").status_code == 404
    assert other.get(f"/physicianview/transfer-out/{physician.id}").status_code == 404
    department = db.session.query(Department).join(Institution).filter(
        Institution.account == "NX1008611").first()
    for name in ("disable", "enable"):
        assert post(other, f"/departmentview/action/{name}/{department.id}").status_code == 404
    assert db.session.get(Physician, physician.id).institution.account == "NX1008611"


def test_review_is_paged_personal_then_practice_then_work_with_the_decision_last(as_role):
    _submitted(as_role, "simple")
    hospital = as_role("institution")
    url = f"/review/{_enrollment().id}"
    first = hospital.get(url).get_data(as_text=True)
    assert 'data-step="1"' in first and "个人信息" in first and "民族" in first
    assert f'href="{url}?step=2" id="next">下一步' in first
    assert 'id="approve"' not in first and 'id="previous"' not in first
    assert "驳回原因" in first and 'id="reject"' in first  # 驳回 on every page
    second = hospital.get(f"{url}?step=2").get_data(as_text=True)
    assert "执业证书编码" in second and 'id="previous"' in second and 'id="next"' in second
    assert 'id="approve"' not in second
    last = hospital.get(f"{url}?step=3").get_data(as_text=True)
    assert 'id="next"' not in last and f'href="{url}?step=2" id="previous">上一步' in last
    assert 'id="approve"' in last and "医疗卫生机构评定意见" in last
    reason = last[last.index('id="simple-reason"'):][:200]
    assert "简易程序申请理由" in last and "5年以上执业经历" in reason
    assert hospital.get(f"{url}?step=9").status_code == 200  # clamped, not an error
    # 驳回 from the first page without a reason: refused on that page, nothing changed.
    refused = post(hospital, f"{url}/institution", {"decision": "reject", "step": "1"})
    assert refused.status_code == 400 and 'data-step="1"' in refused.get_data(as_text=True)
    assert _enrollment().state == "pending_institution_review"
    done = post(hospital, f"{url}/institution",
                {"decision": "reject", "step": "1", "reason": "照片不是近两年证件照"})
    assert done.status_code == 302 and _enrollment().state != "pending_institution_review"
    assert _enrollment().reviews[-1].reason == "照片不是近两年证件照"


def test_re_review_is_paged_too_and_decides_on_the_last_page(as_role):
    _submitted(as_role, "general")
    assert _institution_review(as_role("institution")).status_code == 302
    assessor = as_role("assessment")
    url = f"/review/{_enrollment().id}"
    first = assessor.get(url).get_data(as_text=True)
    assert 'id="next"' in first and 'id="confirm"' not in first
    assert f'action="{url}/assessment"' in first  # 驳回 back to the institution from any page
    last = assessor.get(f"{url}?step=3").get_data(as_text=True)
    assert 'id="confirm"' in last and ">通过</button>" in last and 'id="institution-ratings"' in last
    assert post(assessor, f"{url}/assessment", {"decision": "approve"}).status_code == 302
    assert _enrollment().state == "awaiting_exam"


def test_first_login_shows_the_schedule_as_a_dialog_with_go_and_confirm(as_role):
    from models import CycleConfirmation

    client = as_role("institution")
    page = client.get("/").get_data(as_text=True)
    dialog = page[page.index('id="confirm-cycle"'):]
    assert "请确认本周期考核时间安排" in dialog and "医师报名" in dialog
    assert 'id="confirm-cycle-btn">去确认</button>' in dialog
    assert post(client, "/confirm-cycle").status_code == 302
    assert db.session.query(CycleConfirmation).count() == 1
    assert 'id="confirm-cycle"' not in client.get("/").get_data(as_text=True)

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

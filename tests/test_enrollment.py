"""我要报名 (DOMAIN §5, manual 001): five savable steps, preview, submit, and the refusals."""
import datetime
import io

from PIL import Image

from app.extensions import db
from models import Department, Enrollment, Institution, Physician, ScheduleWindow, Submission
from tests.conftest import flashes


def _token(client):
    page = client.get("/account/password").get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def _post(client, url, data=None, files=None):
    payload = {"csrf_token": _token(client), **(data or {})}
    for name, content in (files or {}).items():
        payload[name] = content
    return client.post(url, data=payload, content_type="multipart/form-data")


def _jpeg(size=(350, 490)):
    out = io.BytesIO()
    Image.new("RGB", size, (230, 230, 240)).save(out, format="JPEG")
    return out.getvalue()


def _enrollment():
    return db.session.query(Enrollment).join(Physician).filter(Physician.name == "王医生").one()


def fill_all_steps(client, procedure="general"):
    """Walk the five steps as the demo physician 王医生 (内科 of 演示市第一人民医院)."""
    dept = db.session.query(Department).join(Institution).filter(
        Institution.account == "NX1008611", Department.name == "内科").one()
    subject = dept.subjects[0]
    steps = [
        (1, {"gender": "male", "ethnicity": "汉族", "birth_date": "1985-03-12",
             "education": "本科", "email": "wang@example.com", "mobile": "13900000001",
             "next": "1"}, {"photo": (io.BytesIO(_jpeg()), "me.jpg")}),
        (2, {"department_id": str(dept.id), "specialties": str(subject.id), "title": "intermediate",
             "title_date": "2019-09-01", "level": "physician", "is_trainee": "no",
             "practice_category": "clinical", "practice_scope": "内科专业",
             "employment": "employed",
             "first_registration_date": "2008-07-01", "licence_kind": "electronic",
             "next": "1"}, {"licence": (io.BytesIO(_jpeg((600, 400))), "licence.jpg")}),
        (3, {"kind": "education", "organisation": "海南医学院", "start_date": "2003-09-01",
             "end_date": "2008-07-01", "description": "临床医学 本科", "save": "1"}, {}),
        (3, {"next": "1"}, {}),
        (4, {"good_record": "yes", "good_detail": "2024年市级先进个人", "bad_record": "no",
             "work_quantity": "pass", "patients": "9000", "ethics_fail": "no", "next": "1"}, {}),
    ]
    if procedure == "simple":
        steps.append((5, {"procedure": "simple", "simple_condition": "1",
                          "statement": "本人执业17年，遵守各项规章制度。", "next": "1"},
                      {"proof": (io.BytesIO(_jpeg((500, 700))), "proof.jpg")}))
    else:
        steps.append((5, {"procedure": "general", "next": "1"}, {}))
    for number, data, files in steps:
        response = _post(client, f"/me/enroll/{number}", data, files)
        assert response.status_code == 302, (number, response.get_data(as_text=True)[-1500:])


def test_a_physician_not_yet_included_sees_the_manuals_words(as_role, province):
    from tests.conftest import login
    from models.enrollment import ENROLLMENT_STATE

    from models import workflow

    enrollment = _enrollment()
    workflow.force(enrollment, ENROLLMENT_STATE.CANCELLED, reason="test set-up")
    db.session.commit()
    client = as_role("physician")
    assert "未开通报名" in client.get("/me/").get_data(as_text=True)
    client.get("/me/enroll")
    assert "未开通报名，请联系所在医疗卫生机构将您纳入本考核周期" in flashes(client)


def test_five_steps_preview_and_submit(as_role):
    client = as_role("physician")
    fill_all_steps(client, "simple")
    physician = _enrollment().physician
    assert physician.photo_thumb is not None and physician.specialties
    preview = client.get("/me/enroll/preview").get_data(as_text=True)
    assert "海南医学院" in preview and "简易程序" in preview
    response = _post(client, "/me/enroll/submit")
    assert response.status_code == 302 and response.headers["Location"].endswith("/me/enroll/submitted")
    enrollment = _enrollment()
    assert enrollment.state == "pending_institution_review" and enrollment.submitted_at
    assert db.session.query(Submission).filter_by(enrollment_id=enrollment.id).count() == 1
    assert "已报名-待医疗卫生机构审核" in client.get("/me/").get_data(as_text=True)
    again = _post(client, "/me/enroll/submit")
    assert again.status_code == 302
    assert "报名信息已提交，正在审核中，不能修改" in flashes(client)
    assert db.session.query(Submission).filter_by(enrollment_id=enrollment.id).count() == 1


def test_submit_with_a_step_incomplete_is_refused(as_role):
    client = as_role("physician")
    _post(client, "/me/enroll/submit")
    assert any(m.startswith("请先完成：基本信息") for m in flashes(client))
    assert _enrollment().state == "pending_enrollment"


def test_bad_step_input_is_refused_and_what_was_saved_stays(as_role):
    client = as_role("physician")
    fill_all_steps(client)
    enrollment = _enrollment()
    saved_statement_steps = enrollment.completed_steps
    too_long = _post(client, "/me/enroll/5", {"procedure": "simple", "simple_condition": "2",
                                              "statement": "字" * 2001})
    assert too_long.status_code == 400
    assert "个人述职不能超过2000字" in too_long.get_data(as_text=True)
    bad_photo = _post(client, "/me/enroll/1", {"gender": "male", "ethnicity": "汉族",
                                               "education": "本科", "mobile": "13900000001"},
                      {"photo": (io.BytesIO(b"just text"), "photo.jpg")})
    assert bad_photo.status_code == 400 and "文件格式不正确" in bad_photo.get_data(as_text=True)
    other_dept = db.session.query(Department).join(Institution).filter(
        Institution.account == "NX1008600").first()
    wrong_dept = _post(client, "/me/enroll/2", {"department_id": str(other_dept.id),
                                                "specialties": str(other_dept.subjects[0].id)})
    assert wrong_dept.status_code == 400 and "请选择本机构已启用的科室" in wrong_dept.get_data(as_text=True)
    disabled = db.session.query(Department).join(Institution).filter(
        Institution.account == "NX1008611", Department.name == "儿科").one()
    off = _post(client, "/me/enroll/2", {"department_id": str(disabled.id),
                                         "specialties": str(disabled.subjects[0].id)})
    assert "已停用" in off.get_data(as_text=True)
    db.session.expire_all()
    enrollment = _enrollment()
    assert enrollment.completed_steps == saved_statement_steps
    assert enrollment.procedure == "general" and enrollment.physician.department.name == "内科"


def test_specialty_must_belong_to_the_department(as_role):
    client = as_role("physician")
    dept = db.session.query(Department).join(Institution).filter(
        Institution.account == "NX1008611", Department.name == "内科").one()
    surgery = db.session.query(Department).join(Institution).filter(
        Institution.account == "NX1008611", Department.name == "外科").one()
    response = _post(client, "/me/enroll/2", {"department_id": str(dept.id),
                                              "specialties": str(surgery.subjects[0].id),
                                              "practice_scope": "内科"})
    assert "从事专业须为所选科室关联的诊疗科目" in response.get_data(as_text=True)


def test_after_the_window_closes_nothing_can_be_filled_in(as_role):
    client = as_role("physician")
    window = db.session.query(ScheduleWindow).filter_by(kind="enrollment").one()
    window.end_date = datetime.date.today() - datetime.timedelta(days=1)
    db.session.commit()
    client.get("/me/enroll/1")
    assert any("医师报名已截止" in m for m in flashes(client))


def test_eligibility_counts_years_to_the_cutoff(province):
    from models import enrollment_form as ef

    enrollment = _enrollment()
    physician = enrollment.physician
    physician.first_registration_date = datetime.date(2013, 1, 1)
    enrollment.form_data = {"assessment": {"good_record": "yes", "bad_record": "no"}}
    cutoff = enrollment.cycle.cutoff_date
    result = ef.eligibility(physician, enrollment)
    assert result["years"] == cutoff.year - 2013
    met = {code for code, _, ok in result["conditions"] if ok}
    assert "1" in met and ("2" in met) == (result["years"] >= 12)

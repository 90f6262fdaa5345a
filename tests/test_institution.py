"""本机构信息 and 科室信息 (DOMAIN §4, manual 000 §5-6)."""
from app.extensions import db
from models import Department, Institution, Physician, Subject
from tests.conftest import flashes, post


def _hospital():
    return db.session.query(Institution).filter_by(account="NX1008611").one()


def _department(name, account="NX1008611"):
    return db.session.query(Department).join(Institution).filter(
        Institution.account == account, Department.name == name).one()


INFO = {
    "name": "演示市第一人民医院", "address_province": "演示省", "address_city": "演示市",
    "address_district": "龙华区", "address_street": "健康路101号", "type": "medical",
    "level": "level3", "grade": "grade_a", "beds": "800", "legal_representative": "张建国",
    "contact": "王芳", "phone": "0898-66000001", "mobile": "13800000009",
}


def test_institution_saves_its_own_information(as_role):
    client = as_role("institution")
    response = post(client, "/institution/mine/", {**INFO, "contact": "王芳"})
    assert response.status_code == 302
    db.session.expire_all()
    assert _hospital().contact == "王芳" and _hospital().beds == 800


def test_bad_institution_information_is_refused_and_nothing_changes(as_role):
    client = as_role("institution")
    for field, value, message in [
        ("mobile", "1380000", "请输入正确的11位手机号码"),
        ("phone", "abc", "请输入正确的联系电话"),
        ("beds", "-3", "床位数不能为负数"),
        ("legal_representative", "", "此项为必填项"),
    ]:
        response = post(client, "/institution/mine/", {**INFO, "contact": "改了", field: value})
        assert response.status_code == 400, field
        assert message in response.get_data(as_text=True)
        db.session.expire_all()
        assert _hospital().contact == "李娜"


def test_physician_counts_come_from_the_roster(as_role):
    page = as_role("institution").get("/institution/mine/").get_data(as_text=True)
    count = db.session.query(Physician).filter_by(institution_id=_hospital().id).count()
    assert f'id="count-total">{count}<' in page


def test_department_with_subjects_is_created_and_duplicate_name_refused(as_role):
    client = as_role("institution")
    subjects = db.session.query(Subject).filter(Subject.name.in_(["眼科"])).all()
    response = post(client, "/departmentview/add", {"name": "眼科", "enabled": "y",
                                                    "subjects": [str(s.id) for s in subjects]})
    assert response.status_code == 302
    created = _department("眼科")
    assert [s.name for s in created.subjects] == ["眼科"]
    assert created.institution_id == _hospital().id
    again = post(client, "/departmentview/add", {"name": "眼科", "enabled": "y"})
    assert again.status_code == 302 and "科室“眼科”已存在" in flashes(client)
    assert db.session.query(Department).filter_by(name="眼科").count() == 1


def test_department_in_use_cannot_be_deleted_but_can_be_disabled(as_role):
    client = as_role("institution")
    department = _department("内科")
    post(client, f"/departmentview/delete/{department.id}")
    page = client.get("/departmentview/list/").get_data(as_text=True)
    assert "不能删除；如不再使用，请停用该科室" in page
    assert db.session.get(Department, department.id) is not None
    post(client, "/departmentview/action_post", {"action": "disable", "rowid": str(department.id)})
    db.session.refresh(department)
    assert department.enabled is False


def test_physicians_pick_only_enabled_departments(as_role):
    client = as_role("institution")
    page = client.get("/physicianview/add").get_data(as_text=True)
    # The 科室 select only: the form has other selects (从事专业, 职称…) with values of their own.
    form = page[page.index('id="department"'):]
    form = form[:form.index("</select>")]
    disabled = _department("儿科")
    assert disabled.enabled is False
    assert f'value="{disabled.id}"' not in form
    assert f'value="{_department("内科").id}"' in form
    assert f'value="{_department("内科", "NX1008600").id}"' not in form


def test_administration_creates_an_institution_with_its_account_and_assigns_an_assessor(
        as_role, province):
    from models import Administration
    from tests.conftest import login

    client = as_role("district")
    district = db.session.query(Administration).filter_by(name="龙华区卫生健康委员会").one()
    response = post(client, "/institutionview/add", {
        "name": "龙华区新建诊所", "account": "NX2000001", "administration": str(district.id),
        "type": "clinic", "level": "unrated", "grade": "ungraded"})
    assert response.status_code == 302
    created = db.session.query(Institution).filter_by(account="NX2000001").one()
    assert created.admin_path == district.path
    assert login(province.test_client(), "NX2000001", "666666").status_code == 302

    assessor = db.session.query(Institution).filter_by(account="NX1008600").one()
    form = client.get(f"/institutionview/edit/{created.id}").get_data(as_text=True)
    assert f'value="{assessor.id}"' not in form  # the assessor is outside 龙华区's view
    city = as_role("city")
    post(city, f"/institutionview/edit/{created.id}", {
        "name": "龙华区新建诊所", "account": "NX2000001", "administration": str(district.id),
        "type": "clinic", "level": "unrated", "grade": "ungraded",
        "assessment_institution": str(assessor.id)})
    db.session.refresh(created)
    assert created.assessment_institution_id == assessor.id


def test_administration_cannot_place_an_institution_outside_its_jurisdiction(as_role):
    from models import Administration

    client = as_role("district")
    other = db.session.query(Administration).filter_by(name="海湾区卫生健康委员会").one()
    post(client, "/institutionview/add", {
        "name": "越权诊所", "account": "NX2000002", "administration": str(other.id),
        "type": "clinic", "level": "unrated", "grade": "ungraded"})
    assert db.session.query(Institution).filter_by(account="NX2000002").first() is None

"""Console pages read as the manuals do (issue 10): one-record actions are labelled POST buttons
on each row and on the record's page; show pages name things in Chinese; filters offer the
Chinese labels; error pages are Chinese."""
import io
import re

from app.extensions import db
from models import AuditLog, Enrollment, Exemption, Institution, Physician
from tests.conftest import _token_from_session, flashes, post
from tests.test_exemption import _apply, _approved_enrollment
from tests.test_roster import _hospital_physician_without_enrollment

CODE = re.compile(r"\b(awaiting_exam|pending_enrollment|general|simple|submitted|pending"
                  r"|clinical|object at 0x)\b")


def _clinic_physician():
    clinic = db.session.query(Institution).filter_by(account="NX1008622").one()
    return db.session.query(Physician).filter_by(institution_id=clinic.id).first()


def test_a_record_action_is_a_post_form_on_each_row_and_on_the_record_page(as_role):
    client = as_role("institution")
    physician = _hospital_physician_without_enrollment()
    page = client.get("/physicianview/list/").get_data(as_text=True)
    # 取消报名 and 调离 as labelled buttons of the row, each a POST form with the CSRF token.
    form = re.search(r'<form class="dk-row-action" method="post"[^>]*\s+action="/physicianview/'
                     rf'action/transfer_out/{physician.id}"[^>]*>\s*<input type="hidden" '
                     r'name="csrf_token" value="[^"]+">', page)
    assert form, "no 调离 form on the physician's row"
    # A physician not yet included is offered 允许报名, not 取消报名 (000 §7); an included one
    # the other way round.
    assert f'id="row-allow_enrollment-{physician.id}"' in page
    assert f'id="row-cancel_enrollment-{physician.id}"' not in page
    assert "调离</button>" in page and "取消报名</button>" in page
    # The button opens the 调离 page (it answered 405 before).
    response = post(client, f"/physicianview/action/transfer_out/{physician.id}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/physicianview/transfer-out/{physician.id}")
    assert "调离" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_record_action_needs_the_csrf_token_a_post_and_a_record_in_scope(as_role):
    client = as_role("institution")
    physician = _hospital_physician_without_enrollment()
    url = f"/physicianview/action/allow_enrollment/{physician.id}"
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 400  # no CSRF token
    assert db.session.query(Enrollment).filter_by(physician_id=physician.id).count() == 0
    # Another institution's physician: not found, and nothing happens.
    other = _clinic_physician()
    before = db.session.query(Enrollment).filter_by(physician_id=other.id).count()
    assert post(client, f"/physicianview/action/reset_password/{other.id}").status_code == 404
    assert post(client, f"/physicianview/action/transfer_out/{other.id}").status_code == 404
    db.session.expire_all()
    assert db.session.query(Enrollment).filter_by(physician_id=other.id).count() == before
    # An action the role does not hold (the administration's 驳回 on 报名进度): refused.
    assert post(client, "/enrollmentview/action/reject_by_administration/1").status_code in (
        403, 404)
    # With the token, in scope: done.
    assert post(client, url).status_code == 302
    assert "已允许报名 1 人" in flashes(client)
    assert db.session.query(Enrollment).filter_by(physician_id=physician.id).count() == 1


def test_the_administrations_reject_button_opens_its_reason_page(as_role):
    _approved_enrollment(as_role)
    enrollment = db.session.query(Enrollment).filter(Enrollment.submitted_at.isnot(None)).one()
    district = as_role("district")
    response = post(district, f"/enrollmentview/action/reject_by_administration/{enrollment.id}")
    assert response.status_code == 302
    page = district.get(response.headers["Location"]).get_data(as_text=True)
    assert "原因" in page and 'name="reason"' in page


def test_enrollment_progress_show_page_reads_in_chinese(as_role):
    _approved_enrollment(as_role)
    enrollment = db.session.query(Enrollment).filter(Enrollment.submitted_at.isnot(None)).one()
    for role in ("institution", "city"):
        page = as_role(role).get(f"/enrollmentview/show/{enrollment.id}").get_data(as_text=True)
        for label in ("证件号码", "考核程序", "一般程序", "报名状态", "待参加考核", "审核记录",
                      "基本信息", "驳回"):
            assert label in page, (role, label)
        text = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", page, flags=re.S))
        assert not CODE.search(text), CODE.search(text)
        assert "Form Data" not in page and "None" not in text
    # Another institution's enrollment: not found.
    assert as_role("district").get(f"/enrollmentview/show/{enrollment.id}").status_code == 200
    clinic = as_role("institution").application.test_client()
    from tests.conftest import login

    login(clinic, "NX1008622")
    assert clinic.get(f"/enrollmentview/show/{enrollment.id}").status_code == 404


def test_exemption_review_names_the_physician_and_opens_the_proof(as_role):
    doctor = _approved_enrollment(as_role)
    _apply(doctor)
    exemption = db.session.query(Exemption).one()
    hospital = as_role("institution")
    for url in ("/exemptionview/list/", f"/exemptionview/show/{exemption.id}"):
        page = hospital.get(url).get_data(as_text=True)
        assert "王医生" in page and "object at 0x" not in page, url
    page = hospital.get(f"/exemptionview/show/{exemption.id}").get_data(as_text=True)
    link = re.search(r'<a href="(/files/\d+)" target="_blank" rel="noopener">证明.jpg</a>', page)
    assert link, "the proof is not a link"
    assert hospital.get(link.group(1)).status_code == 200
    from tests.conftest import login

    clinic = as_role("institution").application.test_client()
    login(clinic, "NX1008622")
    assert clinic.get(link.group(1)).status_code == 404


def _search_field(page, column):
    """The HTML of a list's search field (FAB keeps them as JSON for its filter script)."""
    import json

    for match in re.finditer(rf'"{column}": ("(?:[^"\\]|\\.)*")', page):
        field = json.loads(match.group(1))
        if field.startswith("<select"):
            return field
    raise AssertionError(f"no select for {column}")


def test_filters_offer_the_chinese_labels_and_find_by_them(as_role):
    _approved_enrollment(as_role)
    client = as_role("institution")
    page = client.get("/enrollmentview/list/").get_data(as_text=True)
    # 报名进度 has the manual's search bar: 报名状态 a select of the labels sending the codes.
    state = re.search(r'<select id="bar-state".*?</select>', page, re.S).group(0)
    assert ">待报名<" in state and 'value="awaiting_exam"' in state
    assert "Procedure" not in page
    found = client.get("/enrollmentview/list/?_flt_0_state=awaiting_exam").get_data(
        as_text=True)
    assert "王医生" in found
    physicians = client.get("/physicianview/list/").get_data(as_text=True)
    assert ">临床<" in _search_field(physicians, "practice_category")


def test_audit_log_reads_in_the_manuals_words(as_role):
    _approved_enrollment(as_role)
    page = as_role("city").get("/auditlogview/list/").get_data(as_text=True)
    assert "医疗卫生机构审核：提交" in page and "待考核机构复核" in page
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", page, flags=re.S))
    assert not re.search(r"\b(institution_approve|pending_assessment_review|enrollment)\b",
                         text)
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d+", text), "microseconds shown"
    assert db.session.query(AuditLog).count() > 0


def test_error_pages_are_chinese_and_keep_the_status(as_role, province):
    client = as_role("institution")
    missing = client.get("/physicianview/show/999999")
    assert missing.status_code == 404
    assert "未找到" in missing.get_data(as_text=True)
    assert 'lang="zh-CN"' in missing.get_data(as_text=True)
    forbidden = client.get("/schedulewindowview/add")
    assert forbidden.status_code == 403 and "没有权限" in forbidden.get_data(as_text=True)
    province.config["MAX_CONTENT_LENGTH"], limit = 1024, province.config["MAX_CONTENT_LENGTH"]
    try:
        too_big = client.post("/roster/import/", data={
            "csrf_token": _token_from_session(client),
            "file": (io.BytesIO(b"0" * 4096), "big.xlsx")}, content_type="multipart/form-data")
    finally:
        province.config["MAX_CONTENT_LENGTH"] = limit
    assert too_big.status_code == 413
    body = too_big.get_data(as_text=True)
    assert "文件过大" in body and "Request Entity Too Large" not in body


def test_every_page_says_it_is_chinese(as_role):
    for role, url in (("institution", "/"), ("institution", "/physicianview/list/"),
                      ("physician", "/me/")):
        assert '<html lang="zh-CN">' in as_role(role).get(url).get_data(as_text=True), url


def test_a_related_record_in_a_cell_reads_by_its_name_not_as_a_python_object(province):
    import datetime

    from models import Department
    from views.base import _display

    departments = db.session.query(Department).order_by(Department.id).limit(2).all()
    assert _display(departments[0]) == departments[0].name
    assert _display(departments) == "、".join(d.name for d in departments)
    enrollment = db.session.query(Enrollment).first()
    assert _display(enrollment) == enrollment.physician.name
    assert _display(datetime.datetime(2026, 5, 1, 9, 30, 15, 123456)) == "2026-05-01 09:30"
    assert _display(None) == "" and _display(True) == "是"


def test_account_pages_lead_home_and_to_each_other(as_role):
    doctor = as_role("physician")
    password = doctor.get("/account/password").get_data(as_text=True)
    assert 'href="/" id="back-home"' in password and 'href="/account/mobile"' in password
    mobile = doctor.get("/account/mobile").get_data(as_text=True)
    assert 'href="/" id="back-home"' in mobile and 'href="/account/password"' in mobile


def test_the_agreement_stays_ticked_after_a_failed_login(client):
    from tests.conftest import login

    failed = login(client, "NX1008611", password="wrong-password")
    assert failed.status_code == 400
    assert re.search(r'id="agree" value="y"\s+checked', failed.get_data(as_text=True))


def test_the_roster_has_the_manuals_tabs_and_a_labelled_add_button(as_role):
    page = as_role("institution").get("/physicianview/list/").get_data(as_text=True)
    assert ">未确认参加报名<" in page and ">已确认参加<" in page
    assert re.search(r'id="btn-add">\s*<i class="fa fa-plus" aria-hidden="true"></i> 新增医师', page)

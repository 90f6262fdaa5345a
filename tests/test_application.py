"""申请考核机构 (manual 000 §4, 002 2.2.4): opened by the administration, inside the window,
4 required + 1 optional attachment checked by content and size, approved or rejected."""
import io
import os

from PIL import Image

from app.extensions import db
from models import AssessmentApplication, Institution, StoredFile
from models.account import AppUser
from tests.conftest import flashes, post


def _png(size=(60, 40)):
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _upload(client, slot, data, name):
    token = client.get("/account/password").get_data(as_text=True).split(
        'name="csrf_token" value="')[1].split('"')[0]
    return client.post(f"/institution/application/upload/{slot}", data={
        "csrf_token": token, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data")


def _clinic():
    return db.session.query(Institution).filter_by(account="NX1008622").one()


def _open_for_clinic(as_role):
    district_admin = as_role("city")
    post(district_admin, "/institutionview/action_post",
         {"action": "open_application", "rowid": str(_clinic().id)})
    db.session.refresh(_clinic())
    assert _clinic().application_open


def test_applying_is_refused_until_the_administration_opens_it(as_role):
    clinic = _login_clinic()
    page = clinic.get("/institution/application/").get_data(as_text=True)
    assert "主管卫生行政部门尚未开通本机构的考核机构申请权限" in page
    refused = _upload(clinic, 1, PDF, "登记表.pdf")
    assert refused.status_code == 400
    assert db.session.query(StoredFile).count() == 0


def _login_clinic():
    from flask import current_app

    from tests.conftest import login

    client = current_app.test_client()
    assert login(client, "NX1008622").status_code == 302
    return client


def test_attachments_are_checked_by_content_and_size(as_role):
    _open_for_clinic(as_role)
    clinic = _login_clinic()
    renamed_exe = _upload(clinic, 1, b"MZ\x90\x00" + os.urandom(200), "登记表.pdf")
    assert renamed_exe.status_code == 400
    assert "文件格式不正确" in renamed_exe.get_data(as_text=True)
    too_big = _upload(clinic, 1, b"%PDF-" + b"0" * (10 * 1024 * 1024), "big.pdf")
    assert too_big.status_code == 400 and "文件过大" in too_big.get_data(as_text=True)
    assert db.session.query(StoredFile).count() == 0


def test_submit_needs_the_four_required_attachments_then_approval_grants_the_role(as_role,
                                                                                   province):
    _open_for_clinic(as_role)
    clinic = _login_clinic()
    for slot in (1, 2, 3):
        assert _upload(clinic, slot, PDF, f"附件{slot}.pdf").status_code == 302
    early = post(clinic, "/institution/application/submit")
    assert early.status_code == 400
    assert "医师定期考核工作制度和具体实施方案" in early.get_data(as_text=True)
    assert _upload(clinic, 4, _png(), "方案.png").status_code == 302
    stored = db.session.query(StoredFile).filter_by(original_name="方案.png").one()
    path = province.config["UPLOAD_DIR"] / stored.storage_name
    assert path.exists() and "static" not in str(path)
    assert post(clinic, "/institution/application/submit").status_code == 302
    application = db.session.query(AssessmentApplication).one()
    assert application.state == "submitted"

    # The administration reads the attachments and approves.
    city = as_role("city")
    show = city.get(f"/assessmentapplicationview/show/{application.id}").get_data(as_text=True)
    assert "方案.png" in show
    assert city.get(f"/files/{stored.id}").data[:8] == b"\x89PNG\r\n\x1a\n"
    # 龙华区 does not govern the clinic (it is in 美兰区): the file is not there for it.
    assert as_role("district").get(f"/files/{stored.id}").status_code == 404
    post(city, "/assessmentapplicationview/action_post",
         {"action": "approve", "rowid": str(application.id)})
    db.session.expire_all()
    assert _clinic().is_assessment
    account = db.session.query(AppUser).filter_by(username="NX1008622").one()
    assert "考核机构" in {role.name for role in account.roles}


def test_rejection_needs_a_reason(as_role):
    _open_for_clinic(as_role)
    clinic = _login_clinic()
    for slot in (1, 2, 3, 4):
        _upload(clinic, slot, PDF, f"附件{slot}.pdf")
    post(clinic, "/institution/application/submit")
    application = db.session.query(AssessmentApplication).one()
    city = as_role("city")
    empty = post(city, f"/assessmentapplicationview/reject/{application.id}", {"reason": ""})
    assert empty.status_code == 400 and "请填写原因" in empty.get_data(as_text=True)
    post(city, f"/assessmentapplicationview/reject/{application.id}", {"reason": "材料不全"})
    db.session.refresh(application)
    assert application.state == "rejected" and application.reason == "材料不全"
    assert "已驳回" in flashes(city)

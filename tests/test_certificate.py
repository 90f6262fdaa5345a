"""考核结果 and certificates (DOMAIN §10, manuals 002 2.3.0 and 003 2.2.6): the physician's
results page, the PDF (opened, its text read, its font and photo found, its QR decoded and
followed), the public verification page, batch printing by a job, 历史考核结果查询 with its
export, revocation, and every bad input refused with nothing changed."""
import io
import re

import openpyxl
import pypdf
import pytest
from PIL import Image
from rq import SimpleWorker
from werkzeug.datastructures import FileStorage

from app import jobs
from app.extensions import db
from models import AuditLog, Certificate, Enrollment, Physician
from models import workflow
from commands import certificate as certifying
from security import scope
from tests.conftest import flashes, post
from tests.helpers import fresh


# --- set-up ---------------------------------------------------------------------------------


def _enrollment(name="王医生"):
    db.session.expire_all()
    return db.session.query(Enrollment).join(Physician).filter(Physician.name == name).one()


def exported(client, filters):
    """导出 on 历史考核结果 with ``filters``, run by a worker here: the sheet's rows from the
    header on (the line above it says the scope and the filters)."""
    from models import ExportJob

    assert post(client, "/certificates/export", filters).status_code == 302
    SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)
    db.session.expire_all()
    export = db.session.query(ExportJob).order_by(ExportJob.id.desc()).first()
    assert export.status == "done" and export.kind == "history", export.reason
    assert set(export.filters) <= {"result", "cycle", "name", "id_number", "department",
                                   "institution", "category", "level", "procedure"}
    response = client.get(f"/exports/{export.id}/download")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert sheet.title == "历史考核结果查询"
    return list(sheet.values)[1:]


def passed(name="王医生"):
    """The physician's enrollment, 合格 through the state machine (as a hand-in would)."""
    enrollment = _enrollment(name)
    enrollment.procedure = enrollment.procedure or "simple"
    workflow.force(enrollment, "awaiting_exam", reason="test set-up")
    workflow.apply(enrollment, "exam_passed")
    db.session.commit()
    return enrollment


def with_photo(name="王医生", colour=(200, 30, 30)):
    """The physician's registered photo (and its 5:7 thumbnail), uploaded as a physician would."""
    from app import storage

    physician = db.session.query(Physician).filter_by(name=name).one()
    out = io.BytesIO()
    Image.new("RGB", (300, 420), colour).save(out, format="JPEG")
    out.seek(0)
    photo, thumb = storage.save_photo(FileStorage(out, filename="me.jpg"), physician.id)
    db.session.flush()
    physician.photo_id, physician.photo_thumb_id = photo.id, thumb.id
    db.session.commit()
    return physician


def print_one(client, enrollment_id, download=False):
    data = {"enrollment_id": enrollment_id}
    if download:
        data["download"] = "1"
    return post(client, "/certificates/print", data)


def open_pdf(client, enrollment_id, download=False):
    """打印 through the page: the redirect to the PDF, then the PDF's bytes."""
    response = print_one(client, enrollment_id, download)
    assert response.status_code == 302, (response.status_code, flashes(client))
    assert "/certificates/" in response.headers["Location"], flashes(client)
    pdf = client.get(response.headers["Location"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    return pdf


def text_of(data):
    reader = pypdf.PdfReader(io.BytesIO(data))
    # (pypdf reads the CID font's two-byte codes with a NUL between characters)
    return ["".join(page.extract_text().replace("\x00", "").split()) for page in reader.pages]


def embedded_fonts(data):
    """The fonts of the first page that carry their glyphs in the file."""
    found = []
    page = pypdf.PdfReader(io.BytesIO(data)).pages[0]
    for font in page["/Resources"]["/Font"].values():
        font = font.get_object()
        for descendant in font.get("/DescendantFonts", [font]):
            descriptor = descendant.get_object().get("/FontDescriptor")
            if descriptor is not None and any(
                    key in descriptor.get_object() for key in ("/FontFile", "/FontFile2",
                                                               "/FontFile3")):
                found.append(str(font["/BaseFont"]))
    return found


def images_of(data, page=0):
    return [image.image for image in pypdf.PdfReader(io.BytesIO(data)).pages[page].images]


def decode_qr(images):
    """The texts of the QR codes among ``images`` (zxing-cpp, a real decoder)."""
    import zxingcpp

    texts = []
    for image in images:
        texts += [barcode.text for barcode in zxingcpp.read_barcodes(image.convert("RGB"))
                  if barcode.format == zxingcpp.BarcodeFormat.QRCode]
    return texts


def run_jobs():
    from app import jobs

    SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)


# --- the physician ----------------------------------------------------------------------------


def test_the_physician_prints_a_certificate_that_anyone_can_verify(as_role):
    enrollment = passed()
    with_photo()
    doctor = as_role("physician")
    page = doctor.get("/me/results").get_data(as_text=True)
    assert "合格" in page and "打印" in page and "下载" in page

    pdf = open_pdf(doctor, enrollment.id)
    assert pdf.headers["Content-Disposition"].startswith("inline")
    certificate = db.session.query(Certificate).one()
    assert re.fullmatch(r"DK\d{4}\d{8}", certificate.number)
    text = text_of(pdf.data)[0]
    for expected in ("王医生", certificate.number, "460*****0424", "演示市第一人民医院",
                     "临床", "执业医师", certificate.cycle_name, "合格", "龙华区卫生健康委员会"):
        assert expected in text, expected
    assert "460100198503120424" not in text  # the full ID number is never printed
    assert any("UMing" in font for font in embedded_fonts(pdf.data))
    # Nothing on it needs the fallback font, so it is not parsed nor embedded.
    assert not any("Noto" in font for font in embedded_fonts(pdf.data))

    images = images_of(pdf.data)
    photos = [image for image in images if image.size == (250, 350)]
    assert photos, [image.size for image in images]
    assert photos[0].convert("RGB").getpixel((125, 175))[0] > 150  # the red test photo
    urls = decode_qr(images)
    assert urls == [f"http://localhost/verify/{certificate.code}"]

    anyone = doctor.application.test_client()  # not logged in
    page = anyone.get(urls[0].replace("http://localhost", ""))
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert certificate.number in body and "王医生" in body and "460*****0424" in body
    assert certificate.cycle_name in body and "有效" in body
    assert "460100198503120424" not in body
    assert db.session.query(AuditLog).filter_by(entity="certificate", entity_id=certificate.id,
                                                action="issue").count() == 1


def test_the_qr_code_points_at_the_configured_public_address(as_role, province):
    enrollment = passed()
    doctor = as_role("physician")
    province.config["CERTIFICATE_VERIFY_BASE_URL"] = "https://dingkao.example.gov.cn/"
    try:
        pdf = open_pdf(doctor, enrollment.id)
    finally:
        province.config["CERTIFICATE_VERIFY_BASE_URL"] = ""
    code = db.session.query(Certificate).one().code
    assert decode_qr(images_of(pdf.data)) == [f"https://dingkao.example.gov.cn/verify/{code}"]


def test_download_is_an_attachment_and_printing_again_gives_the_same_certificate(as_role):
    enrollment = passed()
    doctor = as_role("physician")
    first = open_pdf(doctor, enrollment.id, download=True)
    assert first.headers["Content-Disposition"].startswith("attachment")
    open_pdf(doctor, enrollment.id)
    assert db.session.query(Certificate).count() == 1
    # Without a registered photo the frame says so (the certificate is still printed).
    assert "无照片" in text_of(first.data)[0]


def test_the_results_page_shows_each_paper_and_the_reason_of_a_fail(as_role):
    from tests.test_exam import bank, paper

    enrollment = _enrollment()
    enrollment.procedure = "general"
    workflow.force(enrollment, "awaiting_exam", reason="test set-up")
    db.session.commit()
    humanities = paper("humanities", "general", bank("humanities"))
    professional = paper("professional", "general", bank("professional"))
    from models import PaperResult

    db.session.add_all([
        PaperResult(enrollment=enrollment, paper=humanities, best_score=80, passed=True,
                    attempts_used=1),
        PaperResult(enrollment=enrollment, paper=professional, best_score=40, passed=False,
                    attempts_used=1)])
    workflow.apply(enrollment, "exam_failed")
    workflow.apply(enrollment, "makeup_confirmed")
    workflow.apply(enrollment, "makeup_failed")
    db.session.commit()

    doctor = as_role("physician")
    page = doctor.get("/me/results").get_data(as_text=True)
    assert humanities.name in page and professional.name in page
    assert "80" in page and "40" in page and "1 / 1" in page
    assert "不合格" in page and "补考未通过" in page
    assert "print-certificate" not in page
    # Nor can the physician print one by hand.
    response = print_one(doctor, enrollment.id)
    assert response.status_code == 302
    assert any("王医生未考核合格（不合格）" in m for m in flashes(doctor)), flashes(doctor)
    assert db.session.query(Certificate).count() == 0


def test_an_unqualified_rating_is_the_reason_shown(as_role):
    enrollment = _enrollment()
    workflow.force(enrollment, "pending_assessment_review", reason="test set-up")
    enrollment_id = enrollment.id
    db.session.commit()
    enrollment = db.session.get(Enrollment, enrollment_id)
    enrollment.ethics_rating = "fail"
    workflow.apply(enrollment, "rated_unqualified", reason="收受回扣")
    db.session.commit()
    page = as_role("physician").get("/me/results").get_data(as_text=True)
    assert "职业道德评定为不合格" in page and "收受回扣" in page


def test_an_exempted_paper_shows_as_exempted(as_role):
    from models import Exemption
    from tests.test_exam import bank, paper

    enrollment = passed()
    paper("humanities", enrollment.procedure, bank("humanities"))
    exemption = Exemption(enrollment=enrollment, condition="test", waived_paper="humanities")
    db.session.add(exemption)
    db.session.flush()
    workflow.force(exemption, "approved", reason="test set-up")
    db.session.commit()
    page = as_role("physician").get("/me/results").get_data(as_text=True)
    assert "免考" in page


# --- institutions and administrations --------------------------------------------------------


def test_the_institution_prints_one_and_the_administration_sees_the_same(as_role):
    enrollment = passed()
    hospital = as_role("institution")
    page = hospital.get("/certificates/").get_data(as_text=True)
    assert "王医生" in page and "打印" in page
    open_pdf(hospital, enrollment.id)
    number = db.session.query(Certificate).one().number
    for role in ("district", "city", "province"):
        page = as_role(role).get("/certificates/").get_data(as_text=True)
        assert "王医生" in page and number in page, role
        open_pdf(as_role(role), enrollment.id)
    assert db.session.query(Certificate).count() == 1


def test_a_batch_of_selected_rows_makes_one_pdf_of_n_pages_for_the_requester_only(as_role):
    names = [p.name for p in db.session.query(Physician).join(Enrollment).filter(
        Physician.institution.has(account="NX1008611")).order_by(Physician.id)][:3]
    enrollments = [passed(name) for name in names]
    hospital = as_role("institution")
    response = hospital.post("/certificates/batch", data={
        "csrf_token": _token(hospital), "rowid": [e.id for e in enrollments]})
    assert response.status_code == 302, flashes(hospital)
    job_url = response.headers["Location"]
    assert "/certificates/jobs/" in job_url
    assert "正在生成证书：0 / 3" in hospital.get(job_url).get_data(as_text=True)
    run_jobs()
    page = hospital.get(job_url).get_data(as_text=True)
    file_url = re.search(r'href="(/files/\d+)"', page).group(1)
    data = hospital.get(file_url).data
    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) == 3
    texts = text_of(data)
    for name, text in zip(names, texts):
        assert name in text
    # Nobody else gets the job's page or its file, not even the same institution's district.
    other = as_role("district")
    assert other.get(job_url).status_code == 404
    assert other.get(file_url).status_code == 404


def test_print_all_qualified_of_a_department(as_role):
    from models import Department

    internal = db.session.query(Department).filter_by(name="内科").join(
        Department.institution).filter_by(account="NX1008611").one()
    names = [p.name for p in db.session.query(Physician).join(Enrollment).filter(
        Physician.department_id == internal.id)]
    assert len(names) >= 3
    for name in names[:3]:
        passed(name)
    hospital = as_role("institution")
    # The third one's certificate was revoked: the department's batch leaves it out.
    revoked = certifying.issue(scope.SYSTEM, _enrollment(names[2]).id)
    certifying.revoke(scope.SYSTEM, revoked.id, "经认定考试作弊")
    response = hospital.post("/certificates/batch", data={
        "csrf_token": _token(hospital), "department_id": internal.id})
    assert response.status_code == 302 and "/jobs/" in response.headers["Location"], \
        flashes(hospital)
    run_jobs()
    page = hospital.get(response.headers["Location"]).get_data(as_text=True)
    data = hospital.get(re.search(r'href="(/files/\d+)"', page).group(1)).data
    texts = text_of(data)
    assert len(texts) == 2 and names[0] in texts[0] and names[1] in texts[1]


def _token(client):
    from tests.conftest import _token_from_session

    return _token_from_session(client)


def test_bad_batches_are_refused_with_nothing_issued(as_role):
    from models import Department

    hospital = as_role("institution")
    # No rows chosen.
    response = post(hospital, "/certificates/batch", {})
    assert response.status_code == 302
    assert "请选择要打印证书的医师" in "".join(flashes(hospital))
    # A row that has not passed.
    enrollment = _enrollment()
    response = post(hospital, "/certificates/batch", {"rowid": enrollment.id})
    assert "以下医师未考核合格：王医生" in "".join(flashes(hospital))
    # A department with nobody qualified.
    surgery = db.session.query(Department).filter_by(name="外科").join(
        Department.institution).filter_by(account="NX1008611").one()
    post(hospital, "/certificates/batch", {"department_id": surgery.id})
    assert "外科没有考核合格的医师" in "".join(flashes(hospital))
    assert db.session.query(Certificate).count() == 0
    from app import jobs

    assert jobs.queue().count == 0


def test_history_filters_and_export(as_role):
    import openpyxl

    passed()
    hospital = as_role("institution")
    page = hospital.get("/certificates/?result=passed").get_data(as_text=True)
    assert "王医生" in page
    page = hospital.get("/certificates/?result=failed").get_data(as_text=True)
    assert "王医生" not in page
    page = hospital.get("/certificates/?name=王").get_data(as_text=True)
    assert "王医生" in page
    page = hospital.get("/certificates/?id_number=460100850312042").get_data(as_text=True)
    assert "王医生" in page  # the 15-digit form finds the same person
    rows = exported(hospital, {"result": "passed", "page": "2"})
    assert rows[0][1] == "姓名" and len(rows) == 2 and rows[1][1] == "王医生"
    assert rows[1][2] == "460*****0424"


# --- revocation and verification ------------------------------------------------------------


def test_the_administration_revokes_with_a_reason_and_the_page_says_revoked(as_role):
    enrollment = passed()
    doctor = as_role("physician")
    open_pdf(doctor, enrollment.id)
    certificate = db.session.query(Certificate).one()
    district = as_role("district")
    # Without a reason: refused, nothing changed.
    response = post(district, f"/certificates/{certificate.id}/revoke", {"reason": " "})
    assert response.status_code == 400 and "请填写原因" in response.get_data(as_text=True)
    fresh()
    assert db.session.get(Certificate, certificate.id).revoked_at is None
    response = post(district, f"/certificates/{certificate.id}/revoke",
                    {"reason": "考试作弊，经省卫健委认定"})
    assert response.status_code == 302
    fresh()
    certificate = db.session.get(Certificate, certificate.id)
    assert certificate.revoked_reason == "考试作弊，经省卫健委认定"
    assert db.session.query(AuditLog).filter_by(entity="certificate", action="revoke").count() == 1
    page = doctor.application.test_client().get(f"/verify/{certificate.code}")
    assert page.status_code == 200 and "已撤销" in page.get_data(as_text=True)
    # It can no longer be printed, by anyone.
    assert "已被撤销" in doctor.get("/me/results").get_data(as_text=True)
    response = print_one(doctor, enrollment.id)
    assert response.status_code == 302 and "已被撤销" in "".join(flashes(doctor))
    response = doctor.get(f"/certificates/{certificate.id}/pdf")
    assert response.status_code == 302
    # Revoking twice is refused.
    response = post(district, f"/certificates/{certificate.id}/revoke", {"reason": "再次"})
    assert response.status_code == 400


def test_only_administrations_revoke(as_role):
    enrollment = passed()
    open_pdf(as_role("institution"), enrollment.id)
    certificate = db.session.query(Certificate).one()
    assert post(as_role("institution"), f"/certificates/{certificate.id}/revoke",
                {"reason": "x"}).status_code in (403, 404)
    assert post(as_role("physician"), f"/certificates/{certificate.id}/revoke",
                {"reason": "x"}).status_code == 403
    fresh()
    assert db.session.get(Certificate, certificate.id).revoked_at is None


@pytest.mark.parametrize("code,status,message", [
    ("short", 400, "不是有效的核验码"),
    ("a" * 22, 404, "可能是伪造或篡改"),
    ("<script>alert(1)</script>", 400, "不是有效的核验码"),
])
def test_the_verification_page_refuses_unknown_and_malformed_codes(client, code, status,
                                                                  message):
    response = client.get(f"/verify/{code}")
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_a_tampered_code_is_unknown(as_role, client):
    enrollment = passed()
    open_pdf(as_role("physician"), enrollment.id)
    code = db.session.query(Certificate).one().code
    tampered = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert client.get(f"/verify/{tampered}").status_code == 404


def test_the_verification_page_is_rate_limited(province):
    from app import create_app
    from tests.conftest import _config

    app = create_app({**_config(), "VERIFY_RATE_LIMIT": "3 per minute"})
    anyone = app.test_client()
    answers = [anyone.get("/verify/" + "a" * 22) for _ in range(4)]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert "核验过于频繁，请稍后再试" in answers[-1].get_data(as_text=True)


def test_a_name_with_a_character_the_main_font_lacks_is_printed_from_the_fallback(as_role):
    """鿏 (U+9FCF) is not in AR PL UMing CN: that character is drawn from Noto Serif CJK SC."""
    physician = db.session.query(Physician).filter_by(name="王医生").one()
    physician.name = "李鿏"
    db.session.commit()
    enrollment = passed("李鿏")
    pdf = open_pdf(as_role("physician"), enrollment.id)
    fonts = embedded_fonts(pdf.data)
    assert any("UMing" in font for font in fonts) and any("Noto" in font for font in fonts)
    assert "李鿏" in text_of(pdf.data)[0]


def test_a_missing_font_is_named(as_role, province):
    enrollment = passed()
    doctor = as_role("physician")
    province.config["CERTIFICATE_FONT"] = "/nonexistent/NotoSerifCJK-Regular.ttc"
    try:
        response = print_one(doctor, enrollment.id)
        response = doctor.get(response.headers["Location"])
    finally:
        province.config["CERTIFICATE_FONT"] = ""
    assert response.status_code == 302
    assert "NotoSerifCJK-Regular.ttc" in "".join(flashes(doctor))


def test_a_batch_without_the_font_says_which_font_is_missing(as_role, province):
    enrollment = passed()
    hospital = as_role("institution")
    response = post(hospital, "/certificates/batch", {"rowid": enrollment.id})
    province.config["CERTIFICATE_FONT"] = "/nonexistent/NotoSerifCJK-Regular.ttc"
    try:
        run_jobs()
    finally:
        province.config["CERTIFICATE_FONT"] = ""
    page = hospital.get(response.headers["Location"]).get_data(as_text=True)
    assert "未找到证书字体/nonexistent/NotoSerifCJK-Regular.ttc" in page
    assert 'http-equiv="refresh"' not in page


@pytest.mark.parametrize("role", ["institution", "district"])
def test_print_from_the_enrollment_progress_list(as_role, role):
    """报名进度 → tick → 打印证书: the same batch job; a row not 合格 refuses the batch, another
    tenant's row is a 404."""
    enrollment = passed()
    client = as_role(role)
    listing = client.get("/enrollmentview/list/").get_data(as_text=True)
    assert "打印证书" in listing
    response = post(client, "/enrollmentview/action_post",
                    {"action": "print_certificates", "rowid": str(enrollment.id)})
    assert response.status_code == 302 and "/certificates/jobs/" in response.headers["Location"]
    run_jobs()
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    data = client.get(re.search(r'href="(/files/\d+)"', page).group(1)).data
    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) == 1
    assert "王医生" in text_of(data)[0]

    other = db.session.query(Enrollment).filter(Enrollment.id != enrollment.id).join(
        Physician).filter(Physician.institution.has(account="NX1008611")).first()
    post(client, "/enrollmentview/action_post",
         {"action": "print_certificates", "rowid": str(other.id)})
    assert "未考核合格" in "".join(flashes(client))
    stranger = db.session.query(Enrollment).join(Physician).filter(
        Physician.institution.has(account="NX1008622")).first()
    refused = post(client, "/enrollmentview/action_post",
                   {"action": "print_certificates", "rowid": str(stranger.id)})
    assert refused.status_code == 404

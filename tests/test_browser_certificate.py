"""打印 end to end in headless Chromium: 王医生 (合格, with a registered photo) opens 考核结果 on a
phone, reads the per-paper results, 【打印】 opens the certificate's PDF in a new tab and
【下载】 saves it; the QR code's address opens the verification page for anyone. On a desktop
the institution opens 历史考核结果查询, prints one row and a batch (made by the worker, with
its progress page and the download), and the district revokes the certificate with a reason,
after which the verification page says revoked."""
import io
import os
import re
from pathlib import Path

import pypdf
import pytest
from playwright.sync_api import expect

from tests import test_browser as shared
from tests.test_browser import DESKTOP, Visit, _log_in, _screenshot
from tests.test_browser_enrollment import PhoneVisit
from tests.test_certificate import decode_qr, images_of, text_of

pytestmark = pytest.mark.browser

workdir = shared.workdir
base_url = shared.base_url
browser = shared.browser


@pytest.fixture(scope="module")
def shots():
    path = Path(os.environ.get("CERTIFICATE_SHOTS", "/tmp/shots-certs"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def live_app(workdir):
    """The demo province; 王医生 and two colleagues 合格, 王医生 with a registered photo."""
    from flask_migrate import upgrade

    from app import create_app, demo
    from app.cli import ensure_roles
    from app.extensions import db
    from models import Enrollment, Institution, Physician, workflow

    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'browser-certificate.db'}",
        "UPLOAD_DIR": workdir / "uploads", "CAPTCHA_ENABLED": False,
        "AUTH_RATE_LIMIT": "100000 per minute", "SECRET_KEY": "browser-test-secret",
        "SERVER_NAME": None,
    })
    with app.app_context():
        upgrade()
        ensure_roles()
        demo.seed_demo_province()
        demo.seed_demo_exams()
        enrollments = db.session.query(Enrollment).join(Physician).join(
            Institution, Institution.id == Enrollment.institution_id).filter(
            Institution.account == "NX1008611").order_by(
            (Physician.name != "王医生"), Enrollment.id).limit(3).all()
        for enrollment in enrollments:
            enrollment.procedure = "simple"
            workflow.force(enrollment, "awaiting_exam", reason="test set-up")
            workflow.apply(enrollment, "exam_passed")
        db.session.commit()
        from tests.test_certificate import with_photo

        with_photo("王医生", colour=(60, 120, 200))
        db.session.remove()
    return app


def _worker(app):
    from rq import SimpleWorker

    from app import jobs

    with app.app_context():
        SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)


def test_physician_prints_and_downloads_the_certificate(browser, base_url, live_app, shots,
                                                        capsys):
    from app.demo import DEMO_PHYSICIAN_ID

    phone = PhoneVisit(browser, base_url)
    page = phone.page
    _log_in(page, DEMO_PHYSICIAN_ID, physician=True)
    page.goto("/me/results")
    expect(page.locator("h4")).to_have_text("考核结果")
    expect(page.locator(".text-success").first).to_contain_text("考核结果: 合格")
    _screenshot(page, shots, "certificate-1-results-phone.png", capsys)

    with page.expect_popup() as popup:
        page.locator(".print-certificate").first.click()
    pdf_page = popup.value
    pdf_page.wait_for_load_state()
    assert re.search(r"/certificates/\d+/pdf$", pdf_page.url), pdf_page.url

    with page.expect_download() as download:
        page.locator(".download-certificate").first.click()
    saved = Path(download.value.path())
    data = saved.read_bytes()
    assert data.startswith(b"%PDF-")
    assert download.value.suggested_filename.startswith("DK")
    text = text_of(data)[0]
    assert "王医生" in text and "合格" in text
    urls = decode_qr(images_of(data))
    assert len(urls) == 1 and urls[0].startswith(base_url + "/verify/")
    phone.context.close()

    anyone = Visit(browser, base_url, DESKTOP)
    anyone.page.goto(urls[0])
    expect(anyone.page.locator("#verify-valid")).to_contain_text("该证书由本系统签发")
    expect(anyone.page.locator("#verify-details")).to_contain_text("王医生")
    _screenshot(anyone.page, shots, "certificate-2-verify.png", capsys)
    anyone.page.goto("/verify/not-a-code")
    expect(anyone.page.locator("#verify-error")).to_contain_text("不是有效的核验码")
    anyone.close()

    # The PDF page itself, as the person who printed it sees it (rendered to PNG for a look).
    _pdf_preview(data, shots / "certificate-3-pdf.png", capsys)


def _pdf_preview(data, path, capsys):
    """pdftoppm's rendering of the first page, when poppler is installed (to look at)."""
    import shutil
    import subprocess

    if shutil.which("pdftoppm") is None:
        return
    source = path.with_suffix(".pdf")
    source.write_bytes(data)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(source),
                    str(path.with_suffix(""))], check=True, timeout=60)
    with capsys.disabled():
        print(f"\n[screenshot] {path}")


def test_institution_prints_a_batch_and_the_district_revokes(browser, base_url, live_app,
                                                             shots, capsys):
    desk = Visit(browser, base_url, DESKTOP)
    page = desk.page
    _log_in(page, "NX1008611")
    page.goto("/certificates/?result=passed")
    expect(page.locator("h3")).to_have_text("历史考核结果查询")
    rows = page.locator("#results input[name=rowid]")
    expect(rows).to_have_count(3)
    _screenshot(page, shots, "certificate-4-history-institution.png", capsys)
    page.select_option("#department", "内科")
    page.click("#search")
    expect(page.locator("#print-department")).to_have_text("打印内科全部合格医师")
    _screenshot(page, shots, "certificate-4b-history-department.png", capsys)
    page.goto("/certificates/?result=passed")
    for index in range(3):
        rows.nth(index).check()
    page.click("#batch-print")
    page.wait_for_url(re.compile(r"/certificates/jobs/"))
    expect(page.locator("#job-progress")).to_contain_text("正在生成证书：0 / 3")
    _screenshot(page, shots, "certificate-5-batch-progress.png", capsys)
    _worker(live_app)
    page.reload()
    expect(page.locator("#job-done")).to_contain_text("3份证书已生成")
    _screenshot(page, shots, "certificate-6-batch-done.png", capsys)
    with page.expect_download() as download:
        page.click("#download")
    data = Path(download.value.path()).read_bytes()
    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) == 3
    assert not desk.problems, desk.problems
    desk.close()

    district = Visit(browser, base_url, DESKTOP)
    page = district.page
    _log_in(page, "district")
    page.goto("/certificates/?name=王医生")
    page.locator("#results a.btn-danger").first.click()
    expect(page.locator("h3")).to_contain_text("撤销证书")
    page.click("#confirm")  # no reason: refused
    expect(page.locator("#form-error")).to_have_text("请填写原因")
    _screenshot(page, shots, "certificate-7-revoke.png", capsys)
    page.fill("#reason", "经省卫生健康委认定考试作弊")
    page.click("#confirm")
    expect(page.locator(".alert-success")).to_contain_text("已撤销")
    expect(page.locator("#results")).to_contain_text("已撤销")
    _screenshot(page, shots, "certificate-8-history-district.png", capsys)
    district.close()

    from app.extensions import db
    from models import Certificate, Physician

    with live_app.app_context():
        code = db.session.query(Certificate).join(
            Physician, Physician.id == Certificate.physician_id).filter(
            Physician.name == "王医生").one().code
        db.session.remove()
    anyone = Visit(browser, base_url, DESKTOP)
    anyone.page.goto(f"/verify/{code}")
    expect(anyone.page.locator("#verify-revoked")).to_contain_text("已于")
    _screenshot(anyone.page, shots, "certificate-9-verify-revoked.png", capsys)
    anyone.close()

"""监考 end to end in headless Chromium with a fake camera (a .y4m video written here from a
face that ships in a package): 王医生 gives the 人脸信息采集授权, passes the 人脸验证 in front of
the camera, takes the paper while snapshots go up in the background, hands in; the face-check
jobs run on an RQ worker on the embedded Redis; the institution opens 监考管理, sees the row
with its similarity and marks it 疑似. A second camera showing another person fails the
verification with the manual's words and cannot start."""
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect, sync_playwright

from tests import faces
from tests import test_browser as shared
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS, Visit, _log_in
from tests.test_browser_enrollment import PhoneVisit

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-proctor")


def write_y4m(path, image, frames=12):
    """A short 640×480 video of ``image`` (centred on grey) for Chromium's fake camera."""
    import cv2

    canvas = np.full((480, 640, 3), 128, np.uint8)
    height, width = image.shape[:2]
    scale = min(460 / height, 620 / width)
    small = cv2.resize(image, (int(width * scale), int(height * scale)))
    top, left = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
    canvas[top:top + small.shape[0], left:left + small.shape[1]] = small
    yuv = cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            out.write(b"FRAME\n" + yuv)
    return path


@pytest.fixture(scope="module")
def workdir():
    return Path(tempfile.mkdtemp(prefix="dingkao-browser-proctoring-"))


@pytest.fixture(scope="module")
def live_app(workdir):
    """The demo province and its papers; 王医生 reviewed (简易程序) with Grace Hopper's photo."""
    import io

    from flask_migrate import upgrade
    from werkzeug.datastructures import FileStorage

    from app import create_app, demo, storage
    from app.cli import ensure_roles
    from app.extensions import db
    from models import Enrollment, Physician, workflow

    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'browser-proctoring.db'}",
        "UPLOAD_DIR": workdir / "uploads", "CAPTCHA_ENABLED": False,
        "AUTH_RATE_LIMIT": "100000 per minute", "SECRET_KEY": "browser-test-secret",
        "SERVER_NAME": None, "FACE_VERIFICATION_REQUIRED": True,
        "SNAPSHOT_INTERVAL_SECONDS": 2,
    })
    with app.app_context():
        upgrade()
        ensure_roles()
        demo.seed_demo_province()
        demo.seed_demo_exams()
        enrollment = db.session.query(Enrollment).join(Physician).filter(
            Physician.name == "王医生").one()
        enrollment.procedure = "simple"
        workflow.force(enrollment, "awaiting_exam", reason="test set-up")
        physician = enrollment.physician
        upload = FileStorage(io.BytesIO(faces.jpeg(faces.grace_hopper())), filename="photo.jpg")
        physician.photo, physician.photo_thumb = storage.save_photo(upload, physician.id)
        db.session.commit()
        db.session.remove()
    return app


# Served over real HTTP like the other browser tests (its live_app is the one above).
base_url = shared.base_url


@pytest.fixture(scope="module")
def cameras(workdir):
    """Two Chromiums: one whose camera shows the physician, one showing another person."""
    same = write_y4m(workdir / "face.y4m", faces.augmented(faces.grace_hopper()))
    other = write_y4m(workdir / "other.y4m", faces.astronaut())
    with sync_playwright() as playwright:
        launched = {}
        try:
            for name, video in (("same", same), ("other", other)):
                launched[name] = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, timeout=30_000,
                    args=CHROMIUM_ARGS + ["--use-fake-device-for-media-stream",
                                          "--use-fake-ui-for-media-stream",
                                          f"--use-file-for-fake-video-capture={video}"])
            yield launched
        finally:
            for chromium in launched.values():
                chromium.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def run_face_checks(app):
    """The face-check worker on the embedded Redis (in this process, on the live app)."""
    from rq import SimpleWorker

    from app import jobs

    with app.app_context():
        worker = SimpleWorker([jobs.queue(jobs.FACE_CHECK_QUEUE)], connection=jobs.connection())
        worker.work(burst=True)


def _open_notice(page):
    page.click("#tool-exam")
    page.locator(".dk-paper").first.get_by_text("进入测评").click()


def test_consent_verification_snapshots_and_the_institution_marks(cameras, base_url,
                                                                   live_app):
    from app.demo import DEMO_PHYSICIAN_ID

    # Another person in front of the camera: consent, then the verification fails.
    other = PhoneVisit(cameras["other"], base_url)
    page = other.page
    _log_in(page, DEMO_PHYSICIAN_ID, physician=True)
    _open_notice(page)
    expect(page.locator("h4")).to_have_text("人脸信息采集授权")
    expect(page.locator("#consent-text")).to_contain_text("保存期限")
    shot(page, "proctor-1-consent-phone.png")
    page.click("#consent-agree")
    expect(page.locator("#verify-face")).to_be_enabled(timeout=TIMEOUT_MS)
    page.wait_for_timeout(800)  # a few frames into the video
    page.click("#verify-face")
    expect(page.locator("#verify-result")).to_have_text("与注册照片不一致")
    expect(page.locator("#start-exam")).to_be_disabled()
    shot(page, "proctor-2-verification-failed-phone.png")
    assert not other.problems, other.problems
    other.close()

    # The physician: verification passes, the attempt sends snapshots, 交卷.
    phone = PhoneVisit(cameras["same"], base_url)
    page = phone.page
    _log_in(page, DEMO_PHYSICIAN_ID, physician=True)
    _open_notice(page)
    expect(page.locator("#verify-face")).to_be_enabled(timeout=TIMEOUT_MS)
    page.wait_for_timeout(800)
    page.click("#verify-face")
    expect(page.locator("#verify-result")).to_have_text("人脸验证通过")
    expect(page.locator("#start-exam")).to_be_enabled()
    shot(page, "proctor-3-verification-passed-phone.png")
    page.click("#start-exam")
    page.wait_for_url(re.compile(r"/me/exams/attempt/\d+$"))
    for _ in range(2):
        with page.expect_response(re.compile(r"/snapshot$"), timeout=15_000) as sent:
            pass
        assert sent.value.status == 200, sent.value.text()
    shot(page, "proctor-4-answering-phone.png")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation(wait_until="load"):
        page.click("#hand-in")
    expect(page.locator("#attempt-outcome")).to_be_visible()
    page.wait_for_timeout(500)  # the hand-in picture leaves with keepalive
    assert not phone.problems, phone.problems
    phone.close()

    run_face_checks(live_app)
    from app.extensions import db
    from models import Snapshot

    with live_app.app_context():
        snapshots = db.session.query(Snapshot).all()
        assert len(snapshots) >= 3
        assert all(s.checked_at is not None for s in snapshots)
        assert {s.kind for s in snapshots} == {"interval", "hand_in"}
        assert min(s.similarity for s in snapshots) >= 0.4, [s.similarity for s in snapshots]
        db.session.remove()

    # The institution: 监考管理, the row, the detail with the pictures, 标记疑似.
    desk = Visit(cameras["same"], base_url, DESKTOP)
    page = desk.page
    _log_in(page, "NX1008611")
    page.goto("/proctoring/", wait_until="load")
    row = page.locator("#proctoring-rows tr", has_text="王医生")
    expect(row).to_have_count(1)
    expect(row.locator(".lowest")).to_have_text(re.compile(r"\d+%"))
    expect(row.locator(".status")).to_have_text("未标记")
    shot(page, "proctor-5-list-institution.png")
    row.get_by_text("查看").click()
    expect(page.locator("#registered-photo")).to_be_visible()
    expect(page.locator(".dk-shot")).to_have_count(len(snapshots))
    page.fill("#mark-form input[name=note]", "请核实第三张照片")
    page.click("#mark")
    expect(page.locator("#case-state")).to_have_text("已标记疑似")
    expect(page.locator("#mark")).to_have_count(0)
    shot(page, "proctor-6-detail-marked-institution.png")
    assert not desk.problems, desk.problems
    desk.close()

    # The district above sees the same row and alone may remove the mark.
    desk = Visit(cameras["same"], base_url, DESKTOP)
    page = desk.page
    _log_in(page, "district")
    page.goto("/proctoring/?status=suspected", wait_until="load")
    page.locator("#proctoring-rows tr", has_text="王医生").get_by_text("查看").click()
    expect(page.locator("#revoke")).to_be_visible()
    expect(page.locator("#decide-cheating")).to_have_count(0)
    shot(page, "proctor-7-detail-district.png")
    assert not desk.problems, desk.problems
    desk.close()

    # The province decides: 不认定作弊.
    desk = Visit(cameras["same"], base_url, DESKTOP)
    page = desk.page
    _log_in(page, "province")
    page.goto("/proctoring/?status=suspected", wait_until="load")
    page.locator("#proctoring-rows tr", has_text="王医生").get_by_text("查看").click()
    shot(page, "proctor-8-detail-province.png")
    page.fill("#decide-form input[name=note]", "经核实为本人")
    page.click("#decide-not")
    expect(page.locator("#case-state")).to_have_text("不认定作弊")
    shot(page, "proctor-9-decided-province.png")
    assert not desk.problems, desk.problems
    desk.close()

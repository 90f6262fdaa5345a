"""监考 as the manuals tell it: 人脸信息采集授权 on first entry, 人脸验证 before 我知晓—开始考试,
snapshots during the attempt checked by the face-check job, 监考管理 (标记疑似 by the institution,
撤销标记 by the administration only, the province's decision and its effect on the result),
scoping (another institution's attempt is a 404 everywhere; the physician never reads the
snapshots) and the retention purge."""
import datetime
import io
import json
import re

import pytest

from app.extensions import db
from models import (
    AuditLog,
    ExamAttempt,
    FaceConsent,
    FaceVerification,
    ProctorCase,
    Snapshot,
    StoredFile,
)
from tests import faces
from tests.conftest import _token_from_session, flashes, post
from tests.helpers import logged_in_client
from tests.test_exam import _enrollment, answer_all, awaiting_exam, bank, hand_in, paper

CONSENT_WORDS = "初次进入测评须进行人脸信息采集授权"
SAME_PERSON = faces.jpeg(faces.augmented(faces.grace_hopper()))
OTHER_PERSON = faces.jpeg(faces.astronaut())


@pytest.fixture(autouse=True)
def _verification_required(province, monkeypatch):
    monkeypatch.setitem(province.config, "FACE_VERIFICATION_REQUIRED", True)


def register_photo(image=None):
    """王医生's 1-inch photo and its 5:7 thumbnail, as 我要报名 stores them."""
    from werkzeug.datastructures import FileStorage

    from app import storage

    physician = _enrollment().physician
    upload = FileStorage(io.BytesIO(faces.jpeg(image if image is not None
                                               else faces.grace_hopper())), filename="photo.jpg")
    photo, thumb = storage.save_photo(upload, physician.id)
    physician.photo, physician.photo_thumb = photo, thumb
    db.session.commit()
    return physician


@pytest.fixture()
def sitting(province):
    """王医生 (简易程序) with a registered photo and an open humanities paper."""
    awaiting_exam("simple")
    questions = bank("humanities")
    register_photo()
    return paper("humanities", "simple", questions, attempts=3)


def csrf_headers(client):
    return {"X-CSRFToken": _token_from_session(client)}


def verify(client, paper_id, picture):
    response = client.post(f"/me/exams/{paper_id}/verify", headers=csrf_headers(client),
                           data={"picture": (io.BytesIO(picture), "face.jpg")},
                           content_type="multipart/form-data")
    return response.status_code, response.get_json()


def consent(client, paper_id, agree=True):
    return post(client, f"/me/exams/{paper_id}/consent",
                {"decision": "agree" if agree else "refuse"})


def start(client, paper_id):
    response = post(client, f"/me/exams/{paper_id}/start")
    match = re.search(r"/me/exams/attempt/(\d+)$", response.headers.get("Location", ""))
    return int(match.group(1)) if match else None


def started(client, paper_id):
    """Consent, a passed verification, 我知晓—开始考试: the attempt's id."""
    consent(client, paper_id)
    assert verify(client, paper_id, SAME_PERSON)[1]["passed"]
    attempt_id = start(client, paper_id)
    assert attempt_id, flashes(client)
    return attempt_id


def snapshot(client, attempt_id, picture=SAME_PERSON, kind="interval"):
    return client.post(f"/me/exams/attempt/{attempt_id}/snapshot", headers=csrf_headers(client),
                       data={"picture": (io.BytesIO(picture), "snapshot.jpg"), "kind": kind},
                       content_type="multipart/form-data")


def run_checks():
    """What the face-check worker does, in this process."""
    from app import jobs

    for snapshot_id in db.session.scalars(db.select(Snapshot.id).where(
            Snapshot.checked_at.is_(None))).all():
        jobs.check_snapshot(snapshot_id)
    db.session.expire_all()


# --- consent -------------------------------------------------------------------------------


def test_first_entry_asks_for_consent_and_a_refusal_blocks_the_start(as_role, sitting):
    physician = as_role("physician")
    response = physician.get(f"/me/exams/{sitting.id}/notice")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        f"/me/exams/{sitting.id}/consent")
    page = physician.get(f"/me/exams/{sitting.id}/consent").get_data(as_text=True)
    assert "人脸信息采集授权" in page and "30" in page and "180" in page

    consent(physician, sitting.id, agree=False)
    page = physician.get(f"/me/exams/{sitting.id}/consent").get_data(as_text=True)
    assert CONSENT_WORDS in page and 'id="consent-refused"' in page
    assert start(physician, sitting.id) is None
    assert any(CONSENT_WORDS in message for message in flashes(physician))
    status, body = verify(physician, sitting.id, SAME_PERSON)
    assert status == 400 and CONSENT_WORDS in body["message"]

    consent(physician, sitting.id, agree=True)
    answers = db.session.scalars(db.select(FaceConsent).order_by(FaceConsent.id)).all()
    assert [a.agreed for a in answers] == [False, True]
    assert all(a.decided_at for a in answers)
    page = physician.get(f"/me/exams/{sitting.id}/notice").get_data(as_text=True)
    assert 'id="face-verify"' in page and 'id="start-exam" disabled' in page


# --- verification before the start ---------------------------------------------------------


def test_another_person_fails_the_verification_and_the_failures_are_recorded(as_role,
                                                                             sitting):
    physician = as_role("physician")
    consent(physician, sitting.id)
    for _ in range(2):
        status, body = verify(physician, sitting.id, OTHER_PERSON)
        assert status == 200 and body["passed"] is False
        assert body["message"] == "与注册照片不一致"
    assert start(physician, sitting.id) is None
    assert "请先通过人脸验证再开始考试" in flashes(physician)
    status, body = verify(physician, sitting.id, SAME_PERSON)
    assert body == {"ok": True, "passed": True, "message": "人脸验证通过"}
    attempt_id = start(physician, sitting.id)
    assert db.session.get(ExamAttempt, attempt_id).face_verified is True
    tries = db.session.scalars(db.select(FaceVerification).order_by(FaceVerification.id)).all()
    assert [(t.passed, t.reason) for t in tries] == [
        (False, "low_similarity"), (False, "low_similarity"), (True, "passed")]
    assert tries[0].institution_id == _enrollment().institution_id


@pytest.mark.parametrize("picture, message", [
    (faces.jpeg(faces.non_face(150)), "未检测到人脸，请正对摄像头"),
    (faces.jpeg(faces.side_by_side(faces.grace_hopper(), faces.augmented(faces.grace_hopper()))),
     "检测到多张人脸，摄像头前只能有医师本人"),
    (faces.jpeg(faces.darkened(faces.grace_hopper())), "画面太暗，请调整光线"),
    (b"%PDF-1.4 not a picture", "无法识别图片，请重试"),
])
def test_a_failed_verification_says_why(as_role, sitting, picture, message):
    physician = as_role("physician")
    consent(physician, sitting.id)
    status, body = verify(physician, sitting.id, picture)
    assert (status, body["passed"], body["message"]) == (200, False, message)


def test_without_a_registered_photo_the_verification_says_so(as_role, sitting):
    physician_record = _enrollment().physician
    physician_record.photo = physician_record.photo_thumb = None
    db.session.commit()
    physician = as_role("physician")
    consent(physician, sitting.id)
    status, body = verify(physician, sitting.id, SAME_PERSON)
    assert body["passed"] is False and "未上传照片" in body["message"]


def test_a_verification_is_valid_for_a_while_only(as_role, sitting, monkeypatch):
    physician = as_role("physician")
    consent(physician, sitting.id)
    verify(physician, sitting.id, SAME_PERSON)
    for row in db.session.scalars(db.select(FaceVerification)):
        row.at -= datetime.timedelta(minutes=16)
    db.session.commit()
    assert start(physician, sitting.id) is None


def test_staff_and_other_physicians_cannot_verify_or_consent(as_role, sitting):
    institution = as_role("institution")
    assert consent(institution, sitting.id).status_code == 403
    assert verify(institution, sitting.id, SAME_PERSON)[0] == 403


# --- snapshots and their checks ------------------------------------------------------------


def test_snapshots_are_stored_for_the_institution_and_checked_by_the_job(as_role, sitting):
    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    assert snapshot(physician, attempt_id).status_code == 200
    assert snapshot(physician, attempt_id, OTHER_PERSON).status_code == 200
    assert snapshot(physician, attempt_id, faces.jpeg(faces.side_by_side(
        faces.grace_hopper(), faces.augmented(faces.grace_hopper())))).status_code == 200
    shots = db.session.scalars(db.select(Snapshot).order_by(Snapshot.id)).all()
    assert len(shots) == 3 and all(s.checked_at is None for s in shots)
    stored = shots[0].file
    assert stored.physician_id is None and stored.uploaded_by_id is None
    assert stored.institution_id == _enrollment().institution_id

    run_checks()
    same, other, pair = db.session.scalars(db.select(Snapshot).order_by(Snapshot.id)).all()
    assert same.similarity >= 0.4 and same.flags == []
    assert other.similarity < 0.4 and other.flags == ["low_similarity"]
    assert pair.faces == 2 and "multiple_faces" in pair.flags

    # The job runs once per snapshot: a second run (retried, re-queued) changes nothing.
    checked_at = same.checked_at
    from app import jobs

    assert jobs.check_snapshot(same.id) == "nothing to check"
    db.session.expire_all()
    assert db.session.get(Snapshot, same.id).checked_at == checked_at


def test_a_snapshot_is_refused_after_the_hand_in_except_the_hand_in_picture(as_role, sitting):
    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    answer_all(physician, attempt_id)
    hand_in(physician, attempt_id)
    response = snapshot(physician, attempt_id)
    assert response.status_code == 400 and response.get_json()["message"] == "本次测评已交卷"
    assert snapshot(physician, attempt_id, kind="hand_in").status_code == 200
    assert db.session.scalars(db.select(Snapshot.kind)).all() == ["hand_in"]


def test_a_snapshot_that_is_not_a_picture_is_refused_and_nothing_is_stored(as_role, sitting):
    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    response = snapshot(physician, attempt_id, b"<html>not a picture</html>")
    assert response.status_code == 400 and "格式" in response.get_json()["message"]
    assert db.session.scalar(db.select(db.func.count(Snapshot.id))) == 0


def test_page_hidden_and_a_stopped_camera_are_counted(as_role, sitting):
    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    for event in ("page_hidden", "page_hidden", "camera_stopped"):
        response = physician.post(f"/me/exams/attempt/{attempt_id}/event",
                                  data=json.dumps({"event": event}),
                                  content_type="application/json",
                                  headers=csrf_headers(physician))
        assert response.status_code == 200
    case = db.session.scalars(db.select(ProctorCase)).one()
    assert (case.page_hidden, case.camera_stopped, case.state) == (2, 1, "clear")


def test_the_snapshot_check_is_queued_with_retries(as_role, sitting):
    from app import jobs

    jobs.queue(jobs.FACE_CHECK_QUEUE).empty()
    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    snapshot(physician, attempt_id)
    queued = jobs.queue(jobs.FACE_CHECK_QUEUE).jobs
    assert len(queued) == 1
    assert queued[0].func_name == "app.jobs.check_snapshot"
    assert queued[0].retries_left == 3
    jobs.queue(jobs.FACE_CHECK_QUEUE).empty()


# --- 监考管理 ---------------------------------------------------------------------------------


@pytest.fixture()
def checked_attempt(as_role, sitting):
    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    snapshot(physician, attempt_id)
    snapshot(physician, attempt_id, OTHER_PERSON)
    answer_all(physician, attempt_id)
    hand_in(physician, attempt_id)
    run_checks()
    return attempt_id


def test_the_institution_sees_the_row_filters_it_and_opens_the_pictures(as_role,
                                                                       checked_attempt):
    institution = as_role("institution")
    page = institution.get("/proctoring/").get_data(as_text=True)
    assert f'id="attempt-{checked_attempt}"' in page and "王医生" in page
    assert "相似度低 1" in page and "2/2" in page
    assert f'id="attempt-{checked_attempt}"' in institution.get(
        "/proctoring/?similarity_below=40").get_data(as_text=True)
    assert f'id="attempt-{checked_attempt}"' not in institution.get(
        "/proctoring/?similarity_below=1").get_data(as_text=True)
    assert f'id="attempt-{checked_attempt}"' not in institution.get(
        "/proctoring/?status=suspected").get_data(as_text=True)
    detail = institution.get(f"/proctoring/attempt/{checked_attempt}").get_data(as_text=True)
    assert 'id="registered-photo"' in detail and 'id="mark"' in detail
    assert 'id="revoke"' not in detail and 'id="decide-cheating"' not in detail
    shot = db.session.scalars(db.select(Snapshot)).first()
    response = institution.get(f"/proctoring/snapshot/{shot.id}")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"


def test_another_institution_and_the_physician_never_see_them(as_role, province,
                                                             checked_attempt):
    shot = db.session.scalars(db.select(Snapshot)).first()
    other = logged_in_client(province, username="NX1008622")
    assert f'attempt-{checked_attempt}' not in other.get("/proctoring/").get_data(as_text=True)
    for url in (f"/proctoring/attempt/{checked_attempt}", f"/proctoring/snapshot/{shot.id}",
                f"/files/{shot.file_id}"):
        assert other.get(url).status_code == 404, url
    assert post(other, f"/proctoring/attempt/{checked_attempt}/mark",
                {"note": "x"}).status_code == 404
    physician = as_role("physician")
    assert physician.get("/proctoring/").status_code in (302, 403)
    assert physician.get(f"/files/{shot.file_id}").status_code == 404
    assert db.session.scalars(db.select(ProctorCase)).first() is None


def _export(client, url, data):
    """Post 导出 on a list, run the export job here, return the finished export's rows."""
    from openpyxl import load_workbook
    from rq import SimpleWorker

    from app import jobs
    from models import ExportJob

    assert post(client, url, data).status_code == 302
    SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)
    db.session.expire_all()
    export = db.session.query(ExportJob).order_by(ExportJob.id.desc()).first()
    assert export.status == "done", export.reason
    response = client.get(f"/exports/{export.id}/download")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    return export, sheet, list(sheet.iter_rows(min_row=3, values_only=True))


def test_the_proctoring_list_exports_with_its_filters_in_its_scope(as_role, province,
                                                                  checked_attempt):
    from models import ExportJob

    institution = as_role("institution")
    page = institution.get("/proctoring/?similarity_below=40").get_data(as_text=True)
    assert 'id="export"' in page and 'name="similarity_below" value="40"' in page
    export, sheet, rows = _export(institution, "/proctoring/export",
                                  {"similarity_below": "40", "page": "3"})
    assert export.filters == {"similarity_below": "40"}  # only the list's own filters
    assert sheet.title == "监考管理" and "相似度低于 40%" in sheet["A1"].value
    assert len(rows) == 1
    row = rows[0]
    assert row[1] == "王医生" and row[2].count("*") == 5  # the ID number masked
    assert row[7] == 2 and row[8] == 2 and row[9] < 40 and row[14] == 1  # 2 shots, 1 low
    assert row[-1] == "未标记"  # the state as the page says it, not its code
    # Filtered out: the export is empty, not the whole list.
    _export_, _sheet, rows = _export(institution, "/proctoring/export", {"similarity_below": "1"})
    assert rows == []
    # Another institution exports nothing of it; the physician may not export.
    other = logged_in_client(province, username="NX1008622")
    _export_, _sheet, rows = _export(other, "/proctoring/export", {})
    assert rows == []
    before = db.session.query(ExportJob).count()
    assert post(as_role("physician"), "/proctoring/export", {}).status_code in (302, 403)
    assert db.session.query(ExportJob).count() == before


def test_the_institution_marks_only_the_administration_removes_the_province_decides(
        as_role, checked_attempt):
    institution = as_role("institution")
    post(institution, f"/proctoring/attempt/{checked_attempt}/mark", {"note": ""})
    assert "请填写原因" in flashes(institution)
    post(institution, f"/proctoring/attempt/{checked_attempt}/mark", {"note": "第二人出现"})
    case = db.session.scalars(db.select(ProctorCase)).one()
    assert (case.state, case.note) == ("suspected", "第二人出现")
    # The institution cannot remove its own mark, nor decide.
    assert post(institution, f"/proctoring/attempt/{checked_attempt}/revoke",
                {"reason": "x"}).status_code == 404
    assert post(institution, f"/proctoring/attempt/{checked_attempt}/decide",
                {"decision": "not", "note": "x"}).status_code == 404
    district = as_role("district")
    assert post(district, f"/proctoring/attempt/{checked_attempt}/decide",
                {"decision": "not", "note": "x"}).status_code == 404
    detail = district.get(f"/proctoring/attempt/{checked_attempt}").get_data(as_text=True)
    assert 'id="revoke"' in detail and 'id="mark"' not in detail
    post(district, f"/proctoring/attempt/{checked_attempt}/revoke", {"reason": "误判"})
    db.session.expire_all()
    assert db.session.get(ProctorCase, case.id).state == "clear"
    post(institution, f"/proctoring/attempt/{checked_attempt}/mark", {"note": "再次标记"})
    actions = db.session.scalars(db.select(AuditLog.action).where(
        AuditLog.entity == "proctor_case").order_by(AuditLog.id)).all()
    assert actions == ["mark", "revoke", "mark"]


def test_the_provinces_decision_of_cheating_fails_the_paper(as_role, checked_attempt):
    assert _enrollment().state == "passed"
    institution = as_role("institution")
    post(institution, f"/proctoring/attempt/{checked_attempt}/mark", {"note": "他人代考"})
    province = as_role("province")
    detail = province.get(f"/proctoring/attempt/{checked_attempt}").get_data(as_text=True)
    assert 'id="decide-cheating"' in detail
    post(province, f"/proctoring/attempt/{checked_attempt}/decide",
         {"decision": "cheating", "note": "照片非本人"})
    db.session.expire_all()
    case = db.session.scalars(db.select(ProctorCase)).one()
    assert case.state == "cheating" and case.decision_note == "照片非本人"
    enrollment = _enrollment()
    assert (enrollment.state, enrollment.result) == ("failed", "fail")
    assert db.session.get(ExamAttempt, checked_attempt).passed is False
    page = province.get("/proctoring/?status=cheating").get_data(as_text=True)
    assert f'id="attempt-{checked_attempt}"' in page and "认定作弊" in page


def test_not_cheating_leaves_the_result(as_role, checked_attempt):
    post(as_role("institution"), f"/proctoring/attempt/{checked_attempt}/mark", {"note": "x"})
    post(as_role("province"), f"/proctoring/attempt/{checked_attempt}/decide",
         {"decision": "not", "note": "本人"})
    db.session.expire_all()
    assert db.session.scalars(db.select(ProctorCase.state)).one() == "not_cheating"
    assert _enrollment().state == "passed"


# --- retention ------------------------------------------------------------------------------


def test_snapshots_are_deleted_after_the_retention_period_and_the_deletion_is_audited(
        as_role, checked_attempt, province):
    from commands import proctoring

    shots = db.session.scalars(db.select(Snapshot)).all()
    ids = sorted(s.id for s in shots)
    paths = [province.config["UPLOAD_DIR"] / s.file.storage_name for s in shots]
    assert all(path.exists() for path in paths)
    cycle = _enrollment().cycle
    assert proctoring.purge_snapshots(today=cycle.end_date + datetime.timedelta(days=180)) == 0
    assert proctoring.purge_snapshots(today=cycle.end_date + datetime.timedelta(days=181)) == 2
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(Snapshot.id))) == 0
    assert not any(path.exists() for path in paths)
    assert db.session.scalar(db.select(db.func.count(StoredFile.id)).where(
        StoredFile.purpose == "snapshot")) == 0
    audited = db.session.scalars(db.select(AuditLog).where(AuditLog.action == "purge")).all()
    assert sorted(a.entity_id for a in audited) == ids
    assert all(a.institution_id == _enrollment().institution_id for a in audited)


# --- mechanisms --------------------------------------------------------------------------------


def test_page_events_sent_at_once_are_all_counted(as_role, sitting, province):
    from tests.helpers import burst, logged_in_clients

    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    device = db.session.get(ExamAttempt, attempt_id).device
    clients = logged_in_clients(province, 6, role="physician")
    outcomes = burst(province, [(client, f"/me/exams/attempt/{attempt_id}/event",
                                 {"event": "page_hidden", "device": device})
                                for client in clients])
    assert [o.status for o in outcomes] == [200] * 6, [o.error or o.body[:200]
                                                       for o in outcomes]
    assert db.session.scalars(db.select(ProctorCase.page_hidden)).all() == [6]


def test_a_check_is_stored_once(as_role, sitting):
    from app.facecheck import Check
    from commands import proctoring

    physician = as_role("physician")
    attempt_id = started(physician, sitting.id)
    snapshot(physician, attempt_id)
    shot = db.session.scalars(db.select(Snapshot)).one()
    assert proctoring.store_check(shot.id, Check(faces=1, similarity=0.9)) == 1
    assert proctoring.store_check(shot.id, Check(faces=0, flags=["no_face"])) == 0
    db.session.expire_all()
    shot = db.session.get(Snapshot, shot.id)
    assert (shot.faces, shot.similarity, shot.no_face) == (1, 0.9, False)


def test_the_physician_reads_no_snapshot_case_or_verification(as_role, checked_attempt):
    from models import AppUser
    from security import scope
    from app.demo import DEMO_PHYSICIAN_ID

    post(as_role("institution"), f"/proctoring/attempt/{checked_attempt}/mark", {"note": "x"})
    physician = scope.actor_for(db.session.scalars(db.select(AppUser).where(
        AppUser.username == DEMO_PHYSICIAN_ID)).one())
    institution = scope.actor_for(db.session.scalars(db.select(AppUser).where(
        AppUser.username == "NX1008611")).one())
    for model in (Snapshot, ProctorCase, FaceVerification):
        assert scope.restrict(db.session.query(model), model, physician).count() == 0, model
        assert scope.restrict(db.session.query(model), model, institution).count() > 0, model


def test_proctoring_posts_need_the_csrf_token(as_role, checked_attempt):
    institution = as_role("institution")
    response = institution.post(f"/proctoring/attempt/{checked_attempt}/mark",
                                data={"note": "跨站"})
    assert response.status_code == 400
    assert db.session.scalars(db.select(ProctorCase)).first() is None
    physician = as_role("physician")
    response = physician.post(f"/me/exams/attempt/{checked_attempt}/snapshot",
                              data={"picture": (io.BytesIO(SAME_PERSON), "s.jpg"),
                                    "kind": "hand_in"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert db.session.scalar(db.select(db.func.count(Snapshot.id))) == 2

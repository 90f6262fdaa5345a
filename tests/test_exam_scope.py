"""Exam attempts, snapshots and exemptions are seen and acted on only within scope: another
institution's are not found (404), another physician's attempt is not found, and an
exemption is decided only at the stage the institution holds."""
import datetime

from app.extensions import db
from models import (
    Cycle,
    Enrollment,
    ExamAttempt,
    Exemption,
    Institution,
    Paper,
    Physician,
    Snapshot,
    StoredFile,
)
from models import workflow
from tests.conftest import flashes, post


def _enrollment_at(account):
    institution = db.session.query(Institution).filter_by(account=account).one()
    enrollment = db.session.query(Enrollment).filter_by(institution_id=institution.id).first()
    if enrollment is None:
        from models import roster

        physician = db.session.query(Physician).filter_by(
            institution_id=institution.id).first()
        roster.include([physician], Cycle.current())
        db.session.flush()
        enrollment = db.session.query(Enrollment).filter_by(
            physician_id=physician.id).one()
    return enrollment


def _attempt_with_snapshot(enrollment):
    paper = Paper(cycle=Cycle.current(), name="范围试卷", kind="humanities", procedure="simple",
                  is_mock=True)
    attempt = ExamAttempt(paper=paper, enrollment=enrollment, state="in_progress",
                          started_at=datetime.datetime.now(),
                          deadline=datetime.datetime.now() + datetime.timedelta(hours=1),
                          question_ids=[], option_orders={}, device="d")
    picture = StoredFile(storage_name=f"xx/snap-{enrollment.id}", original_name="s.jpg", content_type="image/jpeg",
                         size=1, sha256="0", purpose="snapshot",
                         physician_id=enrollment.physician_id)
    snapshot = Snapshot(attempt=attempt, file=picture)
    db.session.add_all([paper, attempt, picture, snapshot])
    db.session.commit()
    return attempt.id, snapshot.id


def test_attempts_and_snapshots_of_another_institution_are_not_found(as_role):
    own = _attempt_with_snapshot(_enrollment_at("NX1008611"))
    other = _attempt_with_snapshot(_enrollment_at("NX1008633"))
    hospital, district = as_role("institution"), as_role("district")
    for client in (hospital, district):
        assert client.get(f"/examattemptview/show/{own[0]}").status_code == 200
        assert client.get(f"/snapshotview/show/{own[1]}").status_code == 200
        assert client.get(f"/examattemptview/show/{other[0]}").status_code == 404
        assert client.get(f"/snapshotview/show/{other[1]}").status_code == 404
    # The physician of NX1008611 (王医生 or another) cannot open the other attempt either.
    doctor = as_role("physician")
    assert doctor.get(f"/me/exams/attempt/{other[0]}").status_code == 404
    assert doctor.get(f"/me/exams/attempt/{other[0]}/result").status_code == 404


def test_an_exemption_is_decided_only_at_the_stage_the_institution_holds(as_role):
    enrollment = _enrollment_at("NX1008611")
    workflow.force(enrollment, "awaiting_exam", reason="test set-up")
    proof = StoredFile(storage_name="xx/p", original_name="p.pdf",
                       content_type="application/pdf", size=1, sha256="0",
                       purpose="exemption_proof", physician_id=enrollment.physician_id)
    exemption = Exemption(enrollment=enrollment, condition="c", proof=proof, state="pending")
    db.session.add_all([proof, exemption])
    db.session.commit()
    assessor = as_role("assessment")  # it re-reviews NX1008611, but the first stage is not its
    early = post(assessor, "/exemptionview/action_post", {"action": "approve",
                                                         "rowid": str(exemption.id)})
    assert early.status_code == 302 and "不在待考核机构复核状态" in " ".join(flashes(assessor))
    db.session.expire_all()
    assert db.session.get(Exemption, exemption.id).state == "pending"
    clinic = as_role("institution").application.test_client()
    from tests.conftest import login

    assert login(clinic, "NX1008633").status_code == 302
    assert post(clinic, "/exemptionview/action_post", {
        "action": "approve", "rowid": str(exemption.id)}).status_code == 404
    hospital = as_role("institution")
    post(hospital, "/exemptionview/action_post", {"action": "approve",
                                                  "rowid": str(exemption.id)})
    db.session.expire_all()
    assert db.session.get(Exemption, exemption.id).state == "pending_assessment"
    again = post(hospital, "/exemptionview/action_post", {"action": "approve",
                                                          "rowid": str(exemption.id)})
    assert again.status_code == 302 and "不在待审核状态" in " ".join(flashes(hospital))
    db.session.expire_all()
    assert db.session.get(Exemption, exemption.id).state == "pending_assessment"
    post(assessor, "/exemptionview/action_post", {"action": "approve",
                                                  "rowid": str(exemption.id)})
    db.session.expire_all()
    assert db.session.get(Exemption, exemption.id).state == "approved"

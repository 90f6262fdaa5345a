"""监考: the physician's consent and face verification before an attempt, the snapshots and page
events during it, the face-check results the job stores, 监考管理's marks and decisions, and the
retention purge.

Rights (``security.scope``): the physician acts on their own attempts (CHANGE); the institution
where the exam was taken marks (REVIEW); the administration above removes a mark (MANAGE); the
province decides (DECIDE). Snapshots are read by the scope above the physician only.
"""
import datetime
import statistics

from flask import abort, current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select, update

from app import storage
from app.extensions import db
from commands import command, lock, user_of
from models import (
    Cycle,
    Enrollment,
    ExamAttempt,
    FaceConsent,
    FaceVerification,
    Paper,
    ProctorCase,
    Snapshot,
    StoredFile,
)
from models import exam_rules as rules
from models import workflow
from models.audit import record as audit
from models.base import Refused
from models.exam import ATTEMPT_STATE
from models.proctoring import CASE_STATE, SNAPSHOT_KIND, VERIFY_REASON, store_figures
from security import scope


class ProctoringRefused(Refused):
    """A proctoring step was refused; the message is for the user."""


CONSENT_REQUIRED = "初次进入测评须进行人脸信息采集授权，否则影响考核监考以及测评进度。"


def _physician_only(actor):
    if actor.kind != scope.PHYSICIAN:
        abort(403)


# --- consent ---------------------------------------------------------------------------------


def consent_of(physician_id):
    """The physician's latest answer (a FaceConsent) or None if never asked."""
    return db.session.scalars(select(FaceConsent).where(
        FaceConsent.physician_id == physician_id)
        .order_by(FaceConsent.decided_at.desc(), FaceConsent.id.desc()).limit(1)).first()


def has_consented(physician_id):
    consent = consent_of(physician_id)
    return consent is not None and consent.agreed


@command
def decide_consent(actor, agreed, now=None):
    """人脸信息采集授权: agreed or refused, recorded with its time."""
    _physician_only(actor)
    consent = FaceConsent(physician_id=actor.physician_id, agreed=bool(agreed),
                          decided_at=now or datetime.datetime.now())
    db.session.add(consent)
    db.session.flush()
    audit("face_consent", consent.id, "agree" if agreed else "refuse",
          institution=_institution_of_physician(actor.physician_id), user=user_of(actor))
    return consent


def _institution_of_physician(physician_id):
    from models import Physician

    physician = db.session.get(Physician, physician_id)
    return physician.institution if physician is not None else None


# --- verification before the start ------------------------------------------------------------


def registered_photo(physician):
    """The bytes of the registered photo's 5:7 face thumbnail (or of the photo), or None."""
    stored = physician.photo_thumb or physician.photo
    if stored is None:
        return None
    path = current_app.config["UPLOAD_DIR"] / stored.storage_name
    return path.read_bytes() if path.exists() else None


def face_settings():
    from app.facecheck import Settings

    return Settings.from_config(current_app.config)


def face_checker():
    from app.facecheck import checker

    return checker(current_app.config["FACE_CHECK_THREADS"])


def _paper_to_start(actor, paper_id):
    from commands.exam import own_enrollment

    _physician_only(actor)
    enrollment = own_enrollment(actor)
    paper = db.session.get(Paper, int(paper_id)) if str(paper_id).isdigit() else None
    if paper is None or paper.is_mock:
        abort(404)
    if enrollment is None:
        raise ProctoringRefused(_("You are not enrolled in the current cycle"))
    return enrollment, paper


@command
def verify_face(actor, paper_id, upload, now=None):
    """人脸验证: check one capture against the registered photo; every try is recorded (the
    institution sees the failures). Returns the FaceVerification; ``passed`` says the answer
    and ``reason_label`` why not."""
    now = now or datetime.datetime.now()
    enrollment, paper = _paper_to_start(actor, paper_id)
    if not has_consented(actor.physician_id):
        raise ProctoringRefused(CONSENT_REQUIRED)
    data = upload.read(current_app.config["SNAPSHOT_MAX_BYTES"] + 1) if upload else b""
    if not data:
        raise ProctoringRefused(_("Please choose the file to upload"))
    if len(data) > current_app.config["SNAPSHOT_MAX_BYTES"]:
        raise ProctoringRefused(_("The picture is too large"))
    physician = enrollment.physician
    reference = registered_photo(physician)
    faces = similarity = None
    if reference is None:
        reason = VERIFY_REASON.NO_PHOTO
    elif storage.sniff(data) not in (storage.JPEG, storage.PNG):
        reason = VERIFY_REASON.UNREADABLE
    else:
        check = face_checker().check(data, reference, face_settings())
        reason, faces, similarity = check.verdict(face_settings()), check.faces, check.similarity
    verification = FaceVerification(
        physician_id=physician.id, institution_id=enrollment.institution_id,
        enrollment_id=enrollment.id, paper_id=paper.id, at=now,
        passed=reason == VERIFY_REASON.PASSED, reason=reason, faces=faces,
        similarity=similarity)
    db.session.add(verification)
    return verification


def verified_recently(enrollment, paper, now=None):
    """A passed verification for this paper within FACE_VERIFICATION_VALID_MINUTES."""
    now = now or datetime.datetime.now()
    since = now - datetime.timedelta(
        minutes=current_app.config["FACE_VERIFICATION_VALID_MINUTES"])
    return db.session.scalars(select(FaceVerification.id).where(
        FaceVerification.enrollment_id == enrollment.id, FaceVerification.paper_id == paper.id,
        FaceVerification.passed.is_(True), FaceVerification.at >= since).limit(1)).first() \
        is not None


def check_may_start(enrollment, paper, now=None):
    """Called by ``commands.exam.start`` for a new attempt: consent and a recent verification."""
    if not current_app.config["FACE_VERIFICATION_REQUIRED"]:
        return False
    if not has_consented(enrollment.physician_id):
        raise ProctoringRefused(CONSENT_REQUIRED)
    if not verified_recently(enrollment, paper, now):
        raise ProctoringRefused(_("Please pass the face verification before starting the "
                                  "exam"))
    return True


# --- during the attempt ------------------------------------------------------------------------


SNAPSHOT_POLICY = storage.Policy((storage.JPEG, storage.PNG), 512 * 1024)


def _attempt_taking_pictures(actor, attempt_id, device, kind, now):
    attempt = scope.require(actor, scope.CHANGE, ExamAttempt, attempt_id)
    if device and attempt.device and device != attempt.device:
        raise ProctoringRefused(_("This exam is being continued on another device; this page "
                                  "can no longer answer"))
    if attempt.state != ATTEMPT_STATE.IN_PROGRESS:
        late = datetime.timedelta(seconds=current_app.config["SNAPSHOT_LATE_SECONDS"])
        # The hand-in picture is sent as the page leaves; it may land just after.
        if not (kind == SNAPSHOT_KIND.HAND_IN and attempt.submitted_at
                and now - attempt.submitted_at <= late):
            raise ProctoringRefused(_("This exam has already been handed in"))
    return attempt


@command
def take_snapshot(actor, attempt_id, device, upload, kind=SNAPSHOT_KIND.INTERVAL, now=None):
    """A snapshot during the attempt: stored (the file first), then its check is queued by the
    caller after this commits (``app.jobs.queue_face_check``); the sweeper catches any that
    were not."""
    now = now or datetime.datetime.now()
    if kind not in SNAPSHOT_KIND:
        kind = SNAPSHOT_KIND.INTERVAL
    attempt = _attempt_taking_pictures(actor, attempt_id, device, kind, now)
    policy = storage.Policy(SNAPSHOT_POLICY.kinds, current_app.config["SNAPSHOT_MAX_BYTES"])
    # The institution's file, not the physician's: only the scope above them reads it.
    stored = storage.save_upload(upload, policy, "snapshot",
                                 institution_id=attempt.enrollment.institution_id)
    snapshot = Snapshot(attempt_id=attempt.id, file=stored, taken_at=now, kind=kind)
    db.session.add(snapshot)
    db.session.flush()
    # Not checked yet: the attempt's figures (risk, lowest similarity) do not move until the
    # job stores its result (store_check), so no lock on the attempt here, on the exam's
    # busiest path.
    return snapshot


PAGE_EVENTS = {"page_hidden": "page_hidden", "camera_stopped": "camera_stopped"}


def case_for(attempt):
    """The attempt's proctoring case, created on first need (the attempt is locked)."""
    case = db.session.scalars(select(ProctorCase).where(
        ProctorCase.attempt_id == attempt.id)).first()
    if case is None:
        case = ProctorCase(attempt_id=attempt.id, state=CASE_STATE.CLEAR)
        db.session.add(case)
        db.session.flush()
    return case


@command
def record_page_event(actor, attempt_id, device, event, now=None):
    """切屏 (the page was hidden) or a camera that stopped: counted on the attempt's case."""
    now = now or datetime.datetime.now()
    column = PAGE_EVENTS.get(event)
    if column is None:
        raise ProctoringRefused(_("Unknown event"))
    attempt = lock(_attempt_taking_pictures(actor, attempt_id, device,
                                            SNAPSHOT_KIND.INTERVAL, now))
    case = case_for(attempt)
    table = ProctorCase.__table__
    db.session.execute(update(table).where(table.c.id == case.id)
                       .values({column: table.c[column] + 1}))
    store_figures(db.session, [attempt.id])
    return case


# --- the face-check job's result ----------------------------------------------------------------


def snapshot_inputs(snapshot_id):
    """(snapshot bytes, registered photo bytes) for the job, or None when there is nothing to
    check any more (purged, or already checked). One query: the job runs for every snapshot."""
    from sqlalchemy import func
    from sqlalchemy.orm import aliased

    from models import Physician

    shot_file, photo_file = aliased(StoredFile), aliased(StoredFile)
    row = db.session.execute(
        select(Snapshot.checked_at, shot_file.storage_name, photo_file.storage_name)
        .join(shot_file, shot_file.id == Snapshot.file_id)
        .join(ExamAttempt, ExamAttempt.id == Snapshot.attempt_id)
        .join(Enrollment, Enrollment.id == ExamAttempt.enrollment_id)
        .join(Physician, Physician.id == Enrollment.physician_id)
        .outerjoin(photo_file, photo_file.id == func.coalesce(Physician.photo_thumb_id,
                                                              Physician.photo_id))
        .where(Snapshot.id == snapshot_id)).first()
    if row is None or row[0] is not None:
        return None
    folder = current_app.config["UPLOAD_DIR"]
    path = folder / row[1]
    if not path.exists():
        return None
    photo = folder / row[2] if row[2] else None
    return path.read_bytes(), photo.read_bytes() if photo and photo.exists() else None


@command
def store_check(snapshot_id, check, now=None):
    """Keep what the job found; only the first result counts (a re-queued or retried job that
    runs twice changes nothing)."""
    from app.facecheck import AWAY, LOW, MULTIPLE, NO_FACE

    attempt_id = db.session.scalar(select(Snapshot.attempt_id).where(Snapshot.id == snapshot_id))
    if attempt_id is None:
        return 0
    # The attempt first (as every writer of its snapshots and events does), so two results of
    # the same attempt stored at once each count the other's in the attempt's figures.
    lock(db.session.get(ExamAttempt, attempt_id))
    table = Snapshot.__table__
    stored = db.session.execute(update(table).where(
        table.c.id == snapshot_id, table.c.checked_at.is_(None)).values(
        faces=check.faces, yaw=check.yaw, pitch=check.pitch, similarity=check.similarity,
        no_face=NO_FACE in check.flags, multiple_faces=MULTIPLE in check.flags,
        looking_away=AWAY in check.flags, low_similarity=LOW in check.flags,
        checked_at=now or datetime.datetime.now())).rowcount
    if stored:
        store_figures(db.session, [attempt_id])
    return stored


def unchecked_snapshots(older_than=None, limit=5000):
    """Snapshots without a result (the sweeper queues their checks again)."""
    query = select(Snapshot.id).where(Snapshot.checked_at.is_(None))
    if older_than is not None:
        query = query.where(Snapshot.taken_at <= older_than)
    return db.session.scalars(query.order_by(Snapshot.id).limit(limit)).all()


# --- 监考管理 --------------------------------------------------------------------------------


def _case_to_act_on(actor, action, attempt_id):
    """The attempt's case, locked, if the actor may ``action`` (REVIEW: mark, MANAGE: revoke,
    DECIDE: decide) the attempt; otherwise 404 like any record outside one's scope."""
    attempt = lock(scope.require(actor, action, ExamAttempt, attempt_id))
    return lock(case_for(attempt))


@command
def mark_suspected(actor, attempt_id, note):
    """标记疑似 (the institution where the exam was taken) with a note."""
    case = _case_to_act_on(actor, scope.REVIEW, attempt_id)
    workflow.apply(case, "mark", reason=note, user=user_of(actor))
    case.note = (note or "").strip()
    case.marked_by_id = actor.user_id
    case.marked_at = datetime.datetime.now()
    return case


@command
def revoke_mark(actor, attempt_id, reason):
    """撤销标记: only the administration above the institution."""
    case = _case_to_act_on(actor, scope.MANAGE, attempt_id)
    workflow.apply(case, "revoke", reason=reason, user=user_of(actor))
    return case


@command
def decide(actor, attempt_id, cheating, note):
    """认定作弊 / 不认定 (the province); the result follows PROCTOR_CHEATING_EFFECT."""
    case = _case_to_act_on(actor, scope.DECIDE, attempt_id)
    event = "decide_cheating" if cheating else "decide_not_cheating"
    workflow.apply(case, event, reason=note, user=user_of(actor))
    case.decided_by_id = actor.user_id
    case.decided_at = datetime.datetime.now()
    case.decision_note = (note or "").strip()
    if cheating:
        _cheating_effect(case.attempt, note, user_of(actor))
    return case


def _cheating_effect(attempt, note, user):
    effect = current_app.config["PROCTOR_CHEATING_EFFECT"]
    if effect == "none":
        return
    enrollment = lock(attempt.enrollment)
    if effect == "paper_failed":
        attempt.passed = False
        result = rules.result_for(enrollment, attempt.paper)
        if result is not None:
            others = [a for a in enrollment.attempts if a.paper_id == attempt.paper_id
                      and a.id != attempt.id and not _decided_cheating(a)]
            result.passed = any(a.passed for a in others)
            scores = [a.score for a in others if a.score is not None]
            result.best_score = max(scores) if scores else None
        db.session.flush()
        kinds = rules.required_kinds(enrollment)
        makeup = enrollment.state == "awaiting_makeup"
        if enrollment.state == "passed" and not all(
                rules.kind_passed(enrollment, kind, makeup) for kind in kinds):
            workflow.apply(enrollment, "cheating_decided", reason=note, user=user)
        else:
            rules.settle(enrollment, user=user)
        return
    if enrollment.state in workflow.ENROLLMENT["cheating_decided"].sources:
        workflow.apply(enrollment, "cheating_decided", reason=note, user=user)


def _decided_cheating(attempt):
    return db.session.scalars(select(ProctorCase.id).where(
        ProctorCase.attempt_id == attempt.id,
        ProctorCase.state == CASE_STATE.CHEATING)).first() is not None


def summary(similarities):
    """Lowest and median similarity of an attempt's checked snapshots."""
    values = [value for value in similarities if value is not None]
    if not values:
        return None, None
    return min(values), statistics.median(values)


# --- retention ---------------------------------------------------------------------------------


@command
def purge_snapshots(today=None, limit=2000):
    """Delete the snapshots (files and rows) of cycles that ended more than
    SNAPSHOT_RETENTION_DAYS ago; each deletion is audited. Returns how many were deleted."""
    today = today or datetime.date.today()
    cutoff = today - datetime.timedelta(days=current_app.config["SNAPSHOT_RETENTION_DAYS"])
    rows = db.session.execute(
        select(Snapshot.id, Snapshot.file_id, Snapshot.attempt_id, Enrollment.institution_id)
        .join(ExamAttempt, ExamAttempt.id == Snapshot.attempt_id)
        .join(Enrollment, Enrollment.id == ExamAttempt.enrollment_id)
        .join(Cycle, Cycle.id == Enrollment.cycle_id)
        .where(Cycle.end_date < cutoff).order_by(Snapshot.id).limit(limit)).all()
    if not rows:
        return 0
    from models import Institution
    from models.audit import record_many

    # The attempts' figures follow their snapshots (locked first, like every other writer).
    attempts = sorted({row.attempt_id for row in rows})
    lock(*db.session.scalars(select(ExamAttempt).where(ExamAttempt.id.in_(attempts))).all())
    files = db.session.scalars(select(StoredFile).where(
        StoredFile.id.in_([row.file_id for row in rows]))).all()
    institutions = {i.id: i for i in db.session.scalars(select(Institution).where(
        Institution.id.in_({row.institution_id for row in rows})))}
    db.session.execute(delete(Snapshot).where(Snapshot.id.in_([row.id for row in rows])))
    for stored in files:
        path = current_app.config["UPLOAD_DIR"] / stored.storage_name
        path.unlink(missing_ok=True)
        db.session.delete(stored)
    store_figures(db.session, attempts)
    record_many([{"entity": "snapshot", "entity_id": row.id, "action": "purge",
                  "institution": institutions.get(row.institution_id),
                  "reason": f"retention {current_app.config['SNAPSHOT_RETENTION_DAYS']} days "
                            f"after the cycle (attempt {row.attempt_id})"} for row in rows])
    return len(rows)

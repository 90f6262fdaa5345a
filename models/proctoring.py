"""监考 (proctoring): the physician's consent to face data, the face verification before an
exam starts, the snapshots taken during an attempt and checked by the face-check job, and the
proctoring case of each attempt (标记疑似 → 撤销标记 / 认定作弊 / 不认定).

A snapshot's file is stored like every upload (outside the web root, random name); it belongs
to the institution where the exam was taken, never to the physician, so only the scope above
the physician reads it. Its check fields stay empty until the job has run (``checked_at``).
"""
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import relationship

from models.base import ChoiceSet, now

# Why a face check did not pass (the verification's reason, the snapshot's flags).
FACE_FLAG = ChoiceSet(
    ("no_face", _l("No face")),
    ("multiple_faces", _l("Several people")),
    ("looking_away", _l("Looking away")),
    ("low_similarity", _l("Low similarity")),
)
# The verification before the start adds the light and the missing registered photo.
VERIFY_REASON = ChoiceSet(
    ("passed", _l("Passed")),
    ("no_face", _l("No face was found, please face the camera")),
    ("multiple_faces", _l("Several faces were found, only the physician may be in front of "
                          "the camera")),
    ("looking_away", _l("Please look straight at the camera")),
    ("too_dark", _l("The picture is too dark, please adjust the light")),
    ("overexposed", _l("The picture is overexposed, please adjust the light")),
    ("low_similarity", _l("The face does not match the registered photo")),
    ("no_photo", _l("No registered photo: please upload your photo in 我要报名 or ask your "
                    "institution")),
    ("unreadable", _l("The picture could not be read, please try again")),
)
SNAPSHOT_KIND = ChoiceSet(
    ("interval", _l("During the exam")),
    ("hand_in", _l("At hand-in")),
)
CASE_STATE = ChoiceSet(
    ("clear", _l("Not marked")),
    ("suspected", _l("Marked as suspected")),
    ("cheating", _l("Cheating confirmed")),
    ("not_cheating", _l("Not cheating")),
)


class FaceConsent(Model):
    """人脸信息采集授权: the physician's answer, with its time (the latest one counts)."""

    __tablename__ = "face_consent"
    id = Column(Integer, primary_key=True)
    physician_id = Column(Integer, ForeignKey("physician.id"), nullable=False, index=True)
    agreed = Column(Boolean, nullable=False)
    decided_at = Column(DateTime, default=now, nullable=False)


class FaceVerification(Model):
    """One try of the face verification before an attempt starts (kept for the institution:
    how many failures, and why). The picture itself is not kept."""

    __tablename__ = "face_verification"
    id = Column(Integer, primary_key=True)
    physician_id = Column(Integer, ForeignKey("physician.id"), nullable=False, index=True)
    institution_id = Column(Integer, ForeignKey("institution.id"), index=True)
    enrollment_id = Column(Integer, ForeignKey("enrollment.id"), nullable=False, index=True)
    paper_id = Column(Integer, ForeignKey("paper.id"), nullable=False)
    at = Column(DateTime, default=now, nullable=False)
    passed = Column(Boolean, nullable=False)
    reason = Column(String(32), nullable=False)
    faces = Column(Integer)
    similarity = Column(Float)

    @property
    def reason_label(self):
        return VERIFY_REASON.label(self.reason)


class Snapshot(Model):
    __tablename__ = "snapshot"
    id = Column(Integer, primary_key=True)
    attempt_id = Column(Integer, ForeignKey("exam_attempt.id"), nullable=False, index=True)
    attempt = relationship("ExamAttempt", backref="snapshots")
    file_id = Column(Integer, ForeignKey("stored_file.id"), nullable=False)
    file = relationship("StoredFile")
    taken_at = Column(DateTime, default=now, nullable=False)
    kind = Column(String(16), nullable=False, default=SNAPSHOT_KIND.INTERVAL)
    # 0..1, filled in by the face-check job; None until it has run (or when no face was seen).
    similarity = Column(Float)
    faces = Column(Integer)
    yaw = Column(Float)
    pitch = Column(Float)
    no_face = Column(Boolean, nullable=False, default=False)
    multiple_faces = Column(Boolean, nullable=False, default=False)
    looking_away = Column(Boolean, nullable=False, default=False)
    low_similarity = Column(Boolean, nullable=False, default=False)
    checked_at = Column(DateTime)
    # Columns of the first design, kept for the data they may hold; marks are per attempt now
    # (ProctorCase).
    suspected = Column(Boolean, nullable=False, default=False)
    marked_by_id = Column(Integer, ForeignKey("ab_user.id"))
    marked_at = Column(DateTime)
    note = Column(Text)

    __table_args__ = (Index("ix_snapshot_similarity", "similarity"),
                      Index("ix_snapshot_checked_at", "checked_at"))

    @property
    def flags(self):
        return [code for code in FACE_FLAG.values() if getattr(self, code)]

    @property
    def flag_labels(self):
        return [FACE_FLAG.label(code) for code in self.flags]


class ProctorCase(Model):
    """The proctoring record of one attempt: what the page reported (tab switches, a camera
    that stopped) and the mark's state, moved only by ``models.workflow``."""

    __tablename__ = "proctor_case"
    id = Column(Integer, primary_key=True)
    attempt_id = Column(Integer, ForeignKey("exam_attempt.id"), nullable=False, unique=True)
    attempt = relationship("ExamAttempt", backref="proctor_case_rows")
    state = Column(String(16), nullable=False, default=CASE_STATE.CLEAR)
    page_hidden = Column(Integer, nullable=False, default=0)
    camera_stopped = Column(Integer, nullable=False, default=0)
    note = Column(Text)
    marked_by_id = Column(Integer, ForeignKey("ab_user.id"))
    marked_at = Column(DateTime)
    decided_by_id = Column(Integer, ForeignKey("ab_user.id"))
    decided_at = Column(DateTime)
    decision_note = Column(Text)

    @property
    def state_label(self):
        return CASE_STATE.label(self.state)


# --- 监考管理's figures ------------------------------------------------------------------------

FLAG_COUNTS = ("no_face", "multiple_faces", "looking_away", "low_similarity")


def risk_of(lowest, multiple_faces=0, no_face=0, low_similarity=0, looking_away=0,
            camera_stopped=0, page_hidden=0):
    """监考管理's order, most suspicious first: the lowest similarity (none checked counts as a
    match), then the flags and the page's events, weighted."""
    return ((1 - (1 if lowest is None else lowest)) * 100 + 20 * (multiple_faces or 0)
            + 10 * (no_face or 0) + 5 * (low_similarity or 0) + 3 * (looking_away or 0)
            + 10 * (camera_stopped or 0) + 2 * (page_hidden or 0))


def attempt_figures(session, attempt_ids):
    """{attempt id: its snapshots' figures (shots, checked, lowest, median, one count per flag),
    its case's page events and state, its risk} for the given attempts: two queries on the
    attempts' own rows (a page of the list, a chunk of an export, a refresh)."""
    import statistics

    from sqlalchemy import func, select

    ids = sorted(set(attempt_ids))
    if not ids:
        return {}
    figures = {i: {"shots": 0, "checked": 0, "lowest": None, "median": None,
                   **{flag: 0 for flag in FLAG_COUNTS}, "page_hidden": 0, "camera_stopped": 0,
                   "state": CASE_STATE.CLEAR} for i in ids}
    similarities = {}
    for row in session.execute(select(
            Snapshot.attempt_id, Snapshot.checked_at, Snapshot.similarity,
            *(getattr(Snapshot, flag) for flag in FLAG_COUNTS)).where(
            Snapshot.attempt_id.in_(ids))):
        found = figures[row.attempt_id]
        found["shots"] += 1
        found["checked"] += row.checked_at is not None
        for flag in FLAG_COUNTS:
            found[flag] += bool(getattr(row, flag))
        if row.similarity is not None:
            similarities.setdefault(row.attempt_id, []).append(row.similarity)
    for attempt_id, values in similarities.items():
        figures[attempt_id]["lowest"] = min(values)
        figures[attempt_id]["median"] = statistics.median(values)
    for attempt_id, hidden, stopped, state in session.execute(select(
            ProctorCase.attempt_id, ProctorCase.page_hidden, ProctorCase.camera_stopped,
            ProctorCase.state).where(ProctorCase.attempt_id.in_(ids))):
        figures[attempt_id].update(page_hidden=hidden, camera_stopped=stopped, state=state)
    for found in figures.values():
        found["risk"] = risk_of(found["lowest"], found["multiple_faces"], found["no_face"],
                                found["low_similarity"], found["looking_away"],
                                found["camera_stopped"], found["page_hidden"])
    return figures


def store_figures(session, attempt_ids, chunk=500):
    """Recompute and store the attempts' ``proctor_risk`` and ``proctor_lowest`` (the caller
    holds their locks: ``commands.proctoring`` locks the attempt before it changes a snapshot
    or a page event)."""
    from sqlalchemy import bindparam, update

    from models.exam import ExamAttempt

    ids = sorted(set(attempt_ids))
    table = ExamAttempt.__table__
    statement = update(table).where(table.c.id == bindparam("attempt")).values(
        proctor_risk=bindparam("risk"), proctor_lowest=bindparam("lowest"))
    for start in range(0, len(ids), chunk):
        figures = attempt_figures(session, ids[start:start + chunk])
        session.execute(statement, [
            {"attempt": attempt_id, "risk": found["risk"], "lowest": found["lowest"]}
            for attempt_id, found in figures.items()])
    return len(ids)

"""Scoping: which rows a user may see, and act on, for every model, in one place.

Each model has one rule per action (``read``, ``change``, ``review``, ``rereview``,
``decide``): a function from the acting user to a SQL condition. Lists, shows, edits,
deletes, actions, exports, file downloads and JSON endpoints read through ``restrict`` (the
console's data interface calls it for every query); commands load what they act on through
``require(actor, action, model, id)``, which asks the same condition of one id, so list
filtering and record checks cannot drift apart. An action a model does not name is allowed to
nobody (fail closed), and so is everything when there is no user: jobs and the CLI act as an
explicit actor (the user who asked, or ``SYSTEM`` named by the caller).
"""
from dataclasses import dataclass
from typing import Optional

from flask import abort, g, has_request_context
from flask_login import current_user
from sqlalchemy import false, literal, or_, select, true

from app.extensions import db
from models import (
    Administration,
    ApplicationAttachment,
    AppUser,
    AssessmentApplication,
    AuditLog,
    Certificate,
    Cycle,
    CycleConfirmation,
    Department,
    Enrollment,
    EnrollmentTally,
    Exemption,
    Experience,
    ExamAttempt,
    ExportJob,
    FaceConsent,
    FaceVerification,
    Institution,
    OtherOpinion,
    Paper,
    PaperResult,
    Physician,
    PracticeMistake,
    ProctorCase,
    Question,
    ReviewRecord,
    ScheduleWindow,
    SmsMessage,
    Snapshot,
    StoredFile,
    Subject,
    Submission,
)
from models.physician import ROSTER_STATUS
from security import roles

ALL, ADMINISTRATION, INSTITUTION, PHYSICIAN, NOBODY = (
    "all",
    "administration",
    "institution",
    "physician",
    "nobody",
)


@dataclass(frozen=True)
class Actor:
    kind: str
    user_id: Optional[int] = None
    admin_path: Optional[str] = None
    institution_id: Optional[int] = None
    physician_id: Optional[int] = None

    @property
    def subtree(self):
        return f"{self.admin_path}%"


SYSTEM = Actor(ALL)


def actor_for(user):
    """The scope a user acts in, derived from their roles and the record their account is for."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Actor(NOBODY)
    names = {role.name for role in user.roles}
    if names & {roles.SYSADMIN, roles.OPERATOR}:
        return Actor(ALL, user_id=user.id)
    if names & set(roles.ADMINISTRATION_ROLES) and user.administration is not None:
        return Actor(ADMINISTRATION, user_id=user.id, admin_path=user.administration.path)
    if names & {roles.INSTITUTION, roles.ASSESSMENT} and user.institution_id:
        return Actor(INSTITUTION, user_id=user.id, institution_id=user.institution_id)
    if roles.PHYSICIAN in names and user.physician_id:
        return Actor(PHYSICIAN, user_id=user.id, physician_id=user.physician_id)
    return Actor(NOBODY, user_id=user.id)


READ, CHANGE, REVIEW, REREVIEW, DECIDE = "read", "change", "review", "rereview", "decide"
TAKE_IN = "take_in"  # 调入: any institution may take in a physician transferred out elsewhere
MANAGE = "manage"  # the accounts of the levels below: 重置密码
PRINT = "print"  # 打印 a passed enrollment's certificate (issuing it the first time)


def current_actor():
    """The actor of the current request; outside a request nobody (scoped queries return
    nothing, so a job or command that forgot to name its actor fails closed)."""
    if not has_request_context():
        return Actor(NOBODY)
    if "scope_actor" not in g:
        g.scope_actor = actor_for(current_user)
    return g.scope_actor


def acting_institution():
    """The institution the current user acts for; pages only institutions use are 403 to others."""
    actor = current_actor()
    if actor.kind != INSTITUTION:
        abort(403)
    return db.session.get(Institution, actor.institution_id)


# --- the rules -----------------------------------------------------------------------------


def _own_institution_ids(actor):
    """Institutions whose own records (departments, roster, applications) the actor governs."""
    if actor.kind == ADMINISTRATION:
        return select(Institution.id).where(Institution.admin_path.like(actor.subtree))
    if actor.kind == INSTITUTION:
        return select(literal(actor.institution_id))
    return None


def covered_institutions(actor):
    """The medical institutions whose physicians this assessment institution re-reviews."""
    return select(Institution.id).where(
        Institution.assessment_institution_id == actor.institution_id)


def _by_institution(column):
    def rule(actor):
        ids = _own_institution_ids(actor)
        return false() if ids is None else column.in_(ids)

    return rule


def _administration(actor):
    if actor.kind == ADMINISTRATION:
        return Administration.path.like(actor.subtree)
    if actor.kind == INSTITUTION:
        # Its own administration and those above it (whose contacts its home page shows).
        own_path = (
            select(Institution.admin_path)
            .where(Institution.id == actor.institution_id)
            .scalar_subquery()
        )
        return own_path.like(Administration.path + "%")
    return false()


def _administration_below(actor):
    # An administration manages the administrations below it, never its own record.
    if actor.kind == ADMINISTRATION:
        return Administration.path.like(actor.subtree) & (Administration.path != actor.admin_path)
    return false()


def _institution(actor):
    if actor.kind == ADMINISTRATION:
        return Institution.admin_path.like(actor.subtree)
    if actor.kind == INSTITUTION:
        # An assessment institution also sees the institutions assigned to it.
        return (Institution.id == actor.institution_id) | Institution.id.in_(
            covered_institutions(actor))
    return false()


def _institution_change(actor):
    if actor.kind == ADMINISTRATION:
        return Institution.admin_path.like(actor.subtree)
    if actor.kind == INSTITUTION:
        return Institution.id == actor.institution_id
    return false()


def _physician(actor):
    if actor.kind == PHYSICIAN:
        return Physician.id == actor.physician_id
    ids = _own_institution_ids(actor)
    if ids is None:
        return false()
    at_institution = Physician.institution_id.in_(ids)
    if actor.kind == ADMINISTRATION:
        # A transferred-out physician stays visible to the administration of their last
        # institution until another institution takes them in.
        return at_institution | (
            (Physician.roster_status == ROSTER_STATUS.TRANSFERRED_OUT)
            & Physician.previous_institution_id.in_(ids)
        )
    return at_institution


def _physician_change(actor):
    """The physician's own record; an institution's (or administration's) current roster."""
    if actor.kind == PHYSICIAN:
        return Physician.id == actor.physician_id
    return _by_institution(Physician.institution_id)(actor)


def _physician_take_in(actor):
    if actor.kind == INSTITUTION:
        return Physician.roster_status == ROSTER_STATUS.TRANSFERRED_OUT
    return false()


def _enrollment(actor):
    if actor.kind == PHYSICIAN:
        return Enrollment.physician_id == actor.physician_id
    if actor.kind == INSTITUTION:
        return (Enrollment.institution_id == actor.institution_id) | Enrollment.institution_id.in_(
            covered_institutions(actor))
    return _by_institution(Enrollment.institution_id)(actor)


def _enrollment_change(actor):
    # The physician fills in their own; the institution includes and cancels its own.
    if actor.kind == PHYSICIAN:
        return Enrollment.physician_id == actor.physician_id
    if actor.kind == INSTITUTION:
        return Enrollment.institution_id == actor.institution_id
    return false()


def _enrollment_review(actor):
    if actor.kind == INSTITUTION:
        return Enrollment.institution_id == actor.institution_id
    return false()


def _enrollment_rereview(actor):
    if actor.kind == INSTITUTION:
        return Enrollment.institution_id.in_(covered_institutions(actor))
    return false()


def _enrollment_decide(actor):
    if actor.kind == ADMINISTRATION:
        return _by_institution(Enrollment.institution_id)(actor)
    return false()


def _tally(actor):
    """The same institutions as ``_enrollment``, for the per-institution state counts."""
    if actor.kind == INSTITUTION:
        return (EnrollmentTally.institution_id == actor.institution_id) | \
            EnrollmentTally.institution_id.in_(covered_institutions(actor))
    return _by_institution(EnrollmentTally.institution_id)(actor)


def _via_enrollment(column, enrollment_rule=_enrollment):
    """Records of an enrollment the actor may ``enrollment_rule``: an EXISTS on the
    enrollment's primary key for each row, not ``IN (every enrollment of the province)``,
    which the database would list in full before a page of 20 or a single record's check."""
    def rule(actor):
        return select(Enrollment.id).where(
            Enrollment.id == column, enrollment_rule(actor)).correlate(
            column.table).exists()

    return rule


def _snapshot(actor):
    # Personal data of the physician, read only by the scope above them (监考管理).
    if actor.kind == PHYSICIAN:
        return false()
    attempts = select(ExamAttempt.id).where(_via_enrollment(ExamAttempt.enrollment_id)(actor))
    return Snapshot.attempt_id.in_(attempts)


def _enrollment_print(actor):
    """The physician's own; the institution that included them (not the assessment institution
    that re-reviewed); the administrations above that institution."""
    if actor.kind == PHYSICIAN:
        return Enrollment.physician_id == actor.physician_id
    return _by_institution(Enrollment.institution_id)(actor)


def _certificate(actor):
    # The same people as for printing, on the certificate's own copy of physician and institution.
    if actor.kind == PHYSICIAN:
        return Certificate.physician_id == actor.physician_id
    return _by_institution(Certificate.institution_id)(actor)


def _certificate_revoke(actor):
    if actor.kind == ADMINISTRATION:
        return _by_institution(Certificate.institution_id)(actor)
    return false()


def _proctor_case(actor):
    if actor.kind == PHYSICIAN:
        return false()
    attempts = select(ExamAttempt.id).where(_via_enrollment(ExamAttempt.enrollment_id)(actor))
    return ProctorCase.attempt_id.in_(attempts)


def _attempt_proctoring(enrollment_rule):
    """监考管理's actions on an attempt: 标记疑似 by the institution where it was taken
    (REVIEW), 撤销标记 by the administrations above it (MANAGE), the decision by the province
    (DECIDE)."""
    return _via_enrollment(ExamAttempt.enrollment_id, enrollment_rule)


def _institution_own_enrollments(actor):
    if actor.kind == INSTITUTION:
        return Enrollment.institution_id == actor.institution_id
    return false()


def _administration_enrollments(actor):
    if actor.kind == ADMINISTRATION:
        return _by_institution(Enrollment.institution_id)(actor)
    return false()


def _province_enrollments(actor):
    if _is_province(actor):
        return _by_institution(Enrollment.institution_id)(actor)
    return false()


def _audit(actor):
    if actor.kind == ADMINISTRATION:
        return AuditLog.admin_path.like(actor.subtree)
    if actor.kind == INSTITUTION:
        return AuditLog.institution_id == actor.institution_id
    return false()


# Files made for the one who asked (an export, a batch of certificates): theirs alone, for
# every actor, the system administrator included.
PRIVATE_FILE_PURPOSES = ("export", "certificates")


def _not_someone_elses(actor):
    return or_(StoredFile.purpose.is_(None), StoredFile.purpose.notin_(PRIVATE_FILE_PURPOSES),
               StoredFile.uploaded_by_id == actor.user_id)


def _stored_file(actor):
    # What one uploaded or had exported is always one's own to read.
    mine = StoredFile.uploaded_by_id == actor.user_id
    if actor.kind == PHYSICIAN:
        return mine | (StoredFile.physician_id == actor.physician_id)
    ids = _own_institution_ids(actor)
    if ids is None:
        return mine
    # A physician's files follow the physician as they are now: their current institution's
    # roster (and that institution's administrations), and the assessment institution that
    # re-reviews that institution. A former institution loses them at the transfer.
    physicians = select(Physician.id).where(_physician(actor))
    if actor.kind == INSTITUTION:
        physicians = select(Physician.id).where(
            _physician(actor) | Physician.institution_id.in_(covered_institutions(actor)))
    return mine | (_not_someone_elses(actor) & (StoredFile.institution_id.in_(ids)
                                                 | StoredFile.physician_id.in_(physicians)))


def _user(actor):
    return AppUser.id == actor.user_id if actor.user_id else false()


def _staff_reference(actor):
    # Catalogues and the cycle's calendar: every logged-in user reads them.
    return true() if actor.kind != NOBODY else false()


def _provincial(column):
    """Cycles, schedules, papers and questions are set by the administration that owns the
    cycle (the province): an administration whose subtree holds it."""
    def rule(actor):
        if actor.kind != ADMINISTRATION:
            return false()
        return column.in_(select(Administration.id).where(
            Administration.path.like(actor.subtree)))

    return rule


def _own_mistakes(actor):
    if actor.kind == PHYSICIAN:
        return PracticeMistake.physician_id == actor.physician_id
    return false()


def _is_province(actor):
    return actor.kind == ADMINISTRATION and actor.admin_path.count("/") == 2


def _cycle_owned(cycle_column):
    def rule(actor):
        return cycle_column.in_(select(Cycle.id).where(_provincial(Cycle.administration_id)(actor)))

    return rule


_RULES = {
    Administration: {READ: _administration,
                     CHANGE: lambda actor: Administration.path.like(actor.subtree)
                     if actor.kind == ADMINISTRATION else false(),
                     MANAGE: _administration_below},
    Institution: {READ: _institution, CHANGE: _institution_change,
                  MANAGE: lambda actor: Institution.admin_path.like(actor.subtree)
                  if actor.kind == ADMINISTRATION else false()},
    Department: {READ: _by_institution(Department.institution_id),
                 CHANGE: _by_institution(Department.institution_id)},
    AssessmentApplication: {
        READ: _by_institution(AssessmentApplication.institution_id),
        CHANGE: lambda actor: (AssessmentApplication.institution_id == actor.institution_id)
        if actor.kind == INSTITUTION else false(),
        DECIDE: lambda actor: _by_institution(AssessmentApplication.institution_id)(actor)
        if actor.kind == ADMINISTRATION else false(),
    },
    ApplicationAttachment: {READ: lambda actor: ApplicationAttachment.application_id.in_(
        select(AssessmentApplication.id).where(_RULES[AssessmentApplication][READ](actor)))},
    Physician: {READ: _physician, CHANGE: _physician_change, TAKE_IN: _physician_take_in,
                MANAGE: lambda actor: false() if actor.kind == PHYSICIAN
                else _physician_change(actor)},
    Experience: {
        READ: lambda actor: Experience.physician_id.in_(select(Physician.id).where(
            _physician(actor))),
        CHANGE: lambda actor: (Experience.physician_id == actor.physician_id)
        if actor.kind == PHYSICIAN else false(),
    },
    Enrollment: {READ: _enrollment, CHANGE: _enrollment_change, REVIEW: _enrollment_review,
                 REREVIEW: _enrollment_rereview, DECIDE: _enrollment_decide,
                 PRINT: _enrollment_print},
    Certificate: {READ: _certificate, DECIDE: _certificate_revoke},
    EnrollmentTally: {READ: _tally},
    Submission: {READ: _via_enrollment(Submission.enrollment_id)},
    ReviewRecord: {READ: _via_enrollment(ReviewRecord.enrollment_id)},
    OtherOpinion: {READ: _via_enrollment(OtherOpinion.enrollment_id),
                   CHANGE: _via_enrollment(OtherOpinion.enrollment_id, _enrollment_review)},
    Exemption: {
        READ: _via_enrollment(Exemption.enrollment_id),
        CHANGE: _via_enrollment(Exemption.enrollment_id,
                                lambda actor: (Enrollment.physician_id == actor.physician_id)
                                if actor.kind == PHYSICIAN else false()),
        REVIEW: _via_enrollment(Exemption.enrollment_id, _enrollment_review),
        REREVIEW: _via_enrollment(Exemption.enrollment_id, _enrollment_rereview),
    },
    ExamAttempt: {
        READ: _via_enrollment(ExamAttempt.enrollment_id),
        CHANGE: _via_enrollment(ExamAttempt.enrollment_id,
                                lambda actor: (Enrollment.physician_id == actor.physician_id)
                                if actor.kind == PHYSICIAN else false()),
        REVIEW: _attempt_proctoring(_institution_own_enrollments),
        MANAGE: _attempt_proctoring(_administration_enrollments),
        DECIDE: _attempt_proctoring(_province_enrollments),
    },
    ProctorCase: {READ: _proctor_case},
    FaceVerification: {
        READ: lambda actor: false() if actor.kind == PHYSICIAN
        else _via_enrollment(FaceVerification.enrollment_id)(actor)},
    FaceConsent: {READ: lambda actor: FaceConsent.physician_id.in_(
        select(Physician.id).where(_physician(actor)))},
    PaperResult: {READ: _via_enrollment(PaperResult.enrollment_id)},
    Snapshot: {READ: _snapshot},
    AuditLog: {READ: _audit},
    StoredFile: {READ: _stored_file},
    # 导出记录: one's own exports, whoever one is.
    ExportJob: {READ: lambda actor: ExportJob.requested_by_id == actor.user_id
                if actor.user_id else false()},
    AppUser: {READ: _user, CHANGE: _user},
    SmsMessage: {READ: lambda actor: false()},
    CycleConfirmation: {READ: lambda actor: CycleConfirmation.user_id == actor.user_id,
                        CHANGE: lambda actor: CycleConfirmation.user_id == actor.user_id},
    Subject: {READ: _staff_reference},
    Cycle: {READ: _staff_reference, CHANGE: _provincial(Cycle.administration_id)},
    ScheduleWindow: {READ: _staff_reference, CHANGE: _cycle_owned(ScheduleWindow.cycle_id)},
    Paper: {READ: _staff_reference, CHANGE: _cycle_owned(Paper.cycle_id)},
    # The bank is the province's: staff read it (physicians never see answers), the province
    # administration keeps it.
    Question: {
        READ: lambda actor: false() if actor.kind == PHYSICIAN else _staff_reference(actor),
        CHANGE: lambda actor: true() if _is_province(actor) else false(),
    },
    # 错题本: the physician's own, to read and to remove from.
    PracticeMistake: {READ: _own_mistakes, CHANGE: _own_mistakes},
}


def condition(model, actor=None, action=READ):
    """The SQL condition selecting the rows of ``model`` the actor may ``action``."""
    actor = actor or current_actor()
    if actor.kind == ALL:
        return _not_someone_elses(actor) if model is StoredFile and actor.user_id else true()
    if actor.kind == NOBODY:
        return false()
    rule = _RULES.get(model, {}).get(action)
    if rule is None:
        # A model or an action without a rule is allowed to nobody but the system.
        return false()
    return rule(actor)


def restrict(query, model, actor=None, action=READ):
    return query.filter(condition(model, actor, action))


def is_visible(obj, actor=None, action=READ):
    model = type(obj)
    if obj.id is None:
        return False
    pk = model.id
    return (
        db.session.query(pk).filter(pk == obj.id, condition(model, actor, action)).first()
        is not None
    )


def condition_holds(actor, action, model, ident):
    """Whether the actor may ``action`` the record ``ident`` (no 404: for choosing a path)."""
    return db.session.query(model.id).filter(
        model.id == int(ident), condition(model, actor, action)).first() is not None


def require(actor, action, model, ident):
    """The record ``ident`` of ``model`` if the actor may ``action`` it; otherwise 404, the same
    answer as for a record that does not exist (another tenant's record is simply not found)."""
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        abort(404)
    obj = restrict(db.session.query(model), model, actor, action).filter(
        model.id == ident).first()
    if obj is None:
        abort(404)
    return obj


def require_all(actor, action, model, idents):
    """Several records in one query; any id outside the scope makes the whole request a 404."""
    try:
        ids = {int(ident) for ident in idents}
    except (TypeError, ValueError):
        abort(404)
    items = restrict(db.session.query(model), model, actor, action).filter(
        model.id.in_(ids)).order_by(model.id).all() if ids else []
    if not items or len(items) != len(ids):
        abort(404)
    return items


def get_or_404(model, ident, actor=None):
    """Read one record by id within scope (pages that only show)."""
    return require(actor or current_actor(), READ, model, ident)


def ensure_in_scope(obj, actor=None, action=CHANGE):
    """After a change, check the record still lies inside the actor's scope, or refuse.

    Flushes so that the check runs the very condition lists use, on the row as it now is."""
    db.session.flush()
    if not is_visible(obj, actor, action):
        db.session.rollback()
        abort(404)

"""Scoping: which rows a user may see and change, for every model, in one place.

Each model has one rule, a function from the acting user to a SQL condition. Lists, shows,
edits, deletes, actions, exports, file downloads and JSON endpoints all read through
``restrict``/``get_or_404`` (the console's data interface calls them for every query), and a
single-record check is the same condition asked of one id, so list filtering and record checks
cannot drift apart. Outside a request (CLI, jobs) there is no user and nothing is restricted.
"""
from dataclasses import dataclass
from typing import Optional

from flask import abort, g, has_request_context
from flask_login import current_user
from sqlalchemy import false, literal, select, true

from app.extensions import db
from models import (
    Administration,
    ApplicationAttachment,
    AppUser,
    AssessmentApplication,
    AuditLog,
    Cycle,
    CycleConfirmation,
    Department,
    Enrollment,
    EnrollmentTally,
    Exemption,
    Experience,
    ExamAttempt,
    Institution,
    OtherOpinion,
    Paper,
    PaperResult,
    Physician,
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


def current_actor():
    if not has_request_context():
        return SYSTEM
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


def _institution(actor):
    if actor.kind == ADMINISTRATION:
        return Institution.admin_path.like(actor.subtree)
    if actor.kind == INSTITUTION:
        # An assessment institution also sees the institutions assigned to it.
        return (Institution.id == actor.institution_id) | (
            Institution.assessment_institution_id == actor.institution_id
        )
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


def _enrollment(actor):
    if actor.kind == PHYSICIAN:
        return Enrollment.physician_id == actor.physician_id
    if actor.kind == INSTITUTION:
        assigned = select(Institution.id).where(
            Institution.assessment_institution_id == actor.institution_id
        )
        return (Enrollment.institution_id == actor.institution_id) | Enrollment.institution_id.in_(
            assigned
        )
    return _by_institution(Enrollment.institution_id)(actor)


def _tally(actor):
    """The same institutions as ``_enrollment``, for the per-institution state counts."""
    if actor.kind == INSTITUTION:
        assigned = select(Institution.id).where(
            Institution.assessment_institution_id == actor.institution_id)
        return (EnrollmentTally.institution_id == actor.institution_id) | \
            EnrollmentTally.institution_id.in_(assigned)
    return _by_institution(EnrollmentTally.institution_id)(actor)


def _via_enrollment(column):
    def rule(actor):
        return column.in_(select(Enrollment.id).where(_enrollment(actor)))

    return rule


def _snapshot(actor):
    attempts = select(ExamAttempt.id).where(_via_enrollment(ExamAttempt.enrollment_id)(actor))
    return Snapshot.attempt_id.in_(attempts)


def _audit(actor):
    if actor.kind == ADMINISTRATION:
        return AuditLog.admin_path.like(actor.subtree)
    if actor.kind == INSTITUTION:
        return AuditLog.institution_id == actor.institution_id
    return false()


def _stored_file(actor):
    # What one uploaded or had exported is always one's own to read.
    mine = StoredFile.uploaded_by_id == actor.user_id
    if actor.kind == PHYSICIAN:
        return mine | (StoredFile.physician_id == actor.physician_id)
    ids = _own_institution_ids(actor)
    if ids is None:
        return mine
    # The physicians' files it may read: its own roster's, and, for an assessment institution,
    # those of the physicians whose enrollments it re-reviews.
    return (mine | StoredFile.institution_id.in_(ids)
            | StoredFile.physician_id.in_(select(Physician.id).where(_physician(actor)))
            | StoredFile.physician_id.in_(select(Enrollment.physician_id).where(
                _enrollment(actor))))


def _user(actor):
    return AppUser.id == actor.user_id if actor.user_id else false()


def _staff_reference(actor):
    # Catalogues and the cycle's calendar: every logged-in user reads them.
    return true() if actor.kind != NOBODY else false()


_RULES = {
    Administration: _administration,
    Institution: _institution,
    Department: _by_institution(Department.institution_id),
    AssessmentApplication: _by_institution(AssessmentApplication.institution_id),
    ApplicationAttachment: lambda actor: ApplicationAttachment.application_id.in_(
        select(AssessmentApplication.id).where(_RULES[AssessmentApplication](actor))
    ),
    Physician: _physician,
    Experience: lambda actor: Experience.physician_id.in_(
        select(Physician.id).where(_physician(actor))
    ),
    Enrollment: _enrollment,
    EnrollmentTally: _tally,
    Submission: _via_enrollment(Submission.enrollment_id),
    ReviewRecord: _via_enrollment(ReviewRecord.enrollment_id),
    OtherOpinion: _via_enrollment(OtherOpinion.enrollment_id),
    Exemption: _via_enrollment(Exemption.enrollment_id),
    ExamAttempt: _via_enrollment(ExamAttempt.enrollment_id),
    PaperResult: _via_enrollment(PaperResult.enrollment_id),
    Snapshot: _snapshot,
    AuditLog: _audit,
    StoredFile: _stored_file,
    AppUser: _user,
    SmsMessage: lambda actor: false(),
    CycleConfirmation: lambda actor: CycleConfirmation.user_id == actor.user_id,
    Subject: _staff_reference,
    Cycle: _staff_reference,
    ScheduleWindow: _staff_reference,
    Paper: _staff_reference,
    Question: lambda actor: false() if actor.kind == PHYSICIAN else _staff_reference(actor),
}


def condition(model, actor=None):
    """The SQL condition selecting the rows of ``model`` that the actor may see."""
    actor = actor or current_actor()
    if actor.kind == ALL:
        return true()
    if actor.kind == NOBODY:
        return false()
    rule = _RULES.get(model)
    if rule is None:
        # A model without a rule is visible to nobody but the system: fail closed.
        return false()
    return rule(actor)


def restrict(query, model, actor=None):
    return query.filter(condition(model, actor))


def is_visible(obj, actor=None):
    model = type(obj)
    if obj.id is None:
        return False
    pk = model.id
    return (
        db.session.query(pk).filter(pk == obj.id, condition(model, actor)).first() is not None
    )


def get_or_404(model, ident, actor=None):
    """Fetch one record by id within scope; another tenant's record is simply not found."""
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        abort(404)
    obj = restrict(db.session.query(model), model, actor).filter(model.id == ident).first()
    if obj is None:
        abort(404)
    return obj


def ensure_in_scope(obj, actor=None):
    """After a change, check the record still lies inside the actor's scope, or undo and 404.

    Flushes so that the check runs the very condition lists use, on the row as it now is.
    """
    db.session.flush()
    if not is_visible(obj, actor):
        db.session.rollback()
        abort(404)

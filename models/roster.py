"""The institution's roster (医师管理): include in the cycle, cancel, add, transfer out and in,
delete. Plain functions over the models; each refuses with a message for the user
(RosterError) before changing anything, and records what it did in the audit log."""
import datetime
from collections import Counter

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select

from app.extensions import db
from models.base import Refused
from models import workflow
from models.account import AppUser
from models.audit import record as audit
from models.audit import record_many
from models.cycle import Cycle
from models.enrollment import ENROLLMENT_STATE, Enrollment
from models.institution import Department
from models.physician import ROSTER_STATUS, TRANSFER_REASON, Physician
from security import idcard, roles

DUPLICATE_MESSAGE = _l("The physician already exists, please look them up under "
                       "[Transfer in physician]")


class RosterError(Refused):
    """The roster action was refused; the message is for the user."""


def include(physicians, cycle, user=None, today=None):
    """允许报名: put physicians into the cycle. Returns how many were newly included.

    The caller has locked the physicians' rows, so the enrollments read here are the
    committed ones and a second batch of the same physicians finds them included."""
    Cycle.require_current(cycle).require_open("enrollment", today)
    out = [p.name for p in physicians if p.roster_status != ROSTER_STATUS.ACTIVE]
    if out:
        raise RosterError(_("Physicians %(names)s have been transferred out of this institution "
                            "and cannot be allowed to enroll", names=_(", ").join(out[:5])))
    ids = [p.id for p in physicians]
    existing = {
        e.physician_id: e
        for e in db.session.scalars(
            select(Enrollment).where(Enrollment.cycle_id == cycle.id,
                                     Enrollment.physician_id.in_(ids))
        )
    }
    added = 0
    fresh = []
    for physician in physicians:
        enrollment = existing.get(physician.id)
        if enrollment is None:
            fresh.append(physician)
        elif enrollment.state == ENROLLMENT_STATE.CANCELLED:
            # Re-included, perhaps by another institution: the cancelled record moves with it.
            workflow.moving_institution(enrollment, physician.institution_id)
            workflow.apply(enrollment, "reinclude", user=user)
            added += 1
    # Hundreds at a time: one multi-row insert each for the enrollments and their audit rows.
    if fresh:
        now = datetime.datetime.now()
        db.session.execute(insert(Enrollment), [{
            "cycle_id": cycle.id, "physician_id": p.id, "institution_id": p.institution_id,
            "state": ENROLLMENT_STATE.PENDING_ENROLLMENT, "form_data": {}, "completed_steps": 0,
            "included_at": now, "updated_at": now} for p in fresh])
        record_many([{"entity": "physician", "entity_id": p.id, "action": "allow_enrollment",
                      "institution": p.institution,
                      "to_state": ENROLLMENT_STATE.PENDING_ENROLLMENT} for p in fresh], user=user)
        per_institution = Counter(p.institution_id for p in fresh)
        for institution_id, count in per_institution.items():
            workflow.tally(cycle.id, institution_id, ENROLLMENT_STATE.PENDING_ENROLLMENT, count)
    return added + len(fresh)


def cancel(enrollment, reason, user=None):
    """取消报名 with a reason, only before the institution has reviewed."""
    workflow.apply(enrollment, "cancel", reason=reason, user=user)


def find_by_id_number(raw):
    """The physician an ID number names, in any of its accepted forms, or None."""
    try:
        number = idcard.normalize(raw)
    except idcard.InvalidIdNumber as error:
        raise RosterError(str(error)) from None
    return db.session.scalars(select(Physician).where(Physician.id_number == number)).first()


def check_new(physician):
    """新增医师 checks: the ID is new in every form, the department is this institution's and
    enabled. ``physician`` is not yet saved; ``institution_id`` is set."""
    number = physician.id_number
    if find_by_id_number(number) is not None:
        raise RosterError(str(DUPLICATE_MESSAGE))
    if physician.department is not None:
        Department.require_enabled_of(physician.department, physician.institution_id)
    physician.id_number = idcard.normalize(number)
    physician.roster_status = ROSTER_STATUS.ACTIVE
    if physician.birth_date is None:
        physician.birth_date = idcard.birth_date(physician.id_number)
    if physician.gender is None:
        physician.gender = idcard.gender(physician.id_number)


def open_account(physician, user=None):
    """The new physician's login: their ID number, the initial password, forced change."""
    from security.accounts import create_account

    create_account(physician.id_number, [roles.PHYSICIAN], name=physician.name,
                   physician=physician)
    audit("physician", physician.id, "add", institution=physician.institution, user=user)


def register(physician, user=None):
    """新增医师 outside the console form (import): check, save, open the account."""
    check_new(physician)
    db.session.add(physician)
    db.session.flush()
    open_account(physician, user=user)
    return physician


def still_practising_message(physician):
    at = physician.institution.name if physician.institution else ""
    return _("The physician still practises at [%(institution)s]: the former institution must "
             "transfer them out before they can be taken in", institution=at)


def transfer_out(physician, reason, detail, user=None):
    """调离: the physician leaves the institution and can be taken in elsewhere."""
    if physician.roster_status != ROSTER_STATUS.ACTIVE:
        raise RosterError(_("The physician has already been transferred out"))
    if reason not in TRANSFER_REASON:
        raise RosterError(_("Please choose the reason for the transfer"))
    detail = (detail or "").strip()
    if reason == TRANSFER_REASON.OTHER and not detail:
        raise RosterError(_('When the reason is "Other", please give the details'))
    institution = physician.institution
    physician.roster_status = ROSTER_STATUS.TRANSFERRED_OUT
    physician.transfer_reason = reason
    physician.transfer_detail = detail or None
    physician.previous_institution_id = physician.institution_id
    physician.institution_id = None
    physician.department_id = None
    label = TRANSFER_REASON.label(reason)
    audit("physician", physician.id, "transfer_out", institution=institution,
          reason=_("%(reason)s: %(detail)s", reason=label, detail=detail) if detail else label,
          user=user)


def transfer_in(physician, institution, department=None, user=None):
    """调入: only a physician who has been transferred out may be taken in."""
    if physician.roster_status == ROSTER_STATUS.ACTIVE:
        raise RosterError(still_practising_message(physician))
    if department is not None:
        Department.require_enabled_of(department, institution.id)
    physician.roster_status = ROSTER_STATUS.ACTIVE
    physician.institution_id = institution.id
    physician.department_id = department.id if department is not None else None
    physician.transfer_reason = None
    physician.transfer_detail = None
    audit("physician", physician.id, "transfer_in", institution=institution, user=user)


def delete(physician, user=None):
    """删除: only a physician with no enrollment history; their account goes too."""
    if db.session.scalars(select(Enrollment.id).where(Enrollment.physician_id == physician.id)
                          ).first() is not None:
        raise RosterError(_("The physician has enrollment records and cannot be deleted; if "
                            "they have left this institution, transfer them out"))
    audit("physician", physician.id, "delete", institution=physician.institution,
          reason=f"{physician.name} {idcard.mask(physician.id_number)}", user=user)
    for account in db.session.scalars(select(AppUser).where(AppUser.physician_id == physician.id)):
        account.roles = []
        db.session.delete(account)
    db.session.delete(physician)

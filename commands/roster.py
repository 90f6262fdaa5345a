"""医师管理: 允许报名, 取消报名, 新增医师, 调离, 调入, 删除 and the Excel import. Physicians are
loaded through scope for ``change`` (an institution's own roster; a transferred-out physician
for 调入, ``take_in``) and locked, so that the same batch fired twice includes each physician once."""
from flask_babel import gettext as _

from app.extensions import db
from commands import command, lock, user_of
from models import Department, Enrollment, Institution, Physician
from models import roster
from models.cycle import Cycle
from models.enrollment import ENROLLMENT_STATE
from security import scope


@command
def include(actor, physician_ids):
    """允许报名 (and 重新纳入 of a cancelled enrollment) for the selected physicians."""
    physicians = scope.require_all(actor, scope.CHANGE, Physician, physician_ids)
    lock(*physicians)
    added = roster.include(physicians, Cycle.current(), user=user_of(actor))
    if added == 0:
        raise roster.RosterError(_("The selected physicians have already been allowed to "
                                   "enroll"))
    return added


def current_enrollment(physician):
    cycle = Cycle.current()
    return db.session.query(Enrollment).filter_by(
        cycle_id=cycle.id if cycle else -1, physician_id=physician.id).first()


def cancellable(physician):
    """None, or why the physician's enrollment cannot be cancelled (shown before the form)."""
    enrollment = current_enrollment(physician)
    if enrollment is None or enrollment.state == ENROLLMENT_STATE.CANCELLED:
        return _("The physician has not been allowed to enroll")
    return None


@command
def cancel(actor, physician_id, reason):
    """取消报名 with a reason, before the institution has reviewed."""
    physician = scope.require(actor, scope.CHANGE, Physician, physician_id)
    enrollment = current_enrollment(physician)
    if enrollment is None:
        raise roster.RosterError(_("The physician has not been allowed to enroll"))
    lock(scope.require(actor, scope.CHANGE, Enrollment, enrollment.id))
    roster.cancel(enrollment, reason, user=user_of(actor))
    return enrollment


@command
def transfer_out(actor, physician_id, reason, detail):
    physician = lock(scope.require(actor, scope.CHANGE, Physician, physician_id))
    roster.transfer_out(physician, reason, detail, user=user_of(actor))
    return physician


@command
def transfer_in(actor, physician_id, department_id=None):
    """调入 by the acting institution, of a physician another institution transferred out."""
    institution = scope.require(actor, scope.CHANGE, Institution, actor.institution_id)
    physician = lock(scope.require(actor, scope.TAKE_IN, Physician, physician_id))
    department = None
    if department_id:
        department = db.session.get(Department, int(department_id))
        Department.require_enabled_of(department, institution.id)
    roster.transfer_in(physician, institution, department, user=user_of(actor))
    return physician


@command
def delete(actor, physician_id):
    physician = lock(scope.require(actor, scope.CHANGE, Physician, physician_id))
    roster.delete(physician, user=user_of(actor))


@command
def import_roster(actor, data):
    """医师批量导入 into the acting institution: valid rows in one transaction."""
    from models import roster_import

    institution = scope.require(actor, scope.CHANGE, Institution, actor.institution_id)
    return roster_import.import_roster(data, institution, user=user_of(actor))

"""An institution's own record and departments, the administration's switches on institutions,
and the first-login 去确认 of the cycle dates."""
from app.extensions import db
from commands import command, user_of
from models import CycleConfirmation, Department, Institution
from models.audit import record as audit
from models.base import now
from models.cycle import Cycle
from security import scope


@command
def update_own(actor, populate):
    """本机构信息: ``populate(institution)`` copies the validated form onto the record."""
    institution = scope.require(actor, scope.CHANGE, Institution, actor.institution_id)
    populate(institution)
    audit("institution", institution.id, "update", institution=institution,
          user=user_of(actor))
    return institution


@command
def set_application_open(actor, institution_ids, value):
    """开放/关闭 申请考核机构 for the selected institutions (not for assessment institutions)."""
    institutions = scope.require_all(actor, scope.CHANGE, Institution, institution_ids)
    user = user_of(actor)
    for item in institutions:
        if item.is_assessment and value:
            continue
        item.application_open = value
        audit("institution", item.id, "open_application" if value else "close_application",
              institution=item, user=user)
    return institutions


@command
def set_departments_enabled(actor, department_ids, enabled):
    departments = scope.require_all(actor, scope.CHANGE, Department, department_ids)
    user = user_of(actor)
    for department in departments:
        department.enabled = enabled
        audit("department", department.id, "enable" if enabled else "disable",
              institution=department.institution, user=user)
    return departments


@command
def confirm_cycle(actor):
    """去确认: the user has read this cycle's dates (once per user and cycle)."""
    cycle = Cycle.current()
    if cycle is None or actor.user_id is None:
        return False
    table = CycleConfirmation.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # Two clicks at once confirm once: the unique (cycle, user) row decides, not a prior read.
    result = db.session.execute(insert(table).values(
        cycle_id=cycle.id, user_id=actor.user_id, confirmed_at=now()).on_conflict_do_nothing())
    return result.rowcount == 1

"""申请考核机构: an institution applies, with 4 required and 1 optional attachment, once its
administration has opened the application for it and inside the schedule window; the
administration approves (the institution becomes an assessment institution) or rejects."""
import datetime

from flask_appbuilder.security.sqla.models import Role
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models.base import Refused
from models.account import AppUser
from models import workflow
from models.cycle import Cycle
from models.institution import (
    APPLICATION_STATE,
    ApplicationAttachment,
    AssessmentApplication,
)
from security import roles

SLOTS = {
    1: (_l("Registration form of the physician periodic assessment institution"), True),
    2: (_l("Practice licence of the medical institution / institution code certificate of the "
           "People's Republic of China / registration certificate of the social organisation "
           "as a legal person: duplicate and copy"), True),
    3: (_l("Organisation, member list and CVs of the physician periodic assessment committee "
           "to be set up"), True),
    4: (_l("Working rules and implementation plan of the physician periodic assessment"), True),
    5: (_l("Other materials required by the provincial health administration"), False),
}


class ApplicationRefused(Refused):
    """The application step was refused; the message is for the user."""


def check_may_apply(institution, cycle, today=None):
    if institution.is_assessment:
        raise ApplicationRefused(_("This institution is already an assessment institution: "
                                   "no need to apply again"))
    if not institution.application_open:
        raise ApplicationRefused(_("The competent administration has not yet opened the "
                                   "assessment institution application for this institution"))
    Cycle.require_current(cycle).require_open("assessment_application", today)


def current_application(institution, cycle):
    return (
        db.session.query(AssessmentApplication)
        .filter_by(institution_id=institution.id, cycle_id=cycle.id)
        .order_by(AssessmentApplication.id.desc())
        .first()
    ) if cycle is not None else None


def editable(application):
    return application is None or application.state in workflow.APPLICATION_EDITABLE


def attach(institution, cycle, slot, stored, today=None):
    check_may_apply(institution, cycle, today)
    if slot not in SLOTS:
        raise ApplicationRefused(_("Unknown attachment kind"))
    application = current_application(institution, cycle)
    if application is None:
        application = AssessmentApplication(institution_id=institution.id, cycle_id=cycle.id,
                                            state=APPLICATION_STATE.DRAFT)
        db.session.add(application)
        db.session.flush()
    if not editable(application):
        raise ApplicationRefused(_("The application has been submitted: its attachments "
                                   "cannot be changed"))
    existing = next((a for a in application.attachments if a.slot == slot), None)
    if existing is not None:
        existing.file = stored
    else:
        db.session.add(ApplicationAttachment(application=application, slot=slot, file=stored))
    return application


def submit(application, user=None, today=None):
    check_may_apply(application.institution, application.cycle, today)
    have = {a.slot for a in application.attachments}
    missing = [str(label) for slot, (label, required) in SLOTS.items()
               if required and slot not in have]
    if missing and editable(application):
        raise ApplicationRefused(_("Please upload the required attachments: %(missing)s",
                                   missing=_("; ").join(missing)))
    workflow.apply(application, "submit", user=user)
    application.submitted_at = datetime.datetime.now()
    return application


def decide(application, approve, reason=None, user=None):
    """The administration's decision; approval gives the institution's accounts the role."""
    workflow.apply(application, "approve" if approve else "reject", reason=reason, user=user)
    application.decided_at = datetime.datetime.now()
    application.decided_by_id = user.id if user is not None else None
    institution = application.institution
    if approve:
        institution.is_assessment = True
        institution.application_open = False
        role = db.session.query(Role).filter_by(name=roles.ASSESSMENT).one()
        for account in db.session.query(AppUser).filter_by(institution_id=institution.id):
            if role not in account.roles:
                account.roles.append(role)
    return application

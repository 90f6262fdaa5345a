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
from models.audit import record as audit
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
EDITABLE = (APPLICATION_STATE.DRAFT, APPLICATION_STATE.REJECTED)


class ApplicationRefused(Refused):
    """The application step was refused; the message is for the user."""


def check_may_apply(institution, cycle, today=None):
    if institution.is_assessment:
        raise ApplicationRefused(_("This institution is already an assessment institution: "
                                   "no need to apply again"))
    if not institution.application_open:
        raise ApplicationRefused(_("The competent administration has not yet opened the "
                                   "assessment institution application for this institution"))
    window = cycle.window("assessment_application") if cycle is not None else None
    if window is None:
        raise ApplicationRefused(_("No assessment institution application is scheduled in the "
                                   "current cycle"))
    if not window.is_open(today or datetime.date.today()):
        raise ApplicationRefused(
            _("Outside the assessment institution application period (%(start)s ~ %(end)s)",
              start=window.start_date, end=window.end_date))


def current_application(institution, cycle):
    return (
        db.session.query(AssessmentApplication)
        .filter_by(institution_id=institution.id, cycle_id=cycle.id)
        .order_by(AssessmentApplication.id.desc())
        .first()
    ) if cycle is not None else None


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
    if application.state not in EDITABLE:
        raise ApplicationRefused(_("The application has been submitted: its attachments "
                                   "cannot be changed"))
    existing = next((a for a in application.attachments if a.slot == slot), None)
    if existing is not None:
        existing.file = stored
    else:
        db.session.add(ApplicationAttachment(application=application, slot=slot, file=stored))
    return application


def submit(institution, cycle, today=None):
    check_may_apply(institution, cycle, today)
    application = current_application(institution, cycle)
    if application is None or application.state not in EDITABLE:
        raise ApplicationRefused(
            _("Please upload the application attachments first") if application is None
            else _("The application has been submitted, please wait for the decision"))
    have = {a.slot for a in application.attachments}
    missing = [str(label) for slot, (label, required) in SLOTS.items()
               if required and slot not in have]
    if missing:
        raise ApplicationRefused(_("Please upload the required attachments: %(missing)s",
                                   missing=_("; ").join(missing)))
    before = application.state
    application.state = APPLICATION_STATE.SUBMITTED
    application.submitted_at = datetime.datetime.now()
    application.reason = None
    audit("assessment_application", application.id, "submit", institution=institution,
          from_state=before, to_state=application.state)
    return application


def decide(application, approve, reason=None, user=None):
    """The administration's decision; approval gives the institution's accounts the role."""
    if application.state != APPLICATION_STATE.SUBMITTED:
        raise ApplicationRefused(_("This application is not awaiting approval"))
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ApplicationRefused(_("Please give the reason for the rejection"))
    before = application.state
    application.state = APPLICATION_STATE.APPROVED if approve else APPLICATION_STATE.REJECTED
    application.reason = reason or None
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
    audit("assessment_application", application.id, "approve" if approve else "reject",
          institution=institution, from_state=before, to_state=application.state,
          reason=reason or None, user=user)
    return application

"""申请考核机构: the institution uploads its attachments and submits; its administration
approves or rejects. Rules are in ``models.application``."""
from flask_babel import gettext as _

from app import storage
from commands import command, lock, user_of
from models import AssessmentApplication, Institution
from models import application as applying
from models.cycle import Cycle
from security import scope


def _own_institution(actor):
    return scope.require(actor, scope.CHANGE, Institution, actor.institution_id)


@command
def attach(actor, slot, upload):
    institution = lock(_own_institution(actor))
    cycle = Cycle.current()
    applying.check_may_apply(institution, cycle)
    stored = storage.save_upload(upload, storage.ATTACHMENT, "application",
                                 institution_id=institution.id, uploaded_by_id=actor.user_id)
    return applying.attach(institution, cycle, slot, stored)


@command
def submit(actor):
    institution = lock(_own_institution(actor))
    application = applying.current_application(institution, Cycle.current())
    if application is None:
        applying.check_may_apply(institution, Cycle.current())
        raise applying.ApplicationRefused(_("Please upload the application attachments first"))
    lock(scope.require(actor, scope.CHANGE, AssessmentApplication, application.id))
    return applying.submit(application, user=user_of(actor))


@command
def decide(actor, application_ids, approve, reason=None):
    applications = scope.require_all(actor, scope.DECIDE, AssessmentApplication, application_ids)
    lock(*applications)
    user = user_of(actor)
    for application in applications:
        applying.decide(application, approve, reason=reason, user=user)
    return applications

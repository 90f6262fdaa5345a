"""免考申请 and 免考审核 (DOMAIN §8): after the enrollment is approved the physician applies with a
condition and proof; the institution approves or rejects (the physician may resubmit), then the
assessment institution re-reviews. An approved exemption waives one paper: the humanities paper
under the simple procedure, only the professional paper under the general procedure."""
import datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models.base import Refused
from models import workflow
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import EXEMPTION_STATE as X
from models.enrollment import PROCEDURE, Exemption

WAIVED_PAPER = {PROCEDURE.SIMPLE: "humanities", PROCEDURE.GENERAL: "professional"}
WAIVED_LABEL = {"humanities": _l("Medical humanities assessment"),
                "professional": _l("Professional level assessment")}


class ExemptionRefused(Refused):
    """The exemption step was refused; the message is for the user."""


def conditions():
    """The configured conditions as text in the current language: what the physician picks,
    what is stored in Exemption.condition and what a submitted choice is checked against."""
    return [str(condition) for condition in current_app.config["EXEMPTION_CONDITIONS"]]


def latest(enrollment):
    return (db.session.query(Exemption).filter_by(enrollment_id=enrollment.id)
            .order_by(Exemption.id.desc()).first()) if enrollment is not None else None


def check_may_apply(enrollment, today=None):
    if enrollment is None or enrollment.state != S.AWAITING_EXAM:
        raise ExemptionRefused(_("You may apply for exemption once your enrollment has been "
                                 "approved (enrollment complete - awaiting assessment)"))
    enrollment.cycle.require_open("exemption_application", today)


def apply(enrollment, condition, proof, user=None, today=None):
    """Apply, or resubmit after a rejection, with a configured condition and a proof file."""
    check_may_apply(enrollment, today)
    if condition not in conditions():
        raise ExemptionRefused(_("Please choose an exemption condition"))
    if proof is None:
        raise ExemptionRefused(_("Please upload the proof"))
    current = latest(enrollment)
    if current is not None and current.state != X.REJECTED:
        raise ExemptionRefused(_("The exemption application has already been submitted"))
    if current is None:
        current = Exemption(enrollment=enrollment, condition=condition, proof=proof,
                            state=X.PENDING)
        db.session.add(current)
        db.session.flush()
        from models.audit import record as audit

        audit("exemption", current.id, "apply", institution=enrollment.institution,
              to_state=X.PENDING, user=user)
    else:
        current.condition, current.proof = condition, proof
        workflow.apply(current, "resubmit", user=user)
    return current


def decide(exemption, stage, approve, reason=None, user=None, today=None):
    """The institution's decision (``stage`` "review") or the assessment institution's
    ("rereview"); which one the actor may make is scoping's answer, not this function's."""
    exemption.enrollment.cycle.require_open("exemption_review", today)
    if stage == "review":
        event = "institution_approve" if approve else "institution_reject"
    else:
        event = "assessment_approve" if approve else "assessment_reject"
    workflow.apply(exemption, event, reason=reason, user=user)
    exemption.decided_at = datetime.datetime.now()
    if exemption.state == X.APPROVED:
        exemption.waived_paper = WAIVED_PAPER.get(exemption.enrollment.procedure,
                                                  "professional")
    return exemption

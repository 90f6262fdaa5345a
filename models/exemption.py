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
from models.institution import Institution

WAIVED_PAPER = {PROCEDURE.SIMPLE: "humanities", PROCEDURE.GENERAL: "professional"}
WAIVED_LABEL = {"humanities": _l("Medical humanities assessment"),
                "professional": _l("Professional level assessment")}


class ExemptionRefused(Refused):
    """The exemption step was refused; the message is for the user."""


def conditions():
    """The configured conditions as text in the current language: what the physician picks,
    what is stored in Exemption.condition and what a submitted choice is checked against."""
    return [str(condition) for condition in current_app.config["EXEMPTION_CONDITIONS"]]


def _window(enrollment, kind, today=None):
    window = enrollment.cycle.window(kind)
    today = today or datetime.date.today()
    if window is None or not window.is_open(today):
        applying = kind == "exemption_application"
        if window is None:
            raise ExemptionRefused(_("Outside the exemption application period") if applying
                                   else _("Outside the exemption review period"))
        dates = {"start": window.start_date, "end": window.end_date}
        raise ExemptionRefused(
            _("Outside the exemption application period (%(start)s ~ %(end)s)", **dates)
            if applying else
            _("Outside the exemption review period (%(start)s ~ %(end)s)", **dates))


def latest(enrollment):
    return (db.session.query(Exemption).filter_by(enrollment_id=enrollment.id)
            .order_by(Exemption.id.desc()).first()) if enrollment is not None else None


def check_may_apply(enrollment, today=None):
    if enrollment is None or enrollment.state != S.AWAITING_EXAM:
        raise ExemptionRefused(_("You may apply for exemption once your enrollment has been "
                                 "approved (enrollment complete - awaiting assessment)"))
    _window(enrollment, "exemption_application", today)


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
        current.reject_reason = None
        workflow.apply_exemption(current, "resubmit", user=user)
    return current


def decide(exemption, reviewer_institution, approve, reason=None, user=None, today=None):
    """The institution's decision when pending; the assessment institution's after that."""
    enrollment = exemption.enrollment
    _window(enrollment, "exemption_review", today)
    own = enrollment.institution_id == reviewer_institution.id
    institution = db.session.get(Institution, enrollment.institution_id)
    assessor = institution.assessment_institution_id == reviewer_institution.id
    if exemption.state == X.PENDING and own:
        event = "institution_approve" if approve else "institution_reject"
    elif exemption.state == X.PENDING_ASSESSMENT and assessor:
        event = "assessment_approve" if approve else "assessment_reject"
    else:
        raise ExemptionRefused(_("This exemption application does not currently need this "
                                 "institution's review"))
    try:
        workflow.apply_exemption(exemption, event, reason=reason, user=user)
    except workflow.TransitionRefused as refused:
        raise ExemptionRefused(str(refused)) from None
    exemption.decided_at = datetime.datetime.now()
    if exemption.state == X.APPROVED:
        exemption.waived_paper = WAIVED_PAPER.get(enrollment.procedure, "professional")
    return exemption

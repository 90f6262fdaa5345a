"""免考申请 and 免考审核 (DOMAIN §8): after the enrollment is approved the physician applies with a
condition and proof; the institution approves or rejects (the physician may resubmit), then the
assessment institution re-reviews. An approved exemption waives one paper: the humanities paper
under the simple procedure, only the professional paper under the general procedure."""
import datetime

from flask import current_app

from app.extensions import db
from models.base import Refused
from models import workflow
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import EXEMPTION_STATE as X
from models.enrollment import PROCEDURE, Exemption
from models.institution import Institution

WAIVED_PAPER = {PROCEDURE.SIMPLE: "humanities", PROCEDURE.GENERAL: "professional"}
WAIVED_LABEL = {"humanities": "医学人文测评", "professional": "业务水平测评"}


class ExemptionRefused(Refused):
    """The exemption step was refused; the message is for the user."""


def conditions():
    return current_app.config["EXEMPTION_CONDITIONS"]


def _window(enrollment, kind, today=None):
    window = enrollment.cycle.window(kind)
    today = today or datetime.date.today()
    if window is None or not window.is_open(today):
        span = f"（{window.start_date} ~ {window.end_date}）" if window else ""
        label = "免考申请" if kind == "exemption_application" else "免考审核"
        raise ExemptionRefused(f"不在{label}时间内{span}")


def latest(enrollment):
    return (db.session.query(Exemption).filter_by(enrollment_id=enrollment.id)
            .order_by(Exemption.id.desc()).first()) if enrollment is not None else None


def check_may_apply(enrollment, today=None):
    if enrollment is None or enrollment.state != S.AWAITING_EXAM:
        raise ExemptionRefused("报名审核通过（报名完成-等待测评）后方可申请免考")
    _window(enrollment, "exemption_application", today)


def apply(enrollment, condition, proof, user=None, today=None):
    """Apply, or resubmit after a rejection, with a configured condition and a proof file."""
    check_may_apply(enrollment, today)
    if condition not in conditions():
        raise ExemptionRefused("请选择免考条件")
    if proof is None:
        raise ExemptionRefused("请上传证明材料")
    current = latest(enrollment)
    if current is not None and current.state != X.REJECTED:
        raise ExemptionRefused("免考申请已提交，请勿重复提交")
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
        raise ExemptionRefused("该免考申请当前不需要本机构审核")
    try:
        workflow.apply_exemption(exemption, event, reason=reason, user=user)
    except workflow.TransitionRefused as refused:
        raise ExemptionRefused(str(refused)) from None
    exemption.decided_at = datetime.datetime.now()
    if exemption.state == X.APPROVED:
        exemption.waived_paper = WAIVED_PAPER.get(enrollment.procedure, "professional")
    return exemption

"""Reviews of a submitted enrollment (DOMAIN §6): the institution rates 工作成绩 and 职业道德 and
submits or rejects; the assessment institution confirms or rejects back; the administration may
reject after review. Every state change goes through ``models.workflow``."""
from flask_babel import gettext as _

from app.extensions import db
from models.base import Refused
from models import workflow
from models.enrollment import RATING, REVIEW_STAGE, OtherOpinion, ReviewRecord

class ReviewRefused(Refused):
    """The review was refused; the message is for the user."""


def _window_open(enrollment, today=None):
    enrollment.cycle.require_open("enrollment_review", today)


def require_assessment_institution(institution):
    """A medical institution with no assessment institution assigned cannot review."""
    if institution.assessment_institution_id is None and not institution.is_assessment:
        raise ReviewRefused(_("No assessment institution has been assigned to this institution "
                              "yet, so this cannot be done: please contact %(administration)s",
                              administration=institution.administration.name))


def add_opinion(enrollment, institution_name, opinion):
    """新增意见: another practice institution's opinion, added by the reviewing institution."""
    institution_name, opinion = (institution_name or "").strip(), (opinion or "").strip()
    if not institution_name or not opinion:
        raise ReviewRefused(_("Please fill in the practice institution and the opinion"))
    db.session.add(OtherOpinion(enrollment=enrollment, institution_name=institution_name[:128],
                                opinion=opinion[:2000]))


def review_by_institution(enrollment, approve, *, work=None, ethics=None, work_comment=None,
                          ethics_comment=None, reason=None, user=None, today=None):
    """The first-level review: 提交 with both ratings, or 驳回 with a reason."""
    require_assessment_institution(enrollment.institution)
    _window_open(enrollment, today)
    if approve:
        if work not in RATING or ethics not in RATING:
            raise ReviewRefused(_("Please rate work performance and professional ethics: "
                                  "qualified/unqualified"))
        workflow.apply(enrollment, "institution_approve", user=user)
        enrollment.work_rating, enrollment.ethics_rating = work, ethics
    else:
        workflow.apply(enrollment, "institution_reject", reason=reason, user=user)
    db.session.add(ReviewRecord(
        enrollment=enrollment, stage=REVIEW_STAGE.INSTITUTION,
        decision="approve" if approve else "reject", work_rating=work if approve else None,
        ethics_rating=ethics if approve else None, work_comment=(work_comment or "").strip() or None,
        ethics_comment=(ethics_comment or "").strip() or None,
        reason=None if approve else (reason or "").strip() or None,
        reviewer_id=user.id if user else None))


def review_by_assessment(enrollment, confirm, *, reason=None, user=None, today=None):
    """复核: confirm (a 不合格 rating then makes the cycle result 不合格) or reject back."""
    _window_open(enrollment, today)
    if confirm:
        if RATING.FAIL in (enrollment.work_rating, enrollment.ethics_rating):
            workflow.apply(enrollment, "rated_unqualified", user=user,
                           reason=_("Work performance or professional ethics rated unqualified"))
        else:
            workflow.apply(enrollment, "assessment_confirm", user=user)
    else:
        workflow.apply(enrollment, "assessment_reject", reason=reason, user=user)
    db.session.add(ReviewRecord(
        enrollment=enrollment, stage=REVIEW_STAGE.ASSESSMENT,
        decision="approve" if confirm else "reject",
        reason=None if confirm else (reason or "").strip() or None,
        reviewer_id=user.id if user else None))


def reject_by_administration(enrollment, reason, user=None):
    """驳回 by the administration after review: back to the physician."""
    workflow.apply(enrollment, "administration_reject", reason=reason, user=user)
    db.session.add(ReviewRecord(enrollment=enrollment, stage=REVIEW_STAGE.ADMINISTRATION,
                                decision="reject", reason=(reason or "").strip(),
                                reviewer_id=user.id if user else None))

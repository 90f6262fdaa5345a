"""Reviews of a submitted enrollment (DOMAIN §6): the institution rates 工作成绩 and 职业道德 and
submits or rejects; the assessment institution confirms or rejects back; the administration may
reject after review. Every state change goes through ``models.workflow``."""
import datetime

from flask_babel import gettext as _

from app.extensions import db
from models.base import Refused
from models import workflow
from models.enrollment import RATING, REVIEW_STAGE, OtherOpinion, ReviewRecord
from models.institution import Institution

class ReviewRefused(Refused):
    """The review was refused; the message is for the user."""


def _window_open(enrollment, today=None):
    window = enrollment.cycle.window("enrollment_review")
    today = today or datetime.date.today()
    if window is None or not window.is_open(today):
        if window is None:
            raise ReviewRefused(_("Outside the enrollment review period"))
        raise ReviewRefused(_("Outside the enrollment review period (%(start)s ~ %(end)s)",
                              start=window.start_date, end=window.end_date))


def require_assessment_institution(institution):
    """A medical institution with no assessment institution assigned cannot review."""
    if institution.assessment_institution_id is None and not institution.is_assessment:
        raise ReviewRefused(_("No assessment institution has been assigned to this institution "
                              "yet, so this cannot be done: please contact %(administration)s",
                              administration=institution.administration.name))


def _apply(enrollment, event, reason=None, user=None):
    try:
        workflow.apply(enrollment, event, reason=reason, user=user)
    except workflow.TransitionRefused as refused:
        raise ReviewRefused(str(refused)) from None


def add_opinion(enrollment, reviewer_institution, institution_name, opinion):
    """新增意见: another practice institution's opinion, added by the reviewing institution."""
    if enrollment.institution_id != reviewer_institution.id:
        raise ReviewRefused(_("You can only add opinions for physicians of your own "
                              "institution"))
    institution_name, opinion = (institution_name or "").strip(), (opinion or "").strip()
    if not institution_name or not opinion:
        raise ReviewRefused(_("Please fill in the practice institution and the opinion"))
    db.session.add(OtherOpinion(enrollment=enrollment, institution_name=institution_name[:128],
                                opinion=opinion[:2000]))


def review_by_institution(enrollment, reviewer_institution, approve, *, work=None, ethics=None,
                          work_comment=None, ethics_comment=None, reason=None, user=None,
                          today=None):
    """The first-level review: 提交 with both ratings, or 驳回 with a reason."""
    if enrollment.institution_id != reviewer_institution.id:
        raise ReviewRefused(_("You can only review physicians of your own institution"))
    require_assessment_institution(reviewer_institution)
    _window_open(enrollment, today)
    if approve:
        if work not in RATING or ethics not in RATING:
            raise ReviewRefused(_("Please rate work performance and professional ethics: "
                                  "qualified/unqualified"))
        _apply(enrollment, "institution_approve", user=user)
        enrollment.work_rating, enrollment.ethics_rating = work, ethics
    else:
        _apply(enrollment, "institution_reject", reason=reason, user=user)
    db.session.add(ReviewRecord(
        enrollment=enrollment, stage=REVIEW_STAGE.INSTITUTION,
        decision="approve" if approve else "reject", work_rating=work if approve else None,
        ethics_rating=ethics if approve else None, work_comment=(work_comment or "").strip() or None,
        ethics_comment=(ethics_comment or "").strip() or None,
        reason=(reason or "").strip() or None, reviewer_id=user.id if user else None))


def review_by_assessment(enrollment, assessor, confirm, *, reason=None, user=None, today=None):
    """复核: confirm (a 不合格 rating then makes the cycle result 不合格) or reject back."""
    institution = db.session.get(Institution, enrollment.institution_id)
    if institution.assessment_institution_id != assessor.id:
        raise ReviewRefused(_("This physician's institution is not one this assessment "
                              "institution is responsible for"))
    _window_open(enrollment, today)
    if confirm:
        unqualified = RATING.FAIL in (enrollment.work_rating, enrollment.ethics_rating)
        if unqualified:
            _apply(enrollment, "rated_unqualified", user=user,
                   reason=_("Work performance or professional ethics rated unqualified"))
            enrollment.result = "fail"
        else:
            _apply(enrollment, "assessment_confirm", user=user)
    else:
        _apply(enrollment, "assessment_reject", reason=reason, user=user)
    db.session.add(ReviewRecord(
        enrollment=enrollment, stage=REVIEW_STAGE.ASSESSMENT,
        decision="approve" if confirm else "reject", reason=(reason or "").strip() or None,
        reviewer_id=user.id if user else None))


def reject_by_administration(enrollment, reason, user=None):
    """驳回 by the administration after review: back to the physician."""
    _apply(enrollment, "administration_reject", reason=reason, user=user)
    db.session.add(ReviewRecord(enrollment=enrollment, stage=REVIEW_STAGE.ADMINISTRATION,
                                decision="reject", reason=reason.strip(),
                                reviewer_id=user.id if user else None))

"""Reviews of a submitted enrollment (DOMAIN §6): the institution rates 工作成绩 and 职业道德 and
submits or rejects; the assessment institution confirms or rejects back; the administration may
reject after review. Every state change goes through ``models.workflow``."""
import datetime

from app.extensions import db
from models.base import Refused
from models import workflow
from models.enrollment import RATING, REVIEW_STAGE, OtherOpinion, ReviewRecord
from models.institution import Institution

NO_ASSESSMENT_MESSAGE = "当前机构暂未指定考核机构，无法进行此操作，请联系{}"


class ReviewRefused(Refused):
    """The review was refused; the message is for the user."""


def _window_open(enrollment, today=None):
    window = enrollment.cycle.window("enrollment_review")
    today = today or datetime.date.today()
    if window is None or not window.is_open(today):
        span = f"（{window.start_date} ~ {window.end_date}）" if window else ""
        raise ReviewRefused(f"不在报名信息审核时间内{span}")


def require_assessment_institution(institution):
    """A medical institution with no assessment institution assigned cannot review."""
    if institution.assessment_institution_id is None and not institution.is_assessment:
        raise ReviewRefused(NO_ASSESSMENT_MESSAGE.format(institution.administration.name))


def _apply(enrollment, event, reason=None, user=None):
    try:
        workflow.apply(enrollment, event, reason=reason, user=user)
    except workflow.TransitionRefused as refused:
        raise ReviewRefused(str(refused)) from None


def add_opinion(enrollment, institution_name, opinion):
    institution_name, opinion = (institution_name or "").strip(), (opinion or "").strip()
    if not institution_name or not opinion:
        raise ReviewRefused("请填写执业机构名称和意见")
    db.session.add(OtherOpinion(enrollment=enrollment, institution_name=institution_name[:128],
                                opinion=opinion[:2000]))


def review_by_institution(enrollment, reviewer_institution, approve, *, work=None, ethics=None,
                          work_comment=None, ethics_comment=None, reason=None, user=None,
                          today=None):
    """The first-level review: 提交 with both ratings, or 驳回 with a reason."""
    if enrollment.institution_id != reviewer_institution.id:
        raise ReviewRefused("只能审核本机构的医师")
    require_assessment_institution(reviewer_institution)
    _window_open(enrollment, today)
    if approve:
        if work not in RATING or ethics not in RATING:
            raise ReviewRefused("请评定工作成绩和职业道德：合格/不合格")
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
        raise ReviewRefused("该医师所在机构不属于本考核机构负责范围")
    _window_open(enrollment, today)
    if confirm:
        unqualified = RATING.FAIL in (enrollment.work_rating, enrollment.ethics_rating)
        if unqualified:
            _apply(enrollment, "rated_unqualified", user=user,
                   reason="工作成绩或职业道德评定为不合格")
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

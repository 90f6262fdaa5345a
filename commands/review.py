"""程序审核 / 复核 / 驳回 and 新增意见: each loads the enrollment through scope for its action
(the institution reviews its own, the assessment institution re-reviews those of the
institutions it covers, the administration decides in its subtree), locks it and moves it
through the state machine. Rules are in ``models.review``."""
from flask_babel import gettext as _

from commands import command, lock, user_of
from models import Enrollment
from models import review
from security import scope


@command
def add_opinion(actor, enrollment_id, institution_name, opinion):
    enrollment = scope.require(actor, scope.REVIEW, Enrollment, enrollment_id)
    review.add_opinion(enrollment, institution_name, opinion)
    return enrollment


@command
def review_by_institution(actor, enrollment_id, approve, *, work=None, ethics=None,
                          work_comment=None, ethics_comment=None, reason=None):
    enrollment = lock(scope.require(actor, scope.REVIEW, Enrollment, enrollment_id))
    review.review_by_institution(enrollment, approve, work=work, ethics=ethics,
                                 work_comment=work_comment, ethics_comment=ethics_comment,
                                 reason=reason, user=user_of(actor))
    return enrollment


@command
def review_batch(actor, enrollment_ids, work, ethics):
    """Several physicians, the same ratings, 提交 together; all or nothing."""
    if not enrollment_ids:
        raise review.ReviewRefused(_("Please choose physicians"))
    enrollments = lock(*scope.require_all(actor, scope.REVIEW, Enrollment, enrollment_ids))
    enrollments = enrollments if isinstance(enrollments, tuple) else (enrollments,)
    user = user_of(actor)
    for enrollment in enrollments:
        review.review_by_institution(enrollment, True, work=work, ethics=ethics, user=user)
    return len(enrollments)


@command
def review_by_assessment(actor, enrollment_id, confirm, *, reason=None):
    enrollment = lock(scope.require(actor, scope.REREVIEW, Enrollment, enrollment_id))
    review.review_by_assessment(enrollment, confirm, reason=reason, user=user_of(actor))
    return enrollment


@command
def reject_by_administration(actor, enrollment_id, reason):
    enrollment = lock(scope.require(actor, scope.DECIDE, Enrollment, enrollment_id))
    review.reject_by_administration(enrollment, reason, user=user_of(actor))
    return enrollment

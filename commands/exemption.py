"""免考审核: the institution decides on its physicians' applications, then the assessment
institution on those of the institutions it covers. Which of the two the actor is comes from
scoping (``review`` or ``rereview``), never from comparing ids here."""
from flask import abort

from commands import command, lock, user_of
from models import Exemption
from models import exam_rules
from models import exemption as exempting
from security import scope


def _stage(actor, exemption_id):
    """("review" | "rereview", exemption) for the stage the actor may decide, else 404."""
    for stage in (scope.REVIEW, scope.REREVIEW):
        if scope.condition_holds(actor, stage, Exemption, exemption_id):
            return stage, scope.require(actor, stage, Exemption, exemption_id)
    abort(404)


@command
def decide(actor, exemption_ids, approve, reason=None):
    user = user_of(actor)
    decided = []
    for exemption_id in sorted(int(i) for i in exemption_ids):
        stage, exemption = _stage(actor, exemption_id)
        lock(exemption, exemption.enrollment)
        exempting.decide(exemption, stage, approve, reason=reason, user=user)
        # A waived paper counts as passed: it may be all the physician had left to sit.
        exam_rules.settle(exemption.enrollment, user=user)
        decided.append(exemption)
    return decided

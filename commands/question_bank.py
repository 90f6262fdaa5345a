"""题库导入: the province adds questions to the bank from an Excel file, the valid rows in one
transaction. The rows are checked in ``models.question_import``; this command decides who may."""
from flask import abort
from sqlalchemy import literal, select

from app.extensions import db
from commands import command, user_of
from models import Question
from security import scope


def require_bank_keeper(actor):
    """403 unless the actor may change the bank. The bank's change rule is about the actor,
    not about one question (the province keeps the whole bank), so it is asked of no row."""
    if not db.session.scalar(select(literal(True)).where(
            scope.condition(Question, actor, scope.CHANGE))):
        abort(403)


@command
def import_questions(actor, data):
    from models import question_import

    require_bank_keeper(actor)
    result = question_import.import_questions(data, user=user_of(actor))
    # As the console's add does: what was added must lie in the actor's scope for change.
    if result.added:
        scope.require_all(actor, scope.CHANGE, Question, [q.id for q in result.added])
    return result

"""管辖关系: the administrations and institutions a province (or the system administrator
setting one up) enters from Excel, valid rows in one transaction."""
from flask import abort

from commands import command, user_of
from security import scope


@command
def import_tree(actor, data):
    """Administrations and institutions, with their accounts, under what the actor manages."""
    if actor.kind not in (scope.ALL, scope.ADMINISTRATION):
        abort(403)
    from models import tree_import

    return tree_import.import_tree(data, actor, user=user_of(actor))

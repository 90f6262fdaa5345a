"""The console's base pieces: a data interface that scopes every query, and a ModelView that
re-checks scope where FAB fetches by id on its own (actions) or writes (add, edit)."""
from flask import abort, g, request
from flask_appbuilder import ModelView, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access

from app.extensions import db
from security import scope


class ScopedInterface(SQLAInterface):
    """SQLAInterface whose every query (list, count, show, edit, delete, related choices)
    passes through ``security.scope``: the one function everyone calls."""

    def __init__(self, obj, session=None):
        super().__init__(obj, session or db.session)

    def _scoped(self, query):
        return scope.restrict(query, self.obj)

    def apply_all(self, query, *args, **kwargs):
        return super().apply_all(self._scoped(query), *args, **kwargs)

    def query_count(self, query, *args, **kwargs):
        return super().query_count(self._scoped(query), *args, **kwargs)

    def _get_base_query(self, query, *args, **kwargs):
        return super()._get_base_query(self._scoped(query), *args, **kwargs)

    def get_related_interface(self, col_name):
        return self.__class__(self.get_related_model(col_name), self.session)


def scoped(model):
    return ScopedInterface(model)


class ScopedModelView(ModelView):
    """ModelView for the console. Subclasses set ``datamodel = scoped(Model)``."""

    page_size = 20
    list_template = "appbuilder/general/model/list.html"

    def pre_add(self, item):
        self.before_save(item)
        db.session.add(item)
        scope.ensure_in_scope(item)

    def pre_update(self, item):
        self.before_save(item)
        scope.ensure_in_scope(item)

    def before_save(self, item):
        """Hook for subclasses: fill owner fields, validate. Raise ValueError to refuse."""

    def _scoped_items(self, pks):
        items = [self.datamodel.get(self._deserialize_pk_if_composite(pk)) for pk in pks]
        if not items or any(item is None for item in items):
            abort(404)
        return items

    def _action_or_403(self, name):
        action = self.actions.get(name)
        if action is None:
            abort(404)
        permission = self.get_action_permission_name(name)
        if not self.appbuilder.sm.has_access(permission, self.class_permission_name):
            abort(403)
        return action

    @expose("/action/<string:name>/<pk>", methods=["GET"])
    def action(self, name, pk):
        # Actions change data: GET never runs them (FAB refuses it too when CSRF is on).
        abort(405)

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        action = self._action_or_403(request.form.get("action", ""))
        # Always a list, as FAB passes it; another tenant's id anywhere in it is a 404.
        return action.func(self._scoped_items(request.form.getlist("rowid")))


def current_user_id():
    user = getattr(g, "user", None)
    return user.id if user is not None and user.is_authenticated else None

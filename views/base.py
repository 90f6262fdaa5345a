"""The console's base pieces: a data interface that scopes every query, and a ModelView that
re-checks scope where FAB fetches by id on its own (actions) or writes (add, edit)."""
from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import ModelView, action, expose
from flask_appbuilder.models.sqla.interface import SQLAInterface

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models.account import AppUser
from models.base import Refused
from models.audit import record as audit
from security import accounts, scope
from views.labels import LABELS


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
        """The selected rows, in one scoped query; any id outside the scope makes it a 404."""
        try:
            ids = {int(pk) for pk in pks}
        except ValueError:
            abort(404)
        model = self.datamodel.obj
        items = scope.restrict(db.session.query(model), model).filter(
            model.id.in_(ids)).order_by(model.id).all() if ids else []
        if not items or len(items) != len(ids):
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


def _display(value):
    """None shows as nothing and booleans as 是/否, not as Python's words."""
    if value is None:
        return ""
    if value is True or value is False:
        return str(_l("Yes") if value else _l("No"))
    if isinstance(value, (list, tuple)):
        return _(", ").join(str(item) for item in value)
    return value


def _labels(*columns):
    return {column: LABELS[column] for column in columns if column in LABELS}


class ConsoleView(ScopedModelView):
    """Labels come from one table so that a column reads the same in every view."""

    # Columns holding a ChoiceSet constant: edited with a select of the translated labels.
    choice_fields = {}

    def __init__(self, *args, **kwargs):
        columns = set(self.list_columns or []) | set(self.show_columns or [])
        columns |= set(self.add_columns or []) | set(self.edit_columns or [])
        columns |= set(self.search_columns or [])
        self.label_columns = {**_labels(*columns), **(self.label_columns or {})}
        self._add_choice_fields()
        self.formatters_columns = {
            **{column: _display for column in columns}, **(self.formatters_columns or {})}
        super().__init__(*args, **kwargs)
        self._install_search_filters(self._filters)
        self._name_blank_choices()

    def _name_blank_choices(self):
        """FAB's relation selects offer a blank choice that WTForms labels "__None"."""
        from flask_appbuilder.fields import QuerySelectField
        from wtforms.fields.core import UnboundField

        for form in (self.add_form, self.edit_form, self.search_form):
            for value in vars(form).values():
                if isinstance(value, UnboundField) and issubclass(value.field_class,
                                                                   QuerySelectField):
                    value.kwargs["blank_text"] = _l("Please choose")

    def _add_choice_fields(self):
        from wtforms import SelectField
        from wtforms.validators import DataRequired

        from flask_appbuilder.fieldwidgets import Select2Widget

        fields = {
            column: SelectField(self.label_columns.get(column, column),
                                choices=[("", "")] + choice_set.options(),
                                validators=[DataRequired(_l("This field is required"))],
                                widget=Select2Widget())
            for column, choice_set in self.choice_fields.items()
        }
        self.add_form_extra_fields = {**fields, **(self.add_form_extra_fields or {})}
        self.edit_form_extra_fields = {**fields, **(self.edit_form_extra_fields or {})}

    def run_command(self, command, success_message):
        """Run a domain command for an action: commit and say so, or roll back and say why."""
        try:
            command()
        except Refused as refused:
            db.session.rollback()
            flash(str(refused), "danger")
        else:
            db.session.commit()
            flash(success_message() if callable(success_message) else success_message,
                  "success")
        return self.back()

    def reason_form(self, model, pk, decide, success_message, heading):
        """A page asking for the reason of a refusal-type action (驳回, 取消, 调离…)."""
        item = scope.get_or_404(model, pk)
        error = None
        if request.method == "POST":
            try:
                decide(item, request.form.get("reason"))
            except Refused as refused:
                db.session.rollback()
                error = str(refused)
            else:
                db.session.commit()
                flash(success_message, "success")
                return redirect(url_for(".list"))
        return self.render_template("institution/reject.html", item=item, error=error,
                                    heading=heading(item)), (400 if error else 200)

    def back(self):
        """Where an action returns to: the list page it was started from."""
        from flask_appbuilder.utils.base import get_safe_redirect

        return redirect(get_safe_redirect(request.referrer or "") if request.referrer
                        else url_for(f"{self.__class__.__name__}.list"))

    def _install_search_filters(self, filters):
        """FAB's HTML views ignore `search_filters` (only its REST API reads it): a column named
        there gets exactly these filters, in this order (URL: _flt_<index>_<column>)."""
        for column, filter_classes in (getattr(self, "search_filters", None) or {}).items():
            instances = [filter_class(column, self.datamodel) for filter_class in filter_classes]
            filters._search_filters[column] = instances
            filters._all_filters[column] = instances
        return filters

    def filters_from_args(self, args):
        """A fresh filter set from `_flt_<index>_<column>` arguments, as the list reads them."""
        filters = self._install_search_filters(self.datamodel.get_filters(self.search_columns))
        for key, value in args.items():
            index, _sep, column = key.partition("_flt_")[2].partition("_")
            if key.startswith("_flt_") and index.isdigit() and column:
                filters.add_filter_index(column, int(index), value)
        return filters


class ResetPasswordMixin:
    """重置密码 by the level above: the accounts linked to the selected records go back to
    666666 with a forced change (a physician's mobile is unbound too, in accounts)."""

    account_link = None  # name of the AppUser column pointing at this view's model
    reset_message = _l("Password reset to 666666")

    def audit_place(self, item):
        return {"institution": getattr(item, "institution", None)}

    def may_reset(self, item):
        return True

    @action("reset_password", _l("Reset password"), _l("Reset the password to 666666?"),
            "fa-key", single=True, multiple=True)
    def reset_password(self, items):
        if not all(self.may_reset(item) for item in items):
            flash(_("Only accounts of the levels below can be reset; change your own password "
                    "under [Account settings]"), "danger")
            return self.back()
        link = getattr(AppUser, self.account_link)
        users = db.session.query(AppUser).filter(link.in_([i.id for i in items]))
        for user in users:
            accounts.reset_password(user)
        for item in items:
            audit(self.datamodel.obj.__tablename__, item.id, "reset_password",
                  **self.audit_place(item))
        db.session.commit()
        flash(str(self.reset_message), "success")
        return self.back()

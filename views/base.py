"""The console's base pieces: a data interface that scopes every query, and a ModelView that
re-checks scope where FAB fetches by id on its own (actions) or writes (add, edit)."""
import datetime
import enum
from functools import reduce

from flask import abort, flash, g, jsonify, redirect, request, url_for
from flask_appbuilder import ModelView, action, expose
from flask_appbuilder.models.sqla.filters import SQLAFilterConverter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_appbuilder.urltools import (get_filter_args, get_order_args, get_page_args,
                                       get_page_size_args)
from markupsafe import Markup, escape
from sqlalchemy import func
from sqlalchemy.orm import selectinload

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models.base import Refused
from security import scope
from views.labels import CHOICE_COLUMNS, LABELS
from views.list_render import KeptSearchWidget


# Rows a list reaches page by page: OFFSET paging beyond this costs the database a scan of
# everything before the page, and nobody reads 250 pages; past it the list asks to filter.
LIST_CAP = 5000
# Matches the search-as-you-type of a related filter answers with.
RELATED_MATCHES = 20


class _KeptFilterConverter(SQLAFilterConverter):
    """FAB builds a ``Filters`` three times per list request (the view's, the joined one, the
    inner query's), and each converts every column of the model into its filter instances
    again (about 2 ms a request). Filters hold no request state: each column's instances are
    made once per data interface and handed out in a new list (``Filters`` extends its lists
    in place)."""

    def convert(self, col_name):
        kept = self.datamodel.__dict__.setdefault("_dk_converted_filters", {})
        if col_name not in kept:
            kept[col_name] = super().convert(col_name)
        found = kept[col_name]
        return list(found) if found is not None else None


_MISSING = object()


class ScopedInterface(SQLAInterface):
    """SQLAInterface whose every query (list, count, show, edit, delete, related choices)
    passes through ``security.scope``: the one function everyone calls."""

    filter_converter_class = _KeptFilterConverter

    def __init__(self, obj, session=None, eager=()):
        super().__init__(obj, session or db.session)
        self._related = {}
        self.eager = tuple(eager)

    def _get_attr_value(self, item, col):
        """FAB's, reading the attribute once instead of three times (a list row's computed
        columns, 掩码证件号 or a state's label, were each computed three times per cell)."""
        value = getattr(item, col, _MISSING)
        if value is _MISSING:
            # an inner object's attribute ("institution.name")
            try:
                return reduce(getattr, col.split("."), item)
            except Exception:
                return ""
        if hasattr(value, "__call__"):
            return value()
        if isinstance(value, enum.Enum):
            return value.value
        return value

    def _scoped(self, query):
        return scope.restrict(query, self.obj)

    def _loaders(self):
        """What a list row shows through relationships ("physician", "enrollment.physician"),
        loaded for the whole page in one query each instead of one query per row."""
        for path in self.eager:
            model, loader = self.obj, None
            for name in path.split("."):
                attribute = getattr(model, name)
                loader = (selectinload(attribute) if loader is None
                          else loader.selectinload(attribute))
                model = attribute.property.mapper.class_
            yield loader

    def apply_all(self, query, *args, **kwargs):
        query = self._scoped(query)
        if self.eager:
            query = query.options(*self._loaders())
        return super().apply_all(query, *args, **kwargs)

    def query_count(self, query, filters=None, select_columns=None):
        """The rows a list counts, as ``SELECT count(*) FROM (SELECT id … LIMIT cap + 1)``:
        only ids, never the whole row, and while a console list is being built (``g``'s
        ``list_cap``) no further than the cap, since no page beyond it is shown."""
        query = self._apply_inner_all(self._scoped(query), filters,
                                      select_columns=select_columns, aliases_mapping={})
        ids = query.order_by(None).with_entities(self.obj.id)
        cap = g.get("list_cap") if g else None
        if cap:
            ids = ids.limit(cap + 1)
        return self.session.query(func.count()).select_from(ids.subquery()).scalar()

    def _get_base_query(self, query, *args, **kwargs):
        return super()._get_base_query(self._scoped(query), *args, **kwargs)

    def get_related_obj(self, col_name, value):
        """A related filter's chosen record, read within scope: another tenant's id (or no
        number) finds nothing, so the filter compares with NULL and the list is empty."""
        try:
            ident = int(value)
        except (TypeError, ValueError):
            return None
        model = self.get_related_model(col_name)
        return scope.restrict(self.session.query(model), model).filter(
            model.id == ident).first()

    def get_related_interface(self, col_name):
        # Built once per column: FAB asks for it per option and per cell (the interface holds
        # no request state; its session is the scoped one).
        if col_name not in self._related:
            self._related[col_name] = ScopedInterface(self.get_related_model(col_name),
                                                      self.session)
        return self._related[col_name]


class DisplayInterface(ScopedInterface):
    """A scoped interface where some columns read from the whole row: ``display`` maps a
    column to ``f(record) -> text`` (a state's label depends on the kind of record)."""

    display = {}

    def _get_attr_value(self, item, col):
        if col in self.display:
            return self.display[col](item)
        return super()._get_attr_value(item, col)


def scoped(model, display=None, eager=()):
    if display:
        return type(f"{model.__name__}Interface", (DisplayInterface,),
                    {"display": display})(model, eager=eager)
    return ScopedInterface(model, eager=eager)


class ScopedModelView(ModelView):
    """ModelView for the console. Subclasses set ``datamodel = scoped(Model)``."""

    page_size = 20
    list_template = "appbuilder/general/model/list.html"

    # FAB's generated add, edit and delete are the commands of plain records: its data
    # interface commits once after these hooks, so everything they add (an account, a path)
    # is in the same transaction, and a refusal raised here saves nothing.

    def pre_add(self, item):
        self.before_save(item)
        db.session.add(item)
        db.session.flush()
        self.after_insert(item)
        scope.ensure_in_scope(item)

    # The row as stored must be the actor's to change, not only the row as edited (else a
    # record one may only read, another province's paper, could be edited into one's own). It
    # is checked before FAB fills the record from the form: FAB's own hooks run after that,
    # and turn any exception, a 404 too, into a flash.
    def _edit(self, pk):
        scope.require(scope.current_actor(), scope.CHANGE, self.datamodel.obj, pk)
        return super()._edit(pk)

    def _delete(self, pk):
        scope.require(scope.current_actor(), scope.CHANGE, self.datamodel.obj, pk)
        return super()._delete(pk)

    def pre_update(self, item):
        self.before_save(item)
        scope.ensure_in_scope(item)

    def pre_delete(self, item):
        self.before_delete(item)

    def before_save(self, item):
        """Hook for subclasses: fill owner fields, validate. Raise Refused to refuse."""

    def after_insert(self, item):
        """Hook for subclasses: what a new record brings with it (its id is known)."""

    def before_delete(self, item):
        """Hook for subclasses: raise Refused to keep the record."""

    def _scoped_items(self, pks):
        """The selected rows, in one scoped query; any id outside the scope makes it a 404."""
        model = self.datamodel.obj
        return scope.require_all(scope.current_actor(), scope.READ, model, pks)

    # Related filters answered by search-as-you-type (``related``) instead of a select of
    # every related row; a view may add look-ups of its own: column -> (model, value column,
    # text column), the value being what its filter compares with.
    related_lookups = {}

    def related_columns(self):
        custom = getattr(self, "search_filters", None) or {}
        return [column for column in (self.search_columns or [])
                if column in self.related_lookups or (
                    column not in custom and self.datamodel.is_relation_many_to_one(column)
                    and hasattr(self.datamodel.get_related_model(column), "name"))]

    @expose("/list/")
    @has_access
    def list(self):
        """A search bar sends its empty fields (请选择) too: the list is shown without them,
        as if they had not been sent (an empty related filter would match nothing)."""
        from urllib.parse import urlencode

        pairs = list(request.args.items(multi=True))
        kept = [(key, value) for key, value in pairs
                if not (key.startswith("_flt_") and not value.strip())]
        if len(kept) != len(pairs):
            return redirect(request.path + ("?" + urlencode(kept) if kept else ""))
        return super().list()

    @expose("/related/<column>")
    @has_access
    @permission_name("list")
    def related(self, column):
        """``?q=`` up to RELATED_MATCHES records of a related filter the user may read whose
        name contains q; ``?id=`` the one chosen (its name, for a filter already applied).
        JSON ``[{"id", "text"}]``; scoped like every list."""
        if column not in self.related_columns():
            abort(404)
        if column in self.related_lookups:
            model, value_column, text_column = self.related_lookups[column]
        else:
            model = self.datamodel.get_related_model(column)
            value_column, text_column = model.id, getattr(model, "name", None)
        query = scope.restrict(db.session.query(model), model)
        ident = request.args.get("id")
        if ident is not None:
            query = query.filter(value_column == (int(ident) if ident.isdigit() and
                                                  value_column.key == "id" else ident))
        else:
            words = (request.args.get("q") or "").strip()[:64]
            if words and text_column is not None:
                query = query.filter(text_column.contains(words, autoescape=True))
            query = query.order_by(text_column if text_column is not None else model.id)
        if value_column.key != "id":
            rows = query.with_entities(value_column).distinct().limit(RELATED_MATCHES).all()
            return jsonify([{"id": value, "text": value} for (value,) in rows])
        loaders = [selectinload(model.institution)] if hasattr(model, "institution") else []
        items = query.options(*loaders).limit(RELATED_MATCHES).all()
        return jsonify([{"id": item.id, "text": related_text(item)} for item in items])

    def _get_list_widget(self, **kwargs):
        # A page beyond the cap shows the last page within it, with the notice (below).
        page, page_size = kwargs.get("page") or 0, kwargs.get("page_size") or self.page_size
        last = max(LIST_CAP // page_size - 1, 0)
        if page > last:
            kwargs["page"] = last
        g.list_cap = LIST_CAP
        try:
            widgets = self._list_widget_with_rows(**kwargs)
        finally:
            g.list_cap = None
        count = widgets["list"].template_args.get("count") or 0
        if count > LIST_CAP or page > last:
            widgets["list"].template_args["cap_notice"] = _(
                "More than %(cap)s records match: only the first %(cap)s can be paged "
                "through. Please narrow the list with the search conditions.",
                cap=f"{LIST_CAP:,}")
            widgets["list"].template_args["count"] = LIST_CAP
        return widgets

    def _list_widget_with_rows(self, **kwargs):
        # Each row's own actions (取消报名, 调离, 重置密码…): labelled buttons on the row.
        kwargs.setdefault("row_actions", {key: action for key, action in self.actions.items()
                                          if action.single})
        # 新增医师, 新增科室…: the add button says what it adds.
        # (FAB's own default title is English "Add …": then the button says 新增.)
        title = str(self.add_title or "")
        kwargs.setdefault("add_label", None if title.startswith("Add ") else title or None)
        return super()._get_list_widget(**kwargs)

    search_widget = KeptSearchWidget

    def _list(self, **kwargs):
        """FAB's, but the search form is built only when its widget is rendered from scratch
        (views.list_render.KeptSearchWidget keeps a static form's fields)."""
        name = self.__class__.__name__
        order_column, order_direction = get_order_args().get(name) or ("", "")
        get_filter_args(self._filters)
        widgets = self._get_list_widget(
            filters=self._filters, order_column=order_column, order_direction=order_direction,
            page=get_page_args().get(name), page_size=get_page_size_args().get(name),
            **kwargs)
        self.update_redirect()
        return self._get_search_widget(form=None, widgets=widgets)

    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None):
        widgets = widgets or {}
        widgets["search"] = self.search_widget(
            route_base=self.route_base, form=form, form_factory=self.search_form.refresh,
            unbound_form=self.search_form, include_cols=self.search_columns,
            exclude_cols=exclude_cols or [], filters=self._filters)
        return widgets

    def _action_or_403(self, name):
        action = self.actions.get(name)
        if action is None:
            abort(404)
        permission = self.get_action_permission_name(name)
        if not self.appbuilder.sm.has_access(permission, self.class_permission_name):
            abort(403)
        return action

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        """One record's action: a record page's button or a row's (a POST form with the CSRF
        token). Actions change data: GET never runs them."""
        if request.method != "POST":
            abort(405)
        action = self._action_or_403(name)
        if not action.single:
            abort(404)
        return action.func(self._scoped_items([pk]))

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        action = self._action_or_403(request.form.get("action", ""))
        # Always a list, as FAB passes it; another tenant's id anywhere in it is a 404.
        return action.func(self._scoped_items(request.form.getlist("rowid")))


def import_page(view, template, run, **context):
    """An Excel import's page: GET shows it; POST gives the chosen file (read up to the size
    limit) to ``run(actor, data)``, a command, and shows the page again with its result, or
    with its refusal (400)."""
    from models import spreadsheet

    result, error = None, None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error = _("Please choose the file to import")
        else:
            data = upload.read(spreadsheet.MAX_BYTES + 1)
            result, error = attempt(lambda: run(scope.current_actor(), data))
    return view.render_template(template, result=result, error=error, **context), (
        400 if error else 200)


def xlsx_download(data, filename):
    """An Excel file (a template, an export) as a download named ``filename`` (any language)."""
    from urllib.parse import quote

    from flask import make_response

    response = make_response(data)
    response.headers["Content-Type"] = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    return response


def attempt(call):
    """Run a command: (its result, None), or (None, the refusal's message for the user)."""
    try:
        return call(), None
    except Refused as refused:
        return None, str(refused)


def current_user_id():
    user = getattr(g, "user", None)
    return user.id if user is not None and user.is_authenticated else None


def record_name(record):
    """How a related record reads in a cell: its name, an enrollment or an attempt by its
    physician, a file by its name; never Python's ``<… object at 0x…>``."""
    for attribute in ("name", "original_name"):
        value = getattr(record, attribute, None)
        if isinstance(value, str):
            return value
    for attribute in ("physician", "enrollment", "attempt", "paper"):
        related = getattr(record, attribute, None)
        if related is not None and hasattr(related, "__table__"):
            return record_name(related)
    return ""


def related_text(record):
    """A related record as a search box offers it: a department with its institution
    (内科 · 某医院: a province has thousands of 内科)."""
    text = record_name(record)
    institution = getattr(record, "institution", None)
    if institution is not None and hasattr(institution, "__table__") and \
            not hasattr(record, "admin_path"):
        text = f"{text} · {institution.name}"
    return text


class RelatedSearchWidget:
    """A related filter's value as a search box (views/static/related_search.js): the named
    input keeps the chosen id, a visible box beside it searches ``<view>/related/<column>``.
    Without JavaScript it is a plain input of the id."""

    def __init__(self, endpoint, column):
        self.endpoint, self.column = endpoint, column

    def __call__(self, field, **kwargs):
        url = url_for(self.endpoint, column=self.column)
        return Markup(
            '<input type="text" class="form-control dk-related-search" id="{id}" name="{name}" '
            'value="{value}" data-related-url="{url}" data-placeholder="{hint}" '
            'data-empty="{empty}">').format(
            id=escape(field.id), name=escape(field.name), value=escape(field.data or ""),
            url=escape(url), hint=escape(_("Type to search")), empty=escape(_("No match")))


def _display(value):
    """None shows as nothing, booleans as 是/否, times to the minute, related records by their
    names: not as Python's words."""
    if value is None:
        return ""
    if value is True or value is False:
        return str(_l("Yes") if value else _l("No"))
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if hasattr(value, "__table__"):
        return record_name(value)
    if isinstance(value, (list, tuple)):
        return _(", ").join(_display(item) for item in value)
    return value


def _labels(*columns):
    return {column: LABELS[column] for column in columns if column in LABELS}


class ConsoleView(ScopedModelView):
    """Labels come from one table so that a column reads the same in every view."""

    # Columns holding a ChoiceSet constant: edited with a select of the translated labels.
    choice_fields = {}
    # Columns searched by a ChoiceSet constant (besides choice_fields): the search box is a
    # select of the translated labels, so 状态 = 待报名 finds what the code would.
    choice_filters = {}

    def __init__(self, *args, **kwargs):
        columns = set(self.list_columns or []) | set(self.show_columns or [])
        columns |= set(self.add_columns or []) | set(self.edit_columns or [])
        columns |= set(self.search_columns or [])
        self.label_columns = {**_labels(*columns), **(self.label_columns or {})}
        self._add_choice_fields()
        self._add_related_search_fields()
        self.formatters_columns = {
            **{column: _display for column in columns},
            **{column: choice_set.label for column, choice_set in
               {**CHOICE_COLUMNS, **self.choice_fields, **self.choice_filters}.items()
               if column in columns},
            **(self.formatters_columns or {})}
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

    def _add_related_search_fields(self):
        """Each related filter (机构, 科室, 周期…) searches as one types, a few matches at a
        time, instead of a select holding every related row the province has."""
        from wtforms import StringField

        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget

        fields = {column: StringField(self.label_columns.get(column, column),
                                      widget=RelatedSearchWidget(
                                          f"{self.__class__.__name__}.related", column))
                  for column in self.related_columns()}
        # A relation searched by a filter of its own (测评进度's 考核程序 on the enrollment)
        # takes what that filter reads, typed: never a select of every related row (264,000
        # enrollments at province scale).
        custom = getattr(self, "search_filters", None) or {}
        given = {**(self.search_form_extra_fields or {}), **fields}
        for column in self.search_columns or []:
            if column in custom and column not in given and \
                    self.datamodel.is_relation(column):
                fields[column] = StringField(self.label_columns.get(column, column),
                                             widget=BS3TextFieldWidget())
        self.search_form_extra_fields = {**fields, **(self.search_form_extra_fields or {})}

    def _add_choice_fields(self):
        from wtforms import SelectField
        from wtforms.validators import DataRequired

        from flask_appbuilder.fieldwidgets import Select2Widget

        fields = {
            column: SelectField(self.label_columns.get(column, column),
                                choices=[("", "")] + choice_set.options(),
                                validators=[DataRequired(_l("This field is required"))],
                                description=(self.description_columns or {}).get(column, ""),
                                widget=Select2Widget())
            for column, choice_set in self.choice_fields.items()
        }
        self.add_form_extra_fields = {**fields, **(self.add_form_extra_fields or {})}
        self.edit_form_extra_fields = {**fields, **(self.edit_form_extra_fields or {})}
        searched = {**self.choice_fields, **self.choice_filters}
        self.search_form_extra_fields = {
            **{column: SelectField(self.label_columns.get(column, column),
                                   choices=[("", _l("Please choose"))] + choice_set.options(),
                                   widget=Select2Widget())
               for column, choice_set in searched.items()
               if column in (self.search_columns or [])},
            **(self.search_form_extra_fields or {})}

    def run_command(self, call, success_message):
        """Run a command for an action and go back to the list, saying what happened.

        ``success_message`` may be a function of the command's result."""
        result, error = attempt(call)
        if error is not None:
            flash(error, "danger")
        else:
            flash(success_message(result) if callable(success_message) else str(success_message),
                  "success")
        return self.back()

    def reason_form(self, model, pk, decide, success_message, heading, title=_l("Reject"),
                    label=_l("Rejection reason")):
        """A page asking for the reason of a refusal-type action (驳回 with its 驳回原因, 不予补考
        with its 原因); ``decide(actor, pk, reason)`` is the command."""
        item = scope.get_or_404(model, pk)
        error = None
        if request.method == "POST":
            _result, error = attempt(lambda: decide(scope.current_actor(), item.id,
                                                    request.form.get("reason")))
            if error is None:
                flash(str(success_message), "success")
                return redirect(url_for(".list"))
        return self.render_template("institution/reject.html", item=item, error=error,
                                    heading=heading(item), title=title,
                                    label=label), (400 if error else 200)

    def back(self):
        """Where an action returns to: the list page it was started from."""
        from flask_appbuilder.utils.base import get_safe_redirect

        return redirect(get_safe_redirect(request.referrer or "") if request.referrer
                        else url_for(f"{self.__class__.__name__}.list"))

    def _install_search_filters(self, filters):
        from models.progress import install_filters

        return install_filters(filters, getattr(self, "search_filters", None), self.datamodel)


class ResetPasswordMixin:
    """重置密码 by the level above: the accounts linked to the selected records go back to
    666666 with a forced change (a physician's mobile is unbound too, in accounts)."""

    account_link = None  # name of the AppUser column pointing at this view's model
    reset_message = _l("Password reset to 666666")

    def audit_place(self, item):
        return {"institution": getattr(item, "institution", None)}

    @action("reset_password", _l("Reset password"), _l("Reset the password to 666666?"),
            "fa-key", single=True, multiple=True)
    def reset_password(self, items):
        from commands import account

        return self.run_command(
            lambda: account.reset_passwords(scope.current_actor(), self.datamodel.obj,
                                            [item.id for item in items], self.account_link,
                                            self.audit_place),
            self.reset_message)


# Error pages in the interface's language: FAB and Werkzeug answer in English.
ERROR_TEXTS = {
    400: (_l("The request could not be understood"),
          _l("The page may have been open too long: go back, reload it and try again.")),
    403: (_l("No permission"), _l("Your account may not open this page.")),
    404: (_l("Not found"), _l("The page or record does not exist, or is not yours to see.")),
    405: (_l("This cannot be done here"), _l("Go back and use the page's buttons.")),
    413: (_l("The file is too large"),
          _l("Files may be at most %(size)s MB. Go back and choose a smaller file: what you "
             "filled in is still there.")),
    500: (_l("Something went wrong"), _l("Please try again later.")),
}


def register_error_pages(app):
    from flask import render_template
    from werkzeug.exceptions import HTTPException

    def page(error):
        if not isinstance(error, HTTPException) or error.code not in ERROR_TEXTS or (
                request.path.startswith("/api/") or request.is_json
                or request.accept_mimetypes.best == "application/json"):
            return error
        from flask_wtf.csrf import CSRFError

        title, text = ERROR_TEXTS[error.code]
        if isinstance(error, CSRFError):
            text = _l("The page has expired or did not come from this site (CSRF token "
                      "missing or wrong): go back, reload it and try again.")
        size = (app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
        return render_template("error.html", code=error.code, title=title,
                               text=str(text) % {"size": size},
                               appbuilder=app.appbuilder), error.code

    for code in ERROR_TEXTS:
        app.register_error_handler(code, page)

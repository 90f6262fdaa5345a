"""A console list's rows, rendered in one Python loop (``dk_list_rows`` in
``appbuilder/general/widgets/list.html``), with the same HTML as FAB's per-row template.

Profiled under gunicorn (bench/load.py, the institution's roster), FAB's list widget cost
about half a millisecond per row: for every row it called the 查看 / 编辑 / 删除 macro, built
each link with ``url_for``, asked the security manager whether the row's actions may be shown,
and rendered each action's form (with the CSRF token) again. None of that depends on the row
but its key. So the template renders the 操作 cell once per page, for a placeholder key, and
this module copies it into each row with the row's key, together with the forms of the row's
actions that ``row_action_shown`` keeps (允许报名 or 取消报名). Which actions and links a page
offers is still decided on every request; only the per-row repetition is gone.

Keys other than integers (none of the console's tables has one) keep FAB's per-row loop, since
a key that is not a plain number would be escaped differently in a URL and in HTML.
"""
from flask import current_app
from flask_appbuilder._compat import as_unicode
from flask_appbuilder.widgets import RenderTemplateWidget, SearchWidget
from flask_babel import get_locale
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup, escape
from wtforms.fields.core import UnboundField

# Stands for a row's key in the cell rendered once per page: letters and digits only, so
# that ``url_for`` and HTML escaping leave it as it is.
PK_PLACEHOLDER = "dkRowKey7f3a"


def integer_keys(pks):
    return all(type(pk) is int for pk in pks)


def list_rows(value_columns, pks, include_columns, formatters_columns, checkbox_label,
              with_checkbox, operations, action_forms, row_action_shown=None):
    """The ``<tr>`` of every row. ``operations`` is the 操作 cell's opening (查看 / 编辑 /
    删除) for the placeholder key, or None when the list has no 操作 column; ``action_forms``
    the forms of the row actions, in order, as (name, html) for the placeholder key."""
    formatters = [formatters_columns.get(column) for column in include_columns]
    columns = list(zip(include_columns, formatters))
    checkbox_label = escape(checkbox_label)
    shown = row_action_shown
    out = []
    append = out.append
    for index, item in enumerate(value_columns):
        pk = pks[index]
        key = str(pk)
        append("\n<tr>\n")
        if with_checkbox:
            append(f'<td>\n<input id="{key}" class="action_check" name="rowid" value="{key}" '
                   f'type="checkbox"\n aria-label="{checkbox_label}">\n</td>\n')
        if operations is not None:
            append('<td class="dk-row-actions" style="white-space: nowrap">\n')
            append(operations.replace(PK_PLACEHOLDER, key))
            for name, form in action_forms:
                if shown is None or shown(name, pk, pks):
                    append("\n")
                    append(form.replace(PK_PLACEHOLDER, key))
            append("\n</td>\n")
        for column, formatter in columns:
            value = item[column]
            append("<td>")
            append(escape(formatter(value) if formatter else value))
            append("</td>\n")
        append("</tr>")
    return Markup("".join(out))


def register(app):
    app.jinja_env.globals.update(dk_list_rows=list_rows, dk_integer_keys=integer_keys,
                                 dk_pk=PK_PLACEHOLDER)


class KeptSearchWidget(SearchWidget):
    """FAB's search widget (查询), whose fields are rendered once per view and language.

    The fields' HTML, labels and filter names of a search form are the same on every request
    when no field reads the database (a select of related rows), a clock (a default of now)
    or anything else when it is built: then they are kept, serialized as the page embeds
    them, and the form is not even built. Only the active filters (from the request) and the
    CSP nonce are rendered each time. Any other form is rendered as FAB does, every time."""

    def __call__(self, **kwargs):
        args = self.template_args
        cache = current_app.extensions.setdefault("dk_search_widget", {})
        key = (args.get("route_base"), tuple(args["include_cols"]), str(get_locale()))
        kept = cache.get(key)
        if kept is None:
            form = args.get("form") or args["form_factory"]()
            label_columns, form_fields, search_filters = {}, {}, {}
            dict_filters = self.filters.get_search_filters()
            for col in args["include_cols"]:
                label_columns[col] = as_unicode(form[col].label.text)
                form_fields[col] = form[col]()
                search_filters[col] = [as_unicode(flt.name) for flt in dict_filters[col]]
            policies = current_app.jinja_env.policies

            def tojson(value):  # as Jinja's ``tojson`` filter
                return htmlsafe_json_dumps(value, dumps=policies["json.dumps_function"],
                                           **policies["json.dumps_kwargs"])

            kept = {"label_columns": label_columns,
                    "dk_json": (tojson(label_columns), tojson(form_fields),
                                tojson(search_filters))}
            if _static_form(args.get("unbound_form"), args["include_cols"]):
                if len(cache) >= 1024:
                    cache.clear()
                cache[key] = kept
        kwargs.update(kept)
        kwargs["active_filters"] = self.filters.get_filters_values_tojson()
        return RenderTemplateWidget.__call__(self, **kwargs)


def _static_form(form_class, columns):
    """Whether the search form's fields render the same for everyone, every time: no query
    (related selects), no callable default (now) or choices."""
    if form_class is None:
        return False
    for column in columns:
        field = getattr(form_class, column, None)
        if not isinstance(field, UnboundField):
            return False
        options = field.kwargs
        if "query_func" in options or "query_factory" in options or callable(
                options.get("default")) or callable(options.get("choices")):
            return False
    return True

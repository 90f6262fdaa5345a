"""报名进度 (manual 000 §19): the manual's filters and 导出 as a background job."""
import io

from openpyxl import load_workbook
from rq import SimpleWorker

from app import jobs
from app.extensions import db
from models import Enrollment, ExportJob, Physician, StoredFile
from tests.conftest import post


def _names(page):
    return {p.name for p in db.session.query(Physician) if p.name in page}


def test_filters_by_name_id_department_and_state(as_role):
    client = as_role("institution")
    doctor = db.session.query(Physician).filter_by(name="王医生").one()
    id15 = doctor.id_number[:6] + doctor.id_number[8:17]
    by_name = client.get("/enrollmentview/list/?_flt_0_id=王医").get_data(as_text=True)
    assert _names(by_name) == {"王医生"}
    by_id = client.get(f"/enrollmentview/list/?_flt_1_id={id15}").get_data(as_text=True)
    assert _names(by_id) == {"王医生"}
    by_dept = client.get("/enrollmentview/list/?_flt_2_id=外科").get_data(as_text=True)
    surgeons = {p.name for p in db.session.query(Physician).join(Enrollment).filter(
        Physician.department.has(name="外科"), Physician.institution.has(account="NX1008611"))}
    assert _names(by_dept) == surgeons and "王医生" not in surgeons
    by_state = client.get("/enrollmentview/list/?_flt_0_state=passed").get_data(as_text=True)
    assert _names(by_state) == set()


def test_export_runs_as_a_job_and_holds_only_the_users_scope(as_role, province):
    client = as_role("institution")
    response = post(client, "/enrollmentview/export", {"_flt_2_id": "内科"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/exports/")
    SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)
    stored = db.session.query(StoredFile).filter_by(purpose="export").one()
    export = db.session.query(ExportJob).one()
    page = client.get("/exports/").get_data(as_text=True)
    assert f"/exports/{export.id}/download" in page
    data = client.get(f"/exports/{export.id}/download").data
    sheet = load_workbook(io.BytesIO(data)).active
    # Row 1 says scope, filters and time; row 2 is the header.
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    expected = db.session.query(Enrollment).join(Physician).filter(
        Enrollment.institution.has(account="NX1008611"),
        Physician.department.has(name="内科")).count()
    assert len(rows) == expected > 0
    assert all(row[3] == "演示市第一人民医院" and row[4] == "内科" for row in rows)
    assert all("*****" in row[2] for row in rows)
    # Another institution cannot open the file.
    assert as_role("assessment").get(f"/files/{stored.id}").status_code == 404
    assert as_role("assessment").get(f"/exports/{export.id}/download").status_code == 404


def test_a_row_offers_only_the_buttons_that_apply_to_its_state(as_role):
    from models import workflow

    enrollments = db.session.query(Enrollment).order_by(Enrollment.id).limit(3).all()
    passed, waiting, pending = enrollments
    workflow.force(passed, "passed", reason="test set-up")
    workflow.force(waiting, "awaiting_exam", reason="test set-up")
    workflow.force(pending, "pending_enrollment", reason="test set-up")
    db.session.commit()
    page = as_role("province").get(
        "/enrollmentview/list/?psize_EnrollmentView=100").get_data(as_text=True)
    assert f'id="row-print_certificates-{passed.id}"' in page
    assert f'id="row-reject_by_administration-{passed.id}"' not in page
    assert f'id="row-reject_by_administration-{waiting.id}"' in page
    assert f'id="row-print_certificates-{waiting.id}"' not in page
    assert f'id="row-print_certificates-{pending.id}"' not in page
    assert f'id="row-reject_by_administration-{pending.id}"' not in page


def _department_of(enrollment_id):
    from sqlalchemy import text

    return db.session.execute(text("SELECT department_id FROM enrollment WHERE id = :id"),
                              {"id": enrollment_id}).scalar()


def test_the_department_filter_follows_a_physician_to_another_department(as_role):
    """报名进度's 科室 filter reads the department the database copies onto the enrollment:
    moved to 外科, out of any department, back; each time the list agrees."""
    from models import Department

    client = as_role("institution")
    doctor = db.session.query(Physician).filter_by(name="王医生").one()
    enrollment = db.session.query(Enrollment).filter_by(physician_id=doctor.id).first()
    assert enrollment is not None and _department_of(enrollment.id) == doctor.department_id
    surgery = db.session.query(Department).filter_by(
        institution_id=doctor.institution_id, name="外科").one()
    before = doctor.department_id
    assert before != surgery.id
    doctor.department_id = surgery.id
    db.session.commit()
    assert _department_of(enrollment.id) == surgery.id
    page = client.get("/enrollmentview/list/?_flt_2_id=外科").get_data(as_text=True)
    assert "王医生" in _names(page)
    doctor.department_id = None
    db.session.commit()
    assert _department_of(enrollment.id) is None
    assert "王医生" not in _names(client.get("/enrollmentview/list/?_flt_2_id=外科")
                                  .get_data(as_text=True))
    doctor.department_id = before
    db.session.commit()
    assert _department_of(enrollment.id) == before


def test_an_enrollment_written_by_any_code_takes_its_physicians_department(province):
    """A bulk INSERT … SELECT (as a load script writes rows) and an ORM insert both get the
    physician's department; the app never writes the column itself."""
    from sqlalchemy import text

    from models import Cycle

    cycle = Cycle.current()
    outside = db.session.query(Physician).filter(
        Physician.department_id.isnot(None),
        ~Physician.id.in_(db.session.query(Enrollment.physician_id).filter_by(
            cycle_id=cycle.id))).limit(2).all()
    assert len(outside) == 2
    db.session.execute(text(
        "INSERT INTO enrollment (cycle_id, physician_id, institution_id, state, form_data, "
        "completed_steps, included_at, updated_at) SELECT :cycle, id, institution_id, "
        "'pending_enrollment', '{}', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM physician "
        "WHERE id = :id"), {"cycle": cycle.id, "id": outside[0].id})
    orm = Enrollment(cycle_id=cycle.id, physician_id=outside[1].id,
                     institution_id=outside[1].institution_id)
    db.session.add(orm)
    db.session.commit()
    bulk = db.session.query(Enrollment).filter_by(cycle_id=cycle.id,
                                                  physician_id=outside[0].id).one()
    assert _department_of(bulk.id) == outside[0].department_id
    assert _department_of(orm.id) == outside[1].department_id

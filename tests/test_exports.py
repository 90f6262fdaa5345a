"""Exports (issue 14): an RQ job shown at once as 排队中, then 进行中 with rows done / total,
then 完成 with a download for the requester only until the file expires, or 失败 with the
reason; every progress list exports with its filters; the workbook has a first line saying
scope, filters and time, a frozen header with an auto-filter, widths fitted to the content,
dates as dates, masked ID numbers and a Chinese sheet name, and is written streaming."""
import datetime
import io

import pytest
from openpyxl import load_workbook
from rq import SimpleWorker

from app import jobs
from app.extensions import db
from models import (Cycle, Enrollment, ExportJob, Institution, Paper, PaperResult, Physician,
                    StoredFile, workflow)
from models import reports
from models.enrollment import ENROLLMENT_STATE as S
from models.reports import EXPORT_STATUS
from tests.conftest import flashes, post


@pytest.fixture(autouse=True)
def _empty_queues(province):
    jobs.connection().flushdb()
    yield
    jobs.connection().flushdb()


def work():
    SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)
    db.session.expire_all()


def latest_export():
    db.session.expire_all()
    return db.session.query(ExportJob).order_by(ExportJob.id.desc()).first()


def sheet_of(client, export):
    response = client.get(f"/exports/{export.id}/download")
    assert response.status_code == 200, response.status_code
    return load_workbook(io.BytesIO(response.data)).active


def data_rows(sheet):
    return list(sheet.iter_rows(min_row=3, values_only=True))


# --- the life of an export -------------------------------------------------------------------


def test_an_export_is_listed_at_once_as_queued_then_finished_with_a_download(as_role):
    client = as_role("district")
    response = post(client, "/enrollmentview/export", {"_flt_0_id": "王"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/exports/")
    export = latest_export()
    assert export.status == EXPORT_STATUS.QUEUED and export.rq_job_id
    page = client.get("/exports/").get_data(as_text=True)
    assert 'data-status="queued"' in page and "排队中" in page
    # The filters in force, in words, on the record and in the list.
    assert "王" in export.filters_text and export.filters_text in page
    work()
    page = client.get("/exports/").get_data(as_text=True)
    assert 'data-status="done"' in page and "完成" in page
    assert f"/exports/{export.id}/download" in page
    export = latest_export()
    assert export.expires_at > datetime.datetime.now() + datetime.timedelta(hours=23)
    names = {row[1] for row in data_rows(sheet_of(client, export))}
    assert names and all("王" in name for name in names)


def test_a_running_export_shows_rows_done_of_total(as_role):
    client = as_role("province")
    post(client, "/enrollmentview/export")
    export = latest_export()
    export.status = EXPORT_STATUS.RUNNING
    db.session.commit()
    jobs.connection().hset(jobs.progress_key(export.id), mapping={"done": 30, "total": 120})
    rows = client.get("/exports/rows").get_data(as_text=True)
    assert 'data-status="running"' in rows and "进行中" in rows
    assert "30 / 120" in rows and "width: 25%" in rows


def test_the_page_refreshes_itself_while_an_export_is_open(as_role):
    client = as_role("institution")
    post(client, "/enrollmentview/export")
    page = client.get("/exports/").get_data(as_text=True)
    scripts = page.split('<script nonce="')[1:]  # inline scripts carry the page's nonce
    assert "/exports/rows" in page and any("setTimeout(refresh" in s for s in scripts)
    # The fragment it fetches holds just the rows.
    fragment = client.get("/exports/rows").get_data(as_text=True)
    assert fragment.strip().startswith("<tr") and "<html" not in fragment


def test_progress_is_reported_at_least_every_five_percent_of_rows(tmp_path, province):
    seen = []
    rows = ([n, f"医师{n}", "460100198503120424", "机构", "内科", "临床", "执业医师",
             "一般程序", "待参加考核", datetime.datetime(2026, 4, 20, 9, 30), ""]
            for n in range(1, 1001))
    count = reports.write_workbook(tmp_path / "x.xlsx", reports.ENROLLMENT_PROGRESS, rows,
                                   "heading", total=1000, progress=seen.append)
    assert count == 1000 and seen[-1] == 1000
    steps = [b - a for a, b in zip([0] + seen, seen)]
    assert max(steps) <= 50, steps  # 5 % of 1,000


@pytest.mark.parametrize("total", [7, 1000, 33_001])
def test_no_two_progress_reports_are_more_than_five_percent_apart(tmp_path, province, total):
    """The rows are written in blocks between looks at the progress; a block ends where the
    next report is due, whatever the total (33,001: 5 % is 1,650 rows, not a multiple of the
    block)."""
    seen = []
    rows = ([n, f"医师{n}"] + [""] * 9 for n in range(1, total + 1))
    count = reports.write_workbook(tmp_path / "x.xlsx", reports.ENROLLMENT_PROGRESS, rows,
                                   "heading", total=total, progress=seen.append)
    assert count == total and seen[-1] == total
    steps = [b - a for a, b in zip([0] + seen, seen)]
    assert max(steps) <= max(1, total // 20), steps


def test_every_value_is_written_whatever_the_width_sample(tmp_path, province):
    """Widths are measured on the first rows only; every row is written all the same: text as
    text, numbers as numbers, dates as dates, ID numbers masked, empty values as empty cells."""
    total = reports.WIDTH_SAMPLE + 5
    when = datetime.datetime(2026, 4, 20, 9, 30)
    rows = ([n, f"医师{n}", "460100198503120424", "机构" * (30 if n == total else 1), None,
             "临床", "执业医师", "", "待参加考核", when if n % 2 else None, "=1+1"]
            for n in range(1, total + 1))
    path = tmp_path / "x.xlsx"
    assert reports.write_workbook(path, reports.ENROLLMENT_PROGRESS, rows, "h") == total
    sheet = load_workbook(path).active
    written = data_rows(sheet)
    assert len(written) == total
    for n in (1, 2, total - 1, total):
        row = written[n - 1]
        assert row[0] == n and row[1] == f"医师{n}" and row[2] == "460*****0424"
        assert row[4] is None and row[7] is None and row[10] == "=1+1"
        assert row[9] == (when if n % 2 else None)
    last = sheet.cell(row=total + 2, column=11)
    assert last.data_type == "s" and last.value == "=1+1"  # text, never a formula
    assert sheet.cell(row=total + 2, column=10).is_date
    # The long name past the sample does not widen its column; the sample's widths hold.
    widths = {letter: dim.width for letter, dim in sheet.column_dimensions.items()}
    assert widths["D"] < 30


def test_the_job_reports_its_progress_to_redis(as_role, monkeypatch):
    client = as_role("province")
    reported = []
    real = reports.write_workbook

    def spy(path, kind, rows, heading, total=0, progress=None):
        def record(done):
            progress(done)
            reported.append(jobs.export_progress(export_id))
        return real(path, kind, rows, heading, total, record)

    monkeypatch.setattr(reports, "write_workbook", spy)
    post(client, "/enrollmentview/export")
    export_id = latest_export().id
    work()
    total = db.session.query(Enrollment).count()
    assert reported and reported[-1] == (total, total)
    assert latest_export().rows_total == total


def test_the_job_writes_its_progress_at_least_every_five_percent_of_the_rows(
        as_role, monkeypatch):
    """The job itself (queued, run by a worker) over a few hundred rows: every value it writes
    to Redis as rows done is recorded; no two follow each other more than 5 % of the rows
    apart, from 0 to the total (a job reporting only at the end fails this)."""
    from app import demo
    from app.cli import enroll_share

    demo.generate_bulk(300, 3)
    db.session.commit()
    enroll_share(1.0)
    total = db.session.query(Enrollment).count()
    assert total > 300
    written = []
    real = jobs.connection

    class Recording:
        def __init__(self, redis):
            self.redis = redis

        def hset(self, key, field=None, value=None, mapping=None):
            done = value if field == "done" else (mapping or {}).get("done")
            if done is not None:
                written.append(int(done))
            return self.redis.hset(key, field, value, mapping=mapping)

        def __getattr__(self, name):
            return getattr(self.redis, name)

    client = as_role("province")
    post(client, "/enrollmentview/export")
    monkeypatch.setattr(jobs, "connection", lambda app=None: Recording(real(app)))
    SimpleWorker([jobs.queue()], connection=real()).work(burst=True)
    export = latest_export()
    assert export.status == EXPORT_STATUS.DONE and export.rows_done == total
    assert written[0] == 0 and written[-1] == total
    assert written == sorted(written)
    steps = [b - a for a, b in zip(written, written[1:])]
    assert max(steps) <= total * 0.05, steps
    assert len(data_rows(sheet_of(client, export))) == total


def test_a_failed_export_says_why(as_role):
    client = as_role("institution")
    post(client, "/enrollmentview/export")
    export = latest_export()
    export.kind = "no_such_list"
    db.session.commit()
    work()
    export = latest_export()
    assert export.status == EXPORT_STATUS.FAILED and export.reason == "该列表不能导出"
    page = client.get("/exports/").get_data(as_text=True)
    assert "失败" in page and "该列表不能导出" in page
    assert client.get(f"/exports/{export.id}/download").status_code == 404


def test_without_the_job_service_the_export_is_failed_with_the_reason(as_role, monkeypatch):
    def unavailable(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(jobs, "enqueue", unavailable)
    client = as_role("institution")
    assert post(client, "/enrollmentview/export").status_code == 302
    export = latest_export()
    assert export.status == EXPORT_STATUS.FAILED
    assert "任务服务不可用" in client.get("/exports/").get_data(as_text=True)


# --- the requester only; files expire -------------------------------------------------------


@pytest.mark.parametrize("other", ["operator", "sysadmin", "city", "institution"])
def test_only_the_requester_downloads_or_even_sees_an_export(as_role, other):
    owner = as_role("province")
    post(owner, "/enrollmentview/export")
    work()
    export = latest_export()
    assert owner.get(f"/exports/{export.id}/download").status_code == 200
    assert owner.get(f"/files/{export.file_id}").status_code == 200
    stranger = as_role(other)
    assert stranger.get(f"/exports/{export.id}/download").status_code == 404
    # Nor through the general file route (a system administrator reads other files there).
    assert stranger.get(f"/files/{export.file_id}").status_code == 404
    assert f"/exports/{export.id}/download" not in stranger.get("/exports/").get_data(
        as_text=True)


def test_an_expired_export_is_not_served_and_its_file_is_deleted(as_role, province):
    client = as_role("institution")
    post(client, "/enrollmentview/export")
    work()
    export = latest_export()
    path = province.config["UPLOAD_DIR"] / export.file.storage_name
    assert path.exists()
    export.expires_at = datetime.datetime.now() - datetime.timedelta(minutes=1)
    db.session.commit()
    response = client.get(f"/exports/{export.id}/download")
    assert response.status_code == 302
    assert "该导出已过期，文件已删除，请重新导出" in flashes(client)
    assert "已过期" in client.get("/exports/").get_data(as_text=True)
    assert jobs.purge_expired_exports() == 1
    assert not path.exists()
    assert db.session.query(StoredFile).filter_by(purpose="export").count() == 0
    assert latest_export().file_id is None


# --- the workbook --------------------------------------------------------------------------


def test_the_workbook_says_scope_filters_and_time_and_is_laid_out_for_reading(as_role):
    client = as_role("district")
    post(client, "/enrollmentview/export", {"_flt_2_id": "内科"})
    work()
    export = latest_export()
    sheet = sheet_of(client, export)
    assert sheet.title == "报名进度"
    first = sheet["A1"].value
    assert "龙华区卫生健康委员会" in first and "内科" in first and "导出时间" in first
    headers = [cell.value for cell in sheet[2]]
    assert headers[:3] == ["序号", "姓名", "证件号码"]
    assert sheet.freeze_panes == "A3"
    assert sheet.auto_filter.ref.startswith("A2:")
    widths = {letter: dim.width for letter, dim in sheet.column_dimensions.items()}
    # Fitted to the content (openpyxl folds neighbours of equal width into one entry).
    assert widths.get("D") and widths["D"] > widths["A"] and len(set(widths.values())) > 2
    rows = data_rows(sheet)
    assert rows and all("*****" in row[2] for row in rows)
    full = {p.id_number for p in db.session.query(Physician)}
    assert not any(row[2] in full for row in rows)


def test_dates_are_dates(as_role):
    enrollment = db.session.query(Enrollment).join(Physician).filter(
        Physician.name == "王医生").one()
    enrollment.submitted_at = datetime.datetime(2026, 4, 20, 9, 30)
    db.session.commit()
    client = as_role("institution")
    post(client, "/enrollmentview/export")
    work()
    sheet = sheet_of(client, latest_export())
    header = [cell.value for cell in sheet[2]]
    column = header.index("提交时间") + 1
    cell = next(row[column - 1] for row in sheet.iter_rows(min_row=3) if row[1].value == "王医生")
    assert cell.is_date and cell.value == datetime.datetime(2026, 4, 20, 9, 30)


def test_the_writer_streams_and_the_rows_are_read_in_chunks(tmp_path, province, monkeypatch):
    import xlsxwriter

    opened = []
    real = xlsxwriter.Workbook

    def workbook(path, options=None):
        opened.append(options or {})
        return real(path, options)

    monkeypatch.setattr(reports.xlsxwriter, "Workbook", workbook)
    reports.write_workbook(tmp_path / "x.xlsx", reports.ENROLLMENT_PROGRESS, iter([]), "h")
    assert opened[0].get("constant_memory") is True
    assert opened[0].get("strings_to_formulas") is False

    class Recorder:
        def __init__(self):
            self.options = []

        def execute(self, statement):
            self.options.append(statement.get_execution_options())
            return iter([])

    for kind in (reports.ENROLLMENT_PROGRESS, reports.PAPER_RESULTS, reports.MAKEUP):
        recorder = Recorder()
        list(kind.rows(recorder, db.session.query(Enrollment.id).subquery().select(),
                       reports.Labels()))
        assert recorder.options[0].get("yield_per"), kind.name


def test_labels_are_translated_once_per_export_not_per_cell(province):
    from models.base import ChoiceSet

    class Counted:
        calls = 0

        def __str__(self):
            Counted.calls += 1
            return "标签"

    choices = ChoiceSet(("a", Counted()), ("b", Counted()))
    labels = reports.Labels()
    for _ in range(1000):
        labels(choices, "a")
        labels(choices, "b")
    assert Counted.calls == 2


def test_the_progress_rows_fetch_each_label_table_once_per_export(province):
    """报名进度's rows translate through tables fetched once per export, whatever the rows."""
    asked = []

    class Counting(reports.Labels):
        def table(self, choice_set):
            asked.append(choice_set)
            return super().table(choice_set)

    ids = db.session.query(Enrollment.id).subquery().select()
    rows = list(reports.ENROLLMENT_PROGRESS.rows(db.session, ids, Counting()))
    assert len(rows) == db.session.query(Enrollment).count() > 3
    assert len(asked) == 5  # category, level, procedure, state, result
    assert {row[8] for row in rows} <= {str(label) for _v, label in S.options()}


# --- every progress list ---------------------------------------------------------------------


def _paper_results():
    cycle = Cycle.current()
    paper = db.session.query(Paper).filter_by(cycle_id=cycle.id, is_mock=False).first()
    enrollments = db.session.query(Enrollment).order_by(Enrollment.id).all()
    for index, enrollment in enumerate(enrollments):
        db.session.add(PaperResult(enrollment_id=enrollment.id, paper_id=paper.id,
                                   best_score=50 + index, passed=index % 2 == 0,
                                   attempts_used=1))
    db.session.commit()
    return paper


def test_assessment_progress_exports_with_its_filters(as_role, province):
    from app.demo import seed_demo_exams

    seed_demo_exams()
    _paper_results()
    client = as_role("province")
    listed = client.get("/paperresultview/list/?_flt_0_passed=y").get_data(as_text=True)
    assert 'id="export"' in listed
    assert post(client, "/paperresultview/export", {"_flt_0_passed": "y"}).status_code == 302
    work()
    export = latest_export()
    assert export.status == EXPORT_STATUS.DONE, export.reason
    sheet = sheet_of(client, export)
    assert sheet.title == "测评进度"
    rows = data_rows(sheet)
    passed = db.session.query(PaperResult).filter_by(passed=True).count()
    assert len(rows) == passed > 0 and {row[-1] for row in rows} == {"合格"}


def test_makeup_management_exports_only_what_awaits_confirmation(as_role):
    enrollments = db.session.query(Enrollment).order_by(Enrollment.id).all()
    for enrollment in enrollments[:2]:
        workflow.force(enrollment, S.AWAITING_MAKEUP_CONFIRMATION, reason="test set-up")
    db.session.commit()
    client = as_role("province")
    assert 'id="export"' in client.get("/makeup/list/").get_data(as_text=True)
    assert post(client, "/makeup/export").status_code == 302
    work()
    sheet = sheet_of(client, latest_export())
    assert sheet.title == "补考管理"
    rows = data_rows(sheet)
    assert len(rows) == 2 and {row[5] for row in rows} == {"待确认补考"}


def test_an_export_holds_only_the_requesters_region(as_role):
    client = as_role("district")
    post(client, "/enrollmentview/export")
    work()
    rows = data_rows(sheet_of(client, latest_export()))
    district_institutions = {i.name for i in db.session.query(Institution).filter(
        Institution.administration.has(name="龙华区卫生健康委员会"))}
    expected = db.session.query(Enrollment).filter(Enrollment.institution.has(
        Institution.name.in_(district_institutions))).count()
    assert len(rows) == expected > 0
    assert {row[3] for row in rows} <= district_institutions


def test_the_scope_rule_gives_each_user_their_own_exports_only(as_role):
    from models import AppUser
    from security import scope

    for role in ("city", "institution"):
        post(as_role(role), "/enrollmentview/export")
    users = {u.username: u for u in db.session.query(AppUser)}
    for username in ("city", "NX1008611", "district"):
        actor = scope.actor_for(users[username])
        visible = scope.restrict(db.session.query(ExportJob), ExportJob, actor).all()
        assert {e.requested_by_id for e in visible} <= {users[username].id}
        assert len(visible) == (0 if username == "district" else 1)


def test_a_slow_export_also_reports_every_few_seconds(tmp_path, province, monkeypatch):
    import itertools

    clock = itertools.count(0, 1.0)  # each look at the clock (every 500 rows): 1 s later
    monkeypatch.setattr(reports.time, "monotonic", lambda: next(clock))
    seen = []
    rows = ([n] + [""] * 10 for n in range(1, 100_001))
    reports.write_workbook(tmp_path / "x.xlsx", reports.ENROLLMENT_PROGRESS, rows, "h",
                           total=100_000, progress=seen.append)
    # Every 5,000 rows (5 %) would be 20 reports; with the clock running it reports more often.
    assert len(seen) > 25 and seen[-1] == 100_000

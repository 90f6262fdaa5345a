"""Lists at province scale: related filters search as one types within scope, OFFSET paging
stops at a cap with a notice, and a page costs the same queries at 20 and at 200 rows."""
import pytest
from sqlalchemy import event

from app.extensions import db
from models import Cycle, Department, Enrollment, Institution, Physician


def _json(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_json()


def test_an_institution_searching_departments_sees_only_its_own(as_role):
    client = as_role("institution")
    found = _json(client, "/physicianview/related/department?q=科")
    own = {d.id for d in db.session.query(Department).join(Institution)
           .filter(Institution.account == "NX1008611")}
    assert found and {row["id"] for row in found} <= own
    assert {row["id"] for row in _json(client, "/physicianview/related/department?q=")} == own
    # Another institution's 内科 and 急诊科 are never offered.
    assert not _json(client, "/physicianview/related/department?q=急诊")


def test_a_city_searching_institutions_sees_only_its_own(as_role):
    client = as_role("city")
    found = _json(client, "/enrollmentview/related/institution?q=")
    names = {row["text"] for row in found}
    assert "演示市第一人民医院" in names and "海湾区渔村卫生室" not in names
    assert not _json(client, "/enrollmentview/related/institution?q=渔村")
    village = db.session.query(Institution).filter_by(account="NX1008633").one()
    assert _json(client, f"/enrollmentview/related/institution?id={village.id}") == []


def test_the_related_search_is_short_and_only_for_related_filters(as_role):
    client = as_role("province")
    assert len(_json(client, "/physicianview/related/department?q=")) <= 20
    assert client.get("/physicianview/related/name?q=王").status_code == 404
    assert client.get("/enrollmentview/related/state?q=a").status_code == 404
    # A physician may not list, so may not search either.
    assert as_role("physician").get("/enrollmentview/related/institution?q=").status_code in (
        302, 403, 404)


def test_another_tenants_id_in_a_related_filter_gives_no_rows(as_role):
    client = as_role("city")
    village = db.session.query(Institution).filter_by(account="NX1008633").one()
    own = db.session.query(Institution).filter_by(account="NX1008611").one()
    mine = client.get(f"/enrollmentview/list/?_flt_0_institution={own.id}")
    assert "王医生" in mine.get_data(as_text=True)
    other = client.get(f"/enrollmentview/list/?_flt_0_institution={village.id}")
    assert other.status_code == 200 and "dk-row" not in other.get_data(as_text=True)
    assert "王医生" not in other.get_data(as_text=True)
    bad = client.get("/enrollmentview/list/?_flt_0_institution=abc")
    assert bad.status_code == 200 and "王医生" not in bad.get_data(as_text=True)


def test_the_filter_box_is_a_search_box_not_every_row(as_role):
    page = as_role("province").get("/physicianview/list/").get_data(as_text=True)
    assert "dk-related-search" in page and "related_search.js" in page
    assert "<option" not in page.split("dk-related-search")[1].split("</td>")[0]


def test_empty_search_bar_fields_are_dropped(as_role):
    client = as_role("institution")
    response = client.get("/enrollmentview/list/?_flt_0_state=&_flt_0_cycle=&_flt_0_id=王")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/enrollmentview/list/?_flt_0_id=%E7%8E%8B")


def test_the_search_bar_shows_chinese_and_sends_codes(as_role):
    page = as_role("institution").get("/enrollmentview/list/").get_data(as_text=True)
    for label in ("科室", "姓名", "证件号码", "年龄", "医师级别", "执业类别", "考核程序",
                  "考核结果", "免考状态"):
        assert label in page
    assert 'value="simple"' in page and "简易程序" in page
    for column in ("执业类别", "医师级别", "首次注册时间", "免考状态", "考核结果"):
        assert f">{column}<" in page or column in page
    assert "*****" in page  # 证件号码 masked


def test_the_cap_stops_deep_pages_with_a_notice(as_role, monkeypatch):
    import views.base

    monkeypatch.setattr(views.base, "LIST_CAP", 10)
    client = as_role("province")
    page = client.get("/enrollmentview/list/?psize_EnrollmentView=5&page_EnrollmentView=7")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "dk-list-cap" in text and "请" in text
    # Page 7 is past the cap: the last page within it is shown, with its rows.
    assert text.count("dk-row-actions\"") == 5
    shown = client.get("/enrollmentview/list/?psize_EnrollmentView=5&page_EnrollmentView=1")
    assert "dk-list-cap" in shown.get_data(as_text=True)
    monkeypatch.setattr(views.base, "LIST_CAP", 5000)
    assert "dk-list-cap" not in client.get("/enrollmentview/list/").get_data(as_text=True)


def _statements(client, url):
    client.get(url)
    seen = []

    def count(*_args):
        seen.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(seen), response.get_data(as_text=True)


@pytest.mark.parametrize("url,view", [("/enrollmentview/list/", "EnrollmentView"),
                                      ("/physicianview/list/", "PhysicianView")])
def test_a_page_costs_the_same_queries_at_20_and_200_rows(as_role, url, view):
    from app import demo
    from models import roster

    demo.generate_bulk(230, 1)
    enrolled = db.session.query(Enrollment.physician_id)
    fresh = db.session.query(Physician).filter(~Physician.id.in_(enrolled)).all()
    roster.include(fresh, Cycle.current())
    db.session.commit()
    client = as_role("province")
    small, small_page = _statements(client, f"{url}?psize_{view}=20")
    large, large_page = _statements(client, f"{url}?psize_{view}=200")
    assert large_page.count("<tr") > small_page.count("<tr") + 150
    assert large == small


def test_demo_enrolled_includes_a_share_of_the_physicians(province):
    from app import demo
    from app.cli import dingkao, enroll_share
    from models import EnrollmentTally

    demo.generate_bulk(200, 2)
    db.session.commit()
    before = db.session.query(Enrollment).count()
    added = enroll_share(0.5)
    assert 60 <= added <= 140 and db.session.query(Enrollment).count() == before + added
    assert db.session.query(EnrollmentTally).count() > 0
    assert enroll_share(0.5) == 0  # nobody twice
    help_text = province.test_cli_runner().invoke(dingkao, ["demo", "--help"]).output
    assert "--enrolled" in help_text


def test_assessment_progress_picks_the_procedure_from_its_two_labels(as_role, province):
    import json
    import re

    from app.demo import seed_demo_exams
    from models import Enrollment, PaperResult
    from tests.test_exports import _paper_results

    seed_demo_exams()
    _paper_results()
    first = db.session.query(Enrollment).order_by(Enrollment.id).first()
    first.procedure = "simple"
    db.session.commit()
    client = as_role("province")
    page = client.get("/paperresultview/list/").get_data(as_text=True)
    # FAB puts each filter's field in a JSON table of the page: 考核程序's is a select.
    widgets = [json.loads(found) for found in
               re.findall(r'"enrollment": ("(?:[^"\\]|\\.)*")', page)]
    widgets = next(widget for widget in widgets if "<select" in widget)
    assert re.findall(r'<option value="(\w*)">', widgets) == ["", "general", "simple"]
    assert "简易程序" in widgets and "一般程序" in widgets
    listed = client.get("/paperresultview/list/?_flt_0_enrollment=simple&psize_PaperResultView=100")
    simple = db.session.query(PaperResult).join(Enrollment).filter(
        Enrollment.procedure == "simple").count()
    assert simple >= 1
    assert listed.get_data(as_text=True).count("简易程序</td>") == simple

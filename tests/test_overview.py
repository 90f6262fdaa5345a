"""周期总进度 (issue 14): one row per region below the user's, drilling down to institutions,
counts that agree with a recount of the enrollments, sortable, charts drawn as SVG; another
region's figures are a 404, and the page is for administrations and operators only."""
import re

import pytest
from sqlalchemy import func

from app.extensions import db
from models import (Administration, Cycle, Enrollment, Exemption, Institution, Physician,
                    workflow)
from models import overview
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import EXEMPTION_STATE as X
from security import scope


def _admin(name):
    return db.session.query(Administration).filter_by(name=name).one()


def _recount(path, cycle):
    """Every column of a region, counted from the enrollments themselves."""
    institutions = db.session.query(Institution.id).filter(Institution.admin_path.like(f"{path}%"))
    states = dict(db.session.query(Enrollment.state, func.count(Enrollment.id)).filter(
        Enrollment.cycle_id == cycle.id, Enrollment.institution_id.in_(institutions)
    ).group_by(Enrollment.state).all())
    counts = {key: sum(states.get(s, 0) for s in chosen)
              for key, _label, chosen in overview.STATE_COLUMNS}
    counts["roster"] = db.session.query(Physician).filter(
        Physician.institution_id.in_(institutions)).count()
    counts["exempted"] = db.session.query(Exemption).join(Enrollment).filter(
        Exemption.state == X.APPROVED, Enrollment.cycle_id == cycle.id,
        Enrollment.institution_id.in_(institutions)).count()
    return counts


def _spread_states():
    """Move the demo enrollments through the stages so that every column has something."""
    enrollments = db.session.query(Enrollment).order_by(Enrollment.id).all()
    chosen = [S.PENDING_INSTITUTION_REVIEW, S.PENDING_ASSESSMENT_REVIEW, S.AWAITING_EXAM,
              S.PASSED, S.FAILED, S.CANCELLED, S.AWAITING_MAKEUP]
    for index, enrollment in enumerate(enrollments):
        workflow.force(enrollment, chosen[index % len(chosen)], reason="test set-up")
    db.session.commit()
    return enrollments


def _cells(page):
    """{row name: [cell texts]} of the overview table."""
    body = page.split('id="overview-table"')[1].split("</table>")[0]
    rows = {}
    for row in re.findall(r'<tr class="region-row">(.*?)</tr>', body, re.S):
        name = re.search(r'class="drill">([^<]+)<', row).group(1)
        rows[name] = [re.sub(r"<[^>]+>", "", c).strip()
                      for c in re.findall(r'<td class="text-right">(.*?)</td>', row, re.S)]
    return rows


def test_the_province_sees_one_row_per_city_with_counts_that_match_a_recount(as_role):
    _spread_states()
    cycle = Cycle.current()
    page = as_role("province").get("/overview/").get_data(as_text=True)
    rows = _cells(page)
    cities = db.session.query(Administration).filter_by(level="city").all()
    assert set(rows) == {city.name for city in cities}
    keys = [key for key, _label in overview.COLUMNS]
    for city in cities:
        expected = _recount(city.path, cycle)
        shown = dict(zip(keys, rows[city.name]))
        for key, n in expected.items():
            assert shown[key] == str(n), (city.name, key, shown, expected)
    # Each column was exercised by the set-up.
    totals = _recount(_admin("演示省卫生健康委员会").path, cycle)
    assert all(totals[key] for key in ("included", "submitted", "institution_review",
                                       "assessment_review", "awaiting_assessment", "passed",
                                       "failed", "roster"))


def test_the_completion_rate_is_reviewed_among_included(as_role, province):
    _spread_states()
    cycle = Cycle.current()
    city = _admin("演示市卫生健康委员会")
    actor = scope.actor_for(db.session.query(
        __import__("models").AppUser).filter_by(username="province").one())
    rows, total = overview.region_rows(actor, cycle, _admin("演示省卫生健康委员会"))
    row = next(r for r in rows if r.administration_id == city.id)
    institutions = db.session.query(Institution.id).filter(
        Institution.admin_path.like(f"{city.path}%"))
    enrollments = db.session.query(Enrollment).filter(
        Enrollment.institution_id.in_(institutions), Enrollment.cycle_id == cycle.id).all()
    included = [e for e in enrollments if e.state != S.CANCELLED]
    done = [e for e in included if e.state in workflow.DONE]
    assert row.rate == pytest.approx(len(done) / len(included))


def test_a_city_drills_down_to_its_districts_and_own_institutions(as_role):
    client = as_role("city")
    page = client.get("/overview/").get_data(as_text=True)
    rows = _cells(page)
    # The city's districts, and the institutions attached to the city itself.
    assert {"龙华区卫生健康委员会", "美兰区卫生健康委员会", "演示省人民医院",
            "演示市疾病预防控制中心"} == set(rows)
    district = _admin("龙华区卫生健康委员会")
    assert f'href="/overview/?region={district.id}"' in page
    inner = client.get(f"/overview/?region={district.id}").get_data(as_text=True)
    assert set(_cells(inner)) == {"演示市第一人民医院"}
    assert "演示市卫生健康委员会" in inner.split('id="trail"')[1].split("</ol>")[0]
    # An institution row leads to 报名进度 filtered by that institution.
    hospital = db.session.query(Institution).filter_by(account="NX1008611").one()
    assert f"/enrollmentview/list/?_flt_0_institution={hospital.id}" in inner


@pytest.mark.parametrize("role,other", [
    ("district", "美兰区卫生健康委员会"),      # a sibling district
    ("district", "演示市卫生健康委员会"),      # the city above
    ("city", "海湾区卫生健康委员会"),          # a district of the other city
    ("city", "演示省卫生健康委员会"),          # the province above
])
def test_another_regions_figures_are_not_found(as_role, role, other):
    response = as_role(role).get(f"/overview/?region={_admin(other).id}")
    assert response.status_code == 404


def test_only_administrations_and_operators_open_it(as_role):
    for role in ("institution", "assessment", "physician"):
        response = as_role(role).get("/overview/")
        assert response.status_code in (302, 403), role
        assert "overview-table" not in response.get_data(as_text=True)
    page = as_role("operator").get("/overview/").get_data(as_text=True)
    assert "演示省卫生健康委员会" in _cells(page)


def test_sorting_by_completion_rate_both_ways(as_role):
    _spread_states()
    client = as_role("city")
    rates = []
    for desc in ("0", "1"):
        page = client.get(f"/overview/?sort=rate&desc={desc}").get_data(as_text=True)
        cells = _cells(page)
        order = list(cells)
        rates.append([cells[name][-1] for name in order])
    ascending, descending = rates
    numbers = [float(r.rstrip("%")) for r in ascending if r != "—"]
    assert numbers == sorted(numbers)
    numbers = [float(r.rstrip("%")) for r in descending if r != "—"]
    assert numbers == sorted(numbers, reverse=True)
    # An unknown sort column falls back to the rate, not an error.
    assert client.get("/overview/?sort=__class__").status_code == 200


def test_the_charts_are_svg_drawn_on_the_server(as_role):
    _spread_states()
    page = as_role("province").get("/overview/").get_data(as_text=True)
    for chart in ("chart-completion", "chart-stages"):
        svg = page.split(f'id="{chart}"')[1].split("</svg>")[0]
        assert "<rect" in svg and "<script" not in svg
    assert "http://" not in page.split('id="overview"')[1].replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


# --- the administration home page ----------------------------------------------------------


def test_an_administration_home_shows_the_regions_furthest_behind(as_role):
    _spread_states()
    page = as_role("city").get("/").get_data(as_text=True)
    panel = page.split('id="behind"')[1].split("</table>")[0]
    shown = re.findall(r'<tr class="behind-row"><td><a [^>]*>([^<]+)</a>', panel)
    rates = [float(r) for r in re.findall(r"<b>([\d.]+)%</b>", panel)]
    assert shown and rates == sorted(rates)
    actor = scope.actor_for(db.session.query(
        __import__("models").AppUser).filter_by(username="city").one())
    rows, _total = overview.region_rows(actor, Cycle.current(), _admin("演示市卫生健康委员会"))
    lowest = min((r for r in rows if r.rate is not None), key=lambda r: r.rate)
    assert shown[0] == lowest.name
    # An institution's home has no such panel.
    assert 'id="behind"' not in as_role("institution").get("/").get_data(as_text=True)


def test_an_administration_home_shows_the_windows_closing_soon(as_role):
    import datetime

    from tests.helpers import window

    today = datetime.date.today()
    for kind, start, end in (("enrollment", -10, 3), ("exam", -1, 40),
                             ("enrollment_review", -20, -1)):
        w = window(kind)
        w.start_date, w.end_date = today + datetime.timedelta(start), \
            today + datetime.timedelta(end)
    db.session.commit()
    page = as_role("district").get("/").get_data(as_text=True)
    panel = page.split('id="deadlines"')[1].split("</table>")[0]
    assert "医师报名" in panel and "还剩3天" in panel
    assert "人文医学知识和业务水平测评" not in panel  # closes in 40 days
    assert "报名审核" not in panel  # already closed


def test_many_rows_are_paged_and_the_total_still_counts_them_all(as_role, monkeypatch):
    from views import overview as view

    _spread_states()
    client = as_role("city")
    whole = _cells(client.get("/overview/?sort=name").get_data(as_text=True))
    monkeypatch.setattr(view, "PAGE_SIZE", 1)
    seen = []
    for number in range(len(whole)):
        page = client.get(f"/overview/?sort=name&page={number}").get_data(as_text=True)
        cells = _cells(page)
        assert len(cells) == 1
        seen += list(cells)
        total = page.split('id="overview-total"')[1].split("</tr>")[0]
        assert "<th class=\"text-right\">22</th>" in total  # the city's roster, every page
    assert seen == list(whole)
    assert 'id="overview-pages"' in page
    # A page beyond the last shows the last; a page that is no number, the first.
    assert list(_cells(client.get("/overview/?sort=name&page=99").get_data(as_text=True))) \
        == seen[-1:]
    assert list(_cells(client.get("/overview/?sort=name&page=x").get_data(as_text=True))) \
        == seen[:1]


def test_the_figures_are_refused_to_institutions_and_physicians_whatever_the_page(province):
    """The model refuses on its own, not only through the role's menu permissions."""
    from werkzeug.exceptions import Forbidden

    from models import AppUser

    for username in ("NX1008611", "NX1008600"):
        actor = scope.actor_for(db.session.query(AppUser).filter_by(username=username).one())
        with pytest.raises(Forbidden):
            overview.overview(actor, Cycle.current())
        assert overview.furthest_behind(actor, Cycle.current()) == []

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
    ("city", "滨海市卫生健康委员会"),          # the other city
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
    lowest = min(r.rate for r in rows if r.rate is not None)
    assert {r.name for r in rows if r.rate == lowest} >= {shown[0]}
    # Every region with somebody included, none without (the city has fewer than five).
    assert sorted(shown) == sorted(r.name for r in rows if r.rate is not None)
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


def test_the_page_links_are_the_first_the_last_and_those_near_the_current_one():
    from views.overview import page_numbers

    assert page_numbers(0, 1) == [0]
    assert page_numbers(0, 5) == [0, 1, 2, 3, 4]
    assert page_numbers(0, 50) == [0, 1, 2, 3, None, 49]
    assert page_numbers(25, 50) == [0, None, 22, 23, 24, 25, 26, 27, 28, None, 49]
    assert page_numbers(49, 50) == [0, None, 46, 47, 48, 49]
    assert page_numbers(4, 9) == [0, 1, 2, 3, 4, 5, 6, 7, 8]


def test_a_region_of_many_pages_links_only_the_pages_near_the_current_one(as_role, monkeypatch):
    from views import overview as view

    _spread_states()
    client = as_role("city")
    rows = len(_cells(client.get("/overview/?sort=name").get_data(as_text=True)))
    monkeypatch.setattr(view, "PAGE_SIZE", 1)
    monkeypatch.setattr(view, "PAGE_WINDOW", 0)
    assert rows >= 4
    page = client.get("/overview/?sort=name&page=1").get_data(as_text=True)
    pager = page.split('id="overview-pages"')[1].split("</ul>")[0]
    links = re.findall(r"<a href=\"[^\"]*page=(\d+)\">(\d+)</a>", pager.replace("&amp;", "&"))
    # The first, the current (page 2) and the last; the pages between them left out.
    assert links == [("0", "1"), ("1", "2"), (str(rows - 1), str(rows))]
    assert '<li class="active"><a href="' in pager and "…" in pager


def test_the_figures_are_refused_to_institutions_and_physicians_whatever_the_page(province):
    """The model refuses on its own, not only through the role's menu permissions."""
    from werkzeug.exceptions import Forbidden

    from models import AppUser

    for username in ("NX1008611", "NX1008600"):
        actor = scope.actor_for(db.session.query(AppUser).filter_by(username=username).one())
        with pytest.raises(Forbidden):
            overview.overview(actor, Cycle.current())
        assert overview.furthest_behind(actor, Cycle.current()) == []


# --- the tallies the page reads: each equals a recount after every kind of change ----------


def _tally_mismatch():
    """{(tally, key): (tally, recount)} wherever a tally differs from a recount of the records:
    the enrollment states, the rosters, the approved exemptions."""
    from models import EnrollmentTally, ExemptionTally, RosterTally
    from tests.helpers import fresh

    fresh()
    pairs = {}

    def compare(name, tallied, recounted):
        for key in set(tallied) | set(recounted):
            if tallied.get(key, 0) != recounted.get(key, 0):
                pairs[(name, key)] = (tallied.get(key, 0), recounted.get(key, 0))

    compare("enrollment",
            {(t.cycle_id, t.institution_id, t.state): t.count
             for t in db.session.query(EnrollmentTally)},
            {(c, i, s): n for c, i, s, n in db.session.query(
                Enrollment.cycle_id, Enrollment.institution_id, Enrollment.state,
                func.count(Enrollment.id)).group_by(
                Enrollment.cycle_id, Enrollment.institution_id, Enrollment.state)})
    compare("roster",
            {t.institution_id: t.count for t in db.session.query(RosterTally)},
            dict(db.session.query(Physician.institution_id, func.count(Physician.id)).filter(
                Physician.institution_id.is_not(None)).group_by(Physician.institution_id)))
    compare("exemption",
            {(t.cycle_id, t.institution_id): t.count for t in db.session.query(ExemptionTally)},
            {(c, i): n for c, i, n in db.session.query(
                Enrollment.cycle_id, Enrollment.institution_id, func.count(Exemption.id)
            ).join(Enrollment, Enrollment.id == Exemption.enrollment_id).filter(
                Exemption.state == X.APPROVED).group_by(
                Enrollment.cycle_id, Enrollment.institution_id)})
    compare("region", _region_tally(), _region_recount())
    return pairs


def _region_tally():
    """{(cycle, administration, measure): n} of the roll-up, zero counts left out."""
    from models import RegionTally

    return {(t.cycle_id, t.administration_id, t.measure): t.count
            for t in db.session.query(RegionTally) if t.count}


def _region_recount():
    """The roll-up counted from the records: each enrollment, physician on a roster and
    approved exemption added to every administration above its institution."""
    from models import tally

    paths = dict(db.session.query(Institution.id, Institution.admin_path))
    counted = {}

    def add(institution_id, cycle_id, measure, n):
        for admin_id in tally.chain(paths[institution_id]):
            key = (cycle_id, admin_id, measure)
            counted[key] = counted.get(key, 0) + n

    for c, i, state, n in db.session.query(
            Enrollment.cycle_id, Enrollment.institution_id, Enrollment.state,
            func.count(Enrollment.id)).group_by(
            Enrollment.cycle_id, Enrollment.institution_id, Enrollment.state):
        add(i, c, state, n)
    for i, n in db.session.query(Physician.institution_id, func.count(Physician.id)).filter(
            Physician.institution_id.is_not(None)).group_by(Physician.institution_id):
        add(i, tally.NO_CYCLE, tally.ROSTER, n)
    for c, i, n in db.session.query(
            Enrollment.cycle_id, Enrollment.institution_id, func.count(Exemption.id)
    ).join(Enrollment, Enrollment.id == Exemption.enrollment_id).filter(
            Exemption.state == X.APPROVED).group_by(Enrollment.cycle_id, Enrollment.institution_id):
        add(i, c, tally.EXEMPTED, n)
    return {key: n for key, n in counted.items() if n}


def _steps(province):
    """Every kind of change the tallies follow, each through the app as a user makes it (or
    the state machine, for the states a test cannot reach quickly), one commit each; yields
    the step's name after it."""
    import datetime
    import io

    from openpyxl import Workbook

    from models import Department
    from models.roster_import import HEADERS
    from security import idcard
    from tests.conftest import login, post

    def client_of(username):
        client = province.test_client()
        assert login(client, username).status_code == 302
        return client

    hospital = client_of("NX1008611")
    centre = client_of("NX1008600")
    own = db.session.query(Institution).filter_by(account="NX1008611").one()
    yield "seeded"

    department = db.session.query(Department).filter_by(
        institution_id=own.id, name="外科").one()
    number = idcard.make("460100", datetime.date(1992, 5, 6), 321)
    assert post(hospital, "/physicianview/add", {
        "name": "赵新", "id_number": number, "gender": "male",
        "department": str(department.id), "practice_category": "clinical",
        "level": "physician", "certificate_no": "110460100000777",
        "qualification_no": "199246010000777"}).status_code == 302
    yield "add"

    book = Workbook()
    book.active.append(HEADERS)
    for n in (1, 2):
        book.active.append([f"张{n}", idcard.make("460300", datetime.date(1980, 1, n), n), "男",
                            "内科", "临床", "执业医师", "", "", "", ""])
    data = io.BytesIO()
    book.save(data)
    token = hospital.get("/account/password").get_data(as_text=True).split(
        'name="csrf_token" value="')[1].split('"')[0]
    assert hospital.post("/roster/import/", data={
        "csrf_token": token, "file": (io.BytesIO(data.getvalue()), "roster.xlsx")},
        content_type="multipart/form-data").status_code in (200, 302)
    assert db.session.query(Physician).filter(Physician.name.in_(["张1", "张2"])).count() == 2
    yield "import"

    added = db.session.query(Physician).filter_by(name="赵新").one()
    assert post(hospital, "/physicianview/action_post",
                {"action": "allow_enrollment", "rowid": str(added.id)}).status_code == 302
    yield "include"

    moving = db.session.query(Physician).filter_by(name="张1").one()
    assert post(hospital, f"/physicianview/transfer-out/{moving.id}",
                {"reason": "resigned", "detail": ""}).status_code == 302
    yield "transfer out"

    assert post(centre, "/roster/transfer-in/", {"id_number": moving.id_number,
                                                 "confirm": "1"}).status_code == 302
    assert db.session.get(Physician, moving.id).institution.account == "NX1008600"
    yield "transfer in"

    gone = db.session.query(Physician).filter_by(name="张2").one()
    post(hospital, f"/physicianview/delete/{gone.id}")
    assert db.session.get(Physician, gone.id) is None
    yield "delete"

    enrollment = db.session.query(Enrollment).filter_by(physician_id=added.id).one()
    for state in (S.PENDING_INSTITUTION_REVIEW, S.PENDING_ASSESSMENT_REVIEW, S.AWAITING_EXAM):
        workflow.force(enrollment, state, reason="test set-up")
        db.session.commit()
    yield "enrollment state moves"

    exemption = Exemption(enrollment=enrollment, condition="test", state=X.PENDING)
    db.session.add(exemption)
    db.session.commit()
    workflow.apply(exemption, "institution_approve")
    db.session.commit()
    workflow.apply(exemption, "assessment_approve")
    db.session.commit()
    yield "exemption approved"

    second = Exemption(enrollment=enrollment, condition="test", state=X.PENDING)
    db.session.add(second)
    db.session.commit()
    workflow.apply(second, "institution_approve")
    db.session.commit()
    workflow.apply(second, "assessment_reject", reason="证明不符")
    db.session.commit()
    yield "exemption rejected"

    workflow.force(exemption, X.REJECTED, reason="data repair")
    db.session.commit()
    yield "exemption approval withdrawn"

    workflow.force(exemption, X.APPROVED, reason="data repair")
    db.session.commit()
    db.session.delete(exemption)
    db.session.commit()
    yield "approved exemption deleted"

    # Several changes, one transaction, left to the commit's own flush.
    a, b = db.session.query(Physician).filter(Physician.institution_id.is_not(None)).order_by(
        Physician.id).limit(2).all()
    a.institution_id, b.institution_id = b.institution_id, a.institution_id or own.id
    db.session.commit()
    yield "two physicians swapped in one transaction"

    third = db.session.query(Physician).filter(Physician.institution_id.is_not(None)).order_by(
        Physician.id.desc()).first()
    third.institution_id = None if third.institution_id == own.id else own.id
    db.session.flush()  # counted by the hook, then undone: the deltas must go with it
    db.session.rollback()
    db.session.commit()
    yield "a move flushed, then rolled back"

    # An institution moved to an administration in another city (its 主管部门 edited): its
    # roster, enrollments and approved exemptions leave one chain of regions for the other.
    kept = Exemption(enrollment=enrollment, condition="test", state=X.PENDING)
    db.session.add(kept)
    db.session.commit()
    workflow.force(kept, X.APPROVED, reason="test set-up")
    db.session.commit()
    origin = own.administration
    elsewhere = _admin("海湾区卫生健康委员会")
    assert not elsewhere.path.startswith(origin.path.rsplit("/", 2)[0] + "/")
    own = db.session.get(Institution, own.id)
    own.place_under(elsewhere)
    db.session.commit()
    yield "institution moved to another city"

    # Moved back, with a state change and a new physician in the same transaction (the
    # transaction's own deltas follow the new place, the stored counts the move).
    own = db.session.get(Institution, own.id)
    own.place_under(db.session.get(Administration, origin.id))
    workflow.force(db.session.get(Enrollment, enrollment.id), S.PASSED, reason="test set-up")
    db.session.add(Physician(name="钱新", id_number=idcard.make("460100", datetime.date(1990, 2, 3),
                                                              555),
                             gender="female", institution_id=own.id, department_id=department.id))
    db.session.commit()
    yield "institution moved back with other changes"

    own = db.session.get(Institution, own.id)
    own.place_under(elsewhere)
    db.session.flush()  # counted by the hook, then undone
    db.session.rollback()
    db.session.commit()
    yield "an institution's move flushed, then rolled back"


def test_each_tally_equals_a_recount_after_every_kind_of_change(province):
    """The enrollment, roster and exemption tallies and their roll-up per region."""
    for step in _steps(province):
        wrong = _tally_mismatch()
        assert not wrong, f"after {step}: (tally, recount) differ: {wrong}"
        assert _region_tally(), step  # the roll-up has rows to compare


def test_without_its_hook_the_roll_up_drifts(province, monkeypatch):
    """The commit hook is what keeps the roll-up: switched off, it drifts at the first change
    while the institution-level tallies stay right."""
    from models import tally

    monkeypatch.setattr(tally, "ROLLUP_ENABLED", False)
    drifted = {}
    for step in _steps(province):
        for name, _key in _tally_mismatch():
            drifted.setdefault(name, step)
    assert set(drifted) == {"region"}
    assert drifted["region"] == "add"


def test_the_page_sorts_and_pages_in_sql_as_the_reference_sort_does(as_role):
    """page_of (ORDER BY … LIMIT … OFFSET) gives, page by page, the rows of the reference
    sort (sort_rows) of every row, for every column both ways, at every level."""
    from models import AppUser

    _spread_states()
    cycle = Cycle.current()
    actor = scope.actor_for(db.session.query(AppUser).filter_by(username="province").one())
    for region in (None, _admin("演示省卫生健康委员会"), _admin("演示市卫生健康委员会"),
                   _admin("龙华区卫生健康委员会")):
        if region is None:
            actor_here = scope.actor_for(db.session.query(AppUser).filter_by(
                username="ops").one())
        else:
            actor_here = actor
        rows, total = overview.region_rows(actor_here, cycle, region)
        assert rows
        for key in overview.SORT_KEYS:
            for descending in (False, True):
                expected = [(r.administration_id, r.institution_id, r.name, r.roster,
                             r.exempted, r.states) for r in overview.sort_rows(
                                 rows, key, descending)]
                for size in (1, 2, len(rows)):
                    got = []
                    for page in range(-(-len(rows) // size)):
                        chunk, count, shown = overview.page_of(
                            actor_here, cycle, region, key, descending, page, size)
                        assert count == len(rows) and shown == page
                        got += [(r.administration_id, r.institution_id, r.name, r.roster,
                                 r.exempted, r.states) for r in chunk]
                    assert got == expected, (region and region.name, key, descending, size)
        # The total is the sum of the rows.
        summed = overview.RegionRow(name="")
        for row in rows:
            summed.add(row)
        assert (total.roster, total.exempted, total.states) == (
            summed.roster, summed.exempted, summed.states)


def test_without_the_hook_the_roster_and_exemption_tallies_drift(province, monkeypatch):
    """The hook is what keeps them: switched off, the first change is a mismatch."""
    from models import tally

    monkeypatch.setattr(tally, "ENABLED", False)
    drifted = set()
    for step in _steps(province):
        drifted |= {name for name, _key in _tally_mismatch()}
    assert {"roster", "exemption"} <= drifted


def test_retally_recounts_every_tally(province):
    """`flask dingkao retally` repairs tallies that went wrong (here: emptied and corrupted)."""
    from models import EnrollmentTally, ExemptionTally, RosterTally

    _spread_states()
    enrollment = db.session.query(Enrollment).filter_by(state=S.AWAITING_EXAM).first()
    exemption = Exemption(enrollment=enrollment, condition="test", state=X.PENDING)
    db.session.add(exemption)
    db.session.commit()
    workflow.force(exemption, X.APPROVED, reason="test set-up")
    db.session.commit()
    assert not _tally_mismatch()
    db.session.query(RosterTally).delete()
    db.session.query(ExemptionTally).update({"count": 99})
    db.session.query(EnrollmentTally).update({"count": EnrollmentTally.count + 1})
    db.session.commit()
    assert {"roster", "exemption", "enrollment"} == {name for name, _key in _tally_mismatch()}
    result = province.test_cli_runner().invoke(args=["dingkao", "retally"])
    assert result.exit_code == 0, result.output
    assert not _tally_mismatch()


def test_a_city_sees_only_its_own_districts_and_institutions(as_role):
    _spread_states()
    client = as_role("city")
    page = client.get("/overview/").get_data(as_text=True)
    other = _admin("滨海市卫生健康委员会")
    shown = set(_cells(page))
    below_other = {a.name for a in db.session.query(Administration).filter(
        Administration.path.like(f"{other.path}%"))}
    assert shown and not shown & below_other
    assert f"region={other.id}" not in page
    # Nor through the cycle parameter.
    cycle = Cycle.current()
    assert client.get(f"/overview/?region={other.id}&cycle={cycle.id}").status_code == 404


def test_the_cycle_selector_shows_another_cycles_figures(as_role):
    import datetime

    _spread_states()
    current = Cycle.current()
    earlier = Cycle(name="2023-2025 周期", start_date=datetime.date(2023, 1, 1),
                    end_date=datetime.date(2025, 12, 31), cutoff_date=datetime.date(2023, 1, 1),
                    is_current=False, administration_id=current.administration_id)
    db.session.add(earlier)
    db.session.commit()
    client = as_role("province")
    page = client.get("/overview/").get_data(as_text=True)
    form = page.split('id="cycle-form"')[1].split("</form>")[0]
    assert "2023-2025 周期" in form and f'value="{current.id}" selected' in form
    assert _cells(page)["演示市卫生健康委员会"][1] != "0"  # included this cycle
    old = client.get(f"/overview/?cycle={earlier.id}").get_data(as_text=True)
    cells = _cells(old)["演示市卫生健康委员会"]
    keys = [key for key, _label in overview.COLUMNS]
    shown = dict(zip(keys, cells))
    assert shown["included"] == "0" and shown["rate"] == "—" and shown["roster"] != "0"
    # Drilling down keeps the cycle chosen.
    city = _admin("演示市卫生健康委员会")
    assert f"region={city.id}&amp;cycle={earlier.id}" in old or \
        f"cycle={earlier.id}&amp;region={city.id}" in old
    assert client.get("/overview/?cycle=999999").status_code == 404
    assert client.get("/overview/?cycle=x").status_code == 404


def test_furthest_behind_is_ordered_and_limited_in_sql(province):
    """The lowest rates first, as many as asked; agrees with the page's rows; the operator
    (every province) gets provinces."""
    from models import AppUser

    _spread_states()
    cycle = Cycle.current()
    for username, region in (("province", "演示省卫生健康委员会"),
                             ("city", "演示市卫生健康委员会")):
        actor = scope.actor_for(db.session.query(AppUser).filter_by(username=username).one())
        rows, _total = overview.region_rows(actor, cycle, _admin(region))
        expected = sorted(r.rate for r in rows if r.rate is not None)
        behind = overview.furthest_behind(actor, cycle, limit=10)
        assert [r.rate for r in behind] == pytest.approx(expected)
        one = overview.furthest_behind(actor, cycle, limit=1)
        assert len(one) == 1 and one[0].rate == pytest.approx(expected[0])
        for row in behind:
            page_row = next(r for r in rows if (r.administration_id, r.institution_id) ==
                            (row.administration_id, row.institution_id))
            assert (row.done, row.included) == (
                round(page_row.rate * page_row.count("included")), page_row.count("included"))
    operator = scope.actor_for(db.session.query(AppUser).filter_by(username="ops").one())
    assert [r.name for r in overview.furthest_behind(operator, cycle)] == ["演示省卫生健康委员会"]


@pytest.mark.parametrize("apart", [False, True], ids=["same-city", "other-city"])
def test_two_opposite_transfers_at_once_do_not_deadlock(province, apart):
    """The tally rows are written in one fixed order (the roll-up per region, then the
    institutions' rows): a move A → B and one B → A committing at the same time wait for each
    other instead of deadlocking (PostgreSQL locks the rows, SQLite the whole database; each
    transaction pauses after its first tally row so that the two overlap). A and B in one
    city (a city's own hospital and one of its districts': one roll-up row changes; the pause
    after the first roster row), or in two cities (the roll-up rows of both chains change; the
    pause after the first roll-up row). Both moves land and the
    tallies and the roll-up equal a recount."""
    import threading
    import time

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    staffed = db.session.query(Institution).filter(
        Institution.id.in_(db.session.query(Physician.institution_id))).order_by(Institution.id)
    if apart:
        first = staffed.first()
        city = "/".join(first.admin_path.strip("/").split("/")[:2])
        second = staffed.filter(~Institution.admin_path.like(f"/{city}/%")).first()
    else:
        first, second = staffed.limit(2).all()
    assert second is not None and first.id != second.id
    movers = [db.session.query(Physician.id).filter_by(institution_id=i.id).first()[0]
              for i in (first, second)]
    targets = [second.id, first.id]
    db.session.remove()
    engine = db.engine
    paused = set()

    def pause(conn, cursor, statement, parameters, context, executemany):
        first_row = "region_tally" if apart else "roster_tally"
        if first_row in statement and threading.get_ident() not in paused:
            paused.add(threading.get_ident())
            time.sleep(0.5)

    event.listen(engine, "after_cursor_execute", pause)
    errors, done = [], []

    def move(physician_id, institution_id):
        try:
            with Session(engine) as session:
                session.get(Physician, physician_id).institution_id = institution_id
                session.commit()
                done.append(physician_id)
        except Exception as error:  # noqa: BLE001 — reported below
            errors.append(error)

    try:
        threads = [threading.Thread(target=move, args=pair) for pair in zip(movers, targets)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        event.remove(engine, "after_cursor_execute", pause)
    assert not errors, errors
    assert sorted(done) == sorted(movers) and len(paused) == 2
    assert not _tally_mismatch()


def test_a_page_reads_only_its_own_rows_in_full(as_role, monkeypatch):
    """The district's institutions are ordered and cut to a page in SQL (LIMIT … OFFSET), and
    only the rows shown have their tallies read: one institution per page here."""
    from sqlalchemy import event

    from views import overview as view

    _spread_states()
    client = as_role("district")
    monkeypatch.setattr(view, "PAGE_SIZE", 1)
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = client.get("/overview/?sort=roster&desc=1&page=1").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(_cells(page)) == 1
    ordered = [s for s, _p in seen if "ORDER BY" in s and "LIMIT" in s and "kind" in s]
    assert len(ordered) == 1 and "OFFSET" in ordered[0]
    per_row = [p for s, p in seen if s.lstrip().startswith("SELECT enrollment_tally.institution_id")
               and "GROUP BY" not in s]
    assert per_row and all(
        len([v for v in (p.values() if isinstance(p, dict) else p) if isinstance(v, int)]) <= 2
        for p in per_row)  # the cycle and the one institution of the page


def test_the_operators_home_counts_every_enrollment_of_the_cycle_by_state(as_role):
    """The operator's home reads the provinces' roll-ups; the figures equal a recount."""
    from sqlalchemy import func

    _spread_states()
    cycle = Cycle.current()
    page = as_role("operator").get("/").get_data(as_text=True)
    panel = page.split('id="completion"')[1].split("</table>")[0]
    shown = dict(re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td></tr>", panel))
    recount = {S.label(state): str(n) for state, n in db.session.query(
        Enrollment.state, func.count(Enrollment.id)).filter(
        Enrollment.cycle_id == cycle.id).group_by(Enrollment.state)}
    assert shown == recount and len(shown) >= 5


def test_every_transaction_writes_the_roll_up_rows_in_one_order_the_province_last(province):
    """Two opposite moves (A → B, then B → A, in two cities) change the same roll-up rows; each
    writes them in one statement, in the same order: districts, then cities, then the
    province (the rows every writer shares, held the shortest), by key within a level. Two
    writers locking shared rows in the same order wait for each other instead of deadlocking
    (the pause of the test above cannot fall inside one statement: this checks the order)."""
    from sqlalchemy import event

    staffed = db.session.query(Institution).filter(
        Institution.id.in_(db.session.query(Physician.institution_id))).order_by(Institution.id)
    first = staffed.first()
    city = "/".join(first.admin_path.strip("/").split("/")[:2])
    second = staffed.filter(~Institution.admin_path.like(f"/{city}/%")).first()
    mover = db.session.query(Physician).filter_by(institution_id=first.id).first()
    orders = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO REGION_TALLY"):
            if isinstance(parameters, dict):  # psycopg: cycle_id_m0, administration_id_m0, …
                rows = len([k for k in parameters if k.startswith("measure_m")])
                keys = [(parameters[f"administration_id_m{i}"], parameters[f"measure_m{i}"])
                        for i in range(rows)]
            else:  # sqlite: (cycle_id, administration_id, measure, count) per row
                keys = [tuple(parameters[i + 1:i + 3]) for i in range(0, len(parameters), 4)]
            orders.append(keys)

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        for target in (second, first):
            mover.institution_id = target.id
            db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    assert len(orders) == 2 and sorted(orders[0]) == sorted(orders[1])
    assert orders[0] == orders[1]
    depth = {a.id: len(a.path.strip("/").split("/")) for a in db.session.query(Administration)}
    assert orders[0] == sorted(orders[0], key=lambda key: (-depth[key[0]], key))
    assert len({depth[key[0]] for key in orders[0]}) == 2  # a district and two cities
    assert not _tally_mismatch()

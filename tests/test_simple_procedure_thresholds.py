"""简易程序 conditions at their boundaries (DOMAIN §5; issue #8, point 13): (1) at least 5 years of
practice and a good record, (2) at least 12 years and no bad record, the years counted to the
cycle's cut-off date. A day short of the threshold does not count, the day itself does, as the
physician sees it on step 5."""
import datetime
import re

import pytest

from app.extensions import db
from models import Enrollment, Physician
from tests.conftest import post


def _registered(years_before_cutoff, days_after=0):
    enrollment = db.session.query(Enrollment).join(Physician).filter(
        Physician.name == "王医生").one()
    cutoff = enrollment.cycle.cutoff_date
    first = cutoff.replace(year=cutoff.year - years_before_cutoff) \
        + datetime.timedelta(days=days_after)
    enrollment.physician.first_registration_date = first
    db.session.commit()
    return first


def _record(client, good):
    response = post(client, "/me/enroll/4", {
        "good_record": "yes" if good else "no", "good_detail": "2024年市级先进个人" if good else "",
        "bad_record": "no", "work_quantity": "pass", "patients": "9000", "ethics_fail": "no",
        "save": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]


def _shown(client):
    """Step 5 as the physician sees it: the years counted and the conditions met."""
    page = client.get("/me/enroll/5").get_data(as_text=True)
    years = int(re.search(r'<b id="years">(\d+)</b>', page).group(1))
    met = {code for mark, code in re.findall(r"<li class=\"[^\"]*\">(✓|·) \((\d)\)", page)
           if mark == "✓"}
    return years, met


@pytest.mark.parametrize("years,days_after,shown_years,meets", [
    (5, 1, 4, False),   # a day short of 5 years at the cut-off
    (5, 0, 5, True),    # 5 years to the day
    (6, 0, 6, True),
])
def test_condition_1_needs_five_years_and_a_good_record(as_role, years, days_after,
                                                        shown_years, meets):
    client = as_role("physician")
    _record(client, good=True)
    _registered(years, days_after)
    shown, met = _shown(client)
    assert shown == shown_years
    assert ("1" in met) is meets
    assert "2" not in met  # far from 12 years


def test_condition_1_is_not_met_without_a_good_record(as_role):
    client = as_role("physician")
    _record(client, good=False)
    _registered(8)
    assert "1" not in _shown(client)[1]


@pytest.mark.parametrize("years,days_after,shown_years,meets", [
    (12, 1, 11, False),  # a day short of 12 years
    (12, 0, 12, True),   # 12 years to the day
])
def test_condition_2_needs_twelve_years_and_no_bad_record(as_role, years, days_after,
                                                          shown_years, meets):
    client = as_role("physician")
    _record(client, good=False)  # (2) does not need a good record
    _registered(years, days_after)
    shown, met = _shown(client)
    assert shown == shown_years
    assert ("2" in met) is meets
    assert "1" not in met

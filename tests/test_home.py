"""首页 (manual 000 §3, 002): schedule, pending tasks with 去处理, contacts, 去确认."""
import re

from app.extensions import db
from models import CycleConfirmation
from tests.conftest import post


def _tasks(page):
    return dict(re.findall(r"<tr><td>([^<]+)</td><td><b class=\"task-count\">(\d+)</b>", page))


def test_institution_home_shows_pending_tasks_and_contacts(as_role):
    page = as_role("institution").get("/").get_data(as_text=True)
    tasks = _tasks(page)
    assert tasks["未确认参加报名的医师"] == "4"
    assert tasks["简易程序待审核"] == tasks["一般程序待审核"] == tasks["免考待审核"] == "0"
    assert "/physicianview/list/?_flt_0_id=0" in page
    contacts = page[page.index('id="contacts"'):]
    assert "演示省人民医院" in contacts and "龙华区卫生健康委员会" in contacts
    assert "演示省卫生健康委员会" in contacts


def test_the_go_link_opens_the_filtered_roster(as_role):
    client = as_role("institution")
    page = client.get("/physicianview/list/?_flt_0_id=0").get_data(as_text=True)
    assert len(set(re.findall(r"460\*{5}\w{4}", page))) == 4


def test_administration_home_counts_institutions_without_assessment_institution(as_role):
    page = as_role("city").get("/").get_data(as_text=True)
    assert _tasks(page)["未指定考核机构的医疗机构"] == "1"  # the CDC under 演示市
    listing = as_role("city").get("/institutionview/list/?_flt_1_assessment_institution=1")
    assert "演示市疾病预防控制中心" in listing.get_data(as_text=True)
    assert "演示市第一人民医院" not in listing.get_data(as_text=True)


def test_first_login_in_a_cycle_asks_to_confirm_the_dates_once(as_role):
    client = as_role("district")
    assert 'id="confirm-cycle"' in client.get("/").get_data(as_text=True)
    assert post(client, "/confirm-cycle").status_code == 302
    assert db.session.query(CycleConfirmation).count() == 1
    assert 'id="confirm-cycle"' not in client.get("/").get_data(as_text=True)

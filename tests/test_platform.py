"""The platform pieces: background jobs on a real (embedded) Redis, login rate limiting, the
English switch, and province-scale demo data."""
import datetime

from rq import SimpleWorker

from app import create_app
from app.extensions import db
from tests.conftest import _config, csrf_token, login


def test_a_job_runs_on_the_embedded_redis(province):
    from app import jobs

    job = jobs.queue().enqueue(jobs.ping)
    SimpleWorker([jobs.queue()], connection=jobs.connection()).work(burst=True)
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == "pong"


def test_login_posts_are_rate_limited(province):
    app = create_app({**_config(), "AUTH_RATE_LIMIT": "3 per minute"})
    client = app.test_client()
    token = csrf_token(client)
    codes = [
        client.post("/login/", data={"kind": "staff", "username": "NX1008611", "password": "x",
                                     "agree": "y", "csrf_token": token}).status_code
        for _ in range(4)
    ]
    assert codes[:3] == [400, 400, 400] and codes[3] == 429


def test_english_can_be_switched_on(client):
    login(client, "NX1008611")
    client.get("/lang/en")
    page = client.get("/physicianview/list/").get_data(as_text=True)
    assert "Physician list" in page and "医师列表" not in page
    client.get("/lang/zh")
    assert "医师列表" in client.get("/physicianview/list/").get_data(as_text=True)


def test_bulk_demo_data_gives_unique_valid_ids_and_working_accounts(province):
    from app import demo
    from models import Institution, Physician
    from security import idcard

    before = db.session.query(Physician).count()
    demo.generate_bulk(3000, 30, chunk=1000)
    numbers = [n for (n,) in db.session.query(Physician.id_number)]
    assert len(numbers) == before + 3000 == len(set(numbers))
    assert all(idcard.is_valid(n) for n in numbers)
    assert db.session.query(Institution).filter(Institution.account.like("BK%")).count() == 30
    client = province.test_client()
    assert login(client, numbers[-1], "666666", kind="physician").status_code == 302

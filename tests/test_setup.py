"""A real province starts on it (issue 15): `init` loads only reference data, `create-admin`
makes the first administrator (forced password change), the demo refuses a real database,
the province enters its tree by form and by Excel, sets its cycle and schedule, and the
multi-worker defaults (login limit in Redis, trusted proxies, Secure cookies) hold."""
import io
import os
import subprocess
import sys

import pytest
from openpyxl import Workbook, load_workbook

from app.extensions import db
from models import Administration, AppUser, Cycle, Institution, ScheduleWindow, Subject
from models.tree_import import ADMIN_HEADERS, INSTITUTION_HEADERS
from security import roles
from tests.conftest import _config, _empty_tables, _token_from_session, flashes, login, post

STRONG = "Strong#2026pw"


def _cli(app, *args, **env):
    return app.test_cli_runner().invoke(args=["dingkao", *args], env=env or None)


@pytest.fixture()
def empty(app):
    """An empty database, as after the migrations on a new server."""
    with app.app_context():
        _empty_tables()
        db.session.remove()
        yield app
        db.session.remove()


# --- init, create-admin, the demo guard -------------------------------------------------------


def test_init_loads_the_roles_and_the_subject_catalogue_and_nothing_else(empty):
    result = _cli(empty, "init")
    assert result.exit_code == 0, result.output
    from flask_appbuilder.security.sqla.models import Role

    names = {r.name for r in db.session.query(Role)}
    assert set(roles.ROLE_PERMISSIONS) <= names
    assert db.session.query(Subject).filter(Subject.parent_id.is_(None)).count() > 20
    assert db.session.query(Subject).filter_by(name="呼吸内科专业").count() == 1
    for model in (AppUser, Administration, Institution, Cycle):
        assert db.session.query(model).count() == 0, model
    again = _cli(empty, "init")  # idempotent
    assert again.exit_code == 0 and db.session.query(Subject).filter_by(
        name="呼吸内科专业").count() == 1


def test_create_admin_must_change_the_password_at_first_login(empty):
    assert _cli(empty, "init").exit_code == 0
    weak = _cli(empty, "create-admin", "--password", "666666")
    assert weak.exit_code != 0 and db.session.query(AppUser).count() == 0
    result = _cli(empty, "create-admin", "--username", "root", "--password", STRONG)
    assert result.exit_code == 0, result.output
    user = db.session.query(AppUser).filter_by(username="root").one()
    assert [r.name for r in user.roles] == [roles.SYSADMIN] and user.must_change_password
    assert _cli(empty, "create-admin", "--username", "root").exit_code != 0  # exists

    client = empty.test_client()
    assert login(client, "root", STRONG).status_code == 302
    assert client.get("/institutionview/list/").headers["Location"].endswith("/account/password")
    response = post(client, "/account/password", {"old_password": STRONG,
                                                  "new_password": "Changed#2026x",
                                                  "confirm_password": "Changed#2026x"})
    assert response.status_code == 302
    client = empty.test_client()
    assert login(client, "root", "Changed#2026x").status_code == 302
    assert client.get("/institutionview/list/").status_code == 200


def test_create_admin_without_a_password_prints_a_random_one_once(empty):
    result = _cli(empty, "create-admin")
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1].split(": ", 1)[1]
    assert len(password) >= 12
    client = empty.test_client()
    assert login(client, "admin", password).status_code == 302


def test_demo_wants_the_explicit_flag_and_says_the_password_is_published(empty):
    result = _cli(empty, "demo")
    assert result.exit_code != 0
    assert "--yes-demo-accounts" in result.output and "Demo@2026" in result.output
    assert db.session.query(Administration).count() == 0


def test_demo_refuses_a_database_with_real_data(empty):
    _cli(empty, "init")
    _cli(empty, "create-admin", "--password", STRONG)
    result = _cli(empty, "demo", "--yes-demo-accounts")
    assert result.exit_code != 0 and "real province" in result.output
    assert db.session.query(Administration).count() == 0


def test_demo_runs_on_an_empty_database_and_again_on_its_own_data(empty):
    assert _cli(empty, "demo", "--yes-demo-accounts").exit_code == 0
    assert db.session.query(AppUser).filter_by(username="admin").count() == 1
    assert _cli(empty, "demo", "--yes-demo-accounts").exit_code == 0  # idempotent


def test_demo_refuses_when_a_real_administration_sits_beside_the_demo(province):
    province_node = Administration(name="某省卫生健康委员会", level="province")
    db.session.add(province_node)
    db.session.flush()
    province_node.assign_path()
    db.session.commit()
    result = _cli(province, "demo", "--yes-demo-accounts")
    assert result.exit_code != 0 and "real province" in result.output
    # Nor by the seeding itself (`make run` pointed at a real database).
    from app import demo

    with pytest.raises(demo.DemoRefused):
        demo.seed_demo_province()


# --- multi-worker defaults ------------------------------------------------------------------


def _app(**config):
    from app import create_app

    return create_app({**_config(), **config})


def test_login_limit_counts_in_redis_when_redis_url_is_set():
    assert _app(REDIS_URL="redis://10.0.0.1:6379/0").config[
        "RATELIMIT_STORAGE_URI"] == "redis://10.0.0.1:6379/0"
    assert _app(REDIS_URL="unix:///run/redis.sock").config[
        "RATELIMIT_STORAGE_URI"] == "redis+unix:///run/redis.sock"
    assert _app(REDIS_URL="").config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert _app(REDIS_URL="redis://a:1/0", RATELIMIT_STORAGE_URI="memory://").config[
        "RATELIMIT_STORAGE_URI"] == "memory://"


def _remote_addr_seen(app, **headers):
    seen = []

    @app.before_request
    def _note():
        from flask import request

        seen.append(request.remote_addr)

    app.test_client().get("/login/", headers=headers,
                          environ_base={"REMOTE_ADDR": "127.0.0.1"})
    return seen[0]


def test_behind_a_trusted_proxy_the_client_address_is_the_forwarded_one(app):
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    assert _remote_addr_seen(_app(TRUSTED_PROXIES=1), **forwarded) == "203.0.113.7"
    # Without a trusted proxy anyone could claim any address: the header is ignored.
    assert _remote_addr_seen(_app(TRUSTED_PROXIES=0), **forwarded) == "127.0.0.1"


def test_login_limit_is_per_client_behind_the_proxy_and_not_fooled_without_it(province):
    def refused_after(app, addresses):
        limited = []
        for address in addresses:
            client = app.test_client()
            token = client.get("/login/").get_data(as_text=True).split(
                'name="csrf_token" type="hidden" value="')[-1].split('"')[0]
            response = client.post("/login/", data={"username": "x", "csrf_token": token},
                                   headers={"X-Forwarded-For": address})
            limited.append(response.status_code == 429)
        return limited

    # 3 POSTs a minute: two clients behind the proxy are counted apart...
    behind = _app(TRUSTED_PROXIES=1, AUTH_RATE_LIMIT="3 per minute")
    assert refused_after(behind, ["198.51.100.1"] * 3 + ["198.51.100.2"]) == [False] * 4
    assert refused_after(behind, ["198.51.100.1"]) == [True]
    # ...and without a trusted proxy a forged header does not buy more attempts.
    direct = _app(TRUSTED_PROXIES=0, AUTH_RATE_LIMIT="3 per minute")
    assert refused_after(direct, ["198.51.100.%d" % n for n in range(4)])[-1] is True


@pytest.mark.parametrize("env, secure", [({}, "False"), ({"HTTPS": "1"}, "True"),
                                         ({"PRODUCTION": "1"}, "True"),
                                         ({"HTTPS": "1", "SESSION_COOKIE_SECURE": "0"}, "False")])
def test_secure_cookies_when_served_over_https(env, secure):
    base = {k: v for k, v in os.environ.items()
            if k not in ("HTTPS", "PRODUCTION", "SESSION_COOKIE_SECURE")}
    code = "from config import Config; print(Config.SESSION_COOKIE_SECURE)"
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, text=True,
                         capture_output=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == secure, out.stderr


# --- the tree by form -----------------------------------------------------------------------


def _node(name):
    return db.session.query(Administration).filter_by(name=name).one()


def _add_administration(client, **fields):
    return post(client, "/administrationview/add", fields)


def test_the_province_adds_a_city_with_its_account_by_form(as_role):
    client = as_role("province")
    province_id = _node("演示省卫生健康委员会").id
    response = _add_administration(client, name="新城市卫生健康委员会", level="city",
                                   parent=str(province_id), account="xincheng",
                                   region_code="460300")
    assert response.status_code == 302, flashes(client)
    node = _node("新城市卫生健康委员会")
    assert node.path == f"/{province_id}/{node.id}/"
    user = db.session.query(AppUser).filter_by(username="xincheng").one()
    assert user.administration_id == node.id and user.must_change_password
    assert [r.name for r in user.roles] == [roles.CITY]
    assert any("666666" in m for m in flashes(client))
    page = client.get("/administrationview/list/").get_data(as_text=True)
    assert "xincheng" in page
    # The new account logs in and must change its password first.
    city = as_role("province").application.test_client()
    assert login(city, "xincheng", "666666").status_code == 302
    assert city.get("/").headers["Location"].endswith("/account/password")


@pytest.mark.parametrize("fields, message", [
    ({"level": "district", "parent_name": "演示省卫生健康委员会"}, "区县级"),
    ({"level": "province", "parent_name": "演示省卫生健康委员会"}, "省级"),
    ({"account": "city"}, "已被使用"),
    ({"account": "has space"}, "空格"),
])
def test_a_wrong_administration_is_refused_with_the_reason_and_nothing_saved(
        as_role, fields, message):
    client = as_role("province")
    parent = _node(fields.pop("parent_name", "演示省卫生健康委员会"))
    before = db.session.query(Administration).count(), db.session.query(AppUser).count()
    data = {"name": "错误的卫生健康委员会", "level": "city", "parent": str(parent.id),
            "account": "wrongone", **fields}
    response = _add_administration(client, **data)
    shown = response.get_data(as_text=True) + " ".join(flashes(client))
    assert message in shown
    db.session.rollback()
    assert (db.session.query(Administration).count(), db.session.query(AppUser).count()) == before


def test_a_city_cannot_add_under_another_city_and_a_district_cannot_add_at_all(as_role):
    other_city = _node("滨海市卫生健康委员会")
    before = db.session.query(Administration).count()
    client = as_role("city")
    response = _add_administration(client, name="越权区卫生健康委员会", level="district",
                                   parent=str(other_city.id), account="yuequan")
    assert response.status_code in (200, 404)
    assert as_role("district").get("/administrationview/add").status_code in (302, 403)
    db.session.rollback()
    assert db.session.query(Administration).count() == before
    assert db.session.query(AppUser).filter_by(username="yuequan").count() == 0


def test_the_parent_and_level_of_an_existing_administration_cannot_change(as_role):
    client = as_role("province")
    district = _node("龙华区卫生健康委员会")
    response = post(client, f"/administrationview/edit/{district.id}",
                    {"name": "龙华区卫生健康委员会", "contact": "新联系人"})
    assert response.status_code == 302
    db.session.rollback()
    assert _node("龙华区卫生健康委员会").contact == "新联系人"


# --- the tree by Excel ----------------------------------------------------------------------


def _workbook(admin_rows=(), institution_rows=()):
    book = Workbook()
    admins = book.active
    admins.title = "行政机构"
    admins.append(list(ADMIN_HEADERS))
    for row in admin_rows:
        admins.append(list(row))
    institutions = book.create_sheet("医疗卫生机构")
    institutions.append(list(INSTITUTION_HEADERS))
    for row in institution_rows:
        institutions.append(list(row) + [""] * (len(INSTITUTION_HEADERS) - len(row)))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _import(client, data):
    token = _token_from_session(client)
    return client.post("/tree/import/", data={"csrf_token": token,
                                              "file": (io.BytesIO(data), "tree.xlsx")},
                       content_type="multipart/form-data")


def _inst(name, account, admin, kind="医疗机构", **extra):
    row = [name, account, admin, kind, "二级", "甲等", "某省", "某市", "某区", "某路1号", 100,
           "法人", "联系人", "0898-1", "13800001111", extra.get("assessment", "否"),
           extra.get("assessor", "")]
    return row


A_TREE = [
    ("某省卫生健康委员会", "省级", "", "990000", "mousheng", "省考核办", "0898-1"),
    ("甲市卫生健康委员会", "市级", "某省卫生健康委员会", "990100", "jiashi", "", ""),
    ("甲区卫生健康委员会", "区县级", "甲市卫生健康委员会", "990101", "jiaqu", "", ""),
]
THE_INSTITUTIONS = [
    _inst("某省人民医院", "MS0001", "甲市卫生健康委员会", assessment="是"),
    _inst("甲区第一医院", "MS0002", "甲区卫生健康委员会", assessor="MS0001"),
    _inst("甲区卫生室", "MS0003", "甲区卫生健康委员会", kind="村卫生室"),
]


def test_template_has_both_sheets_with_their_headers(as_role):
    response = as_role("province").get("/tree/import/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert [c.value for c in book.worksheets[0][1]] == list(ADMIN_HEADERS)
    assert [c.value for c in book.worksheets[1][1]] == list(INSTITUTION_HEADERS)


def test_the_system_administrator_imports_a_whole_province_with_accounts(as_role):
    client = as_role("sysadmin")
    response = _import(client, _workbook(A_TREE, THE_INSTITUTIONS))
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert 'id="administrations-added">3<' in page and 'id="institutions-added">3<' in page
    assert 'id="rejected-count">0<' in page and "mousheng" in page and "666666" in page
    db.session.rollback()
    province_node, city, district = (_node(row[0]) for row in A_TREE)
    assert province_node.parent is None and city.parent == province_node
    assert district.path == f"/{province_node.id}/{city.id}/{district.id}/"
    hospital = db.session.query(Institution).filter_by(account="MS0002").one()
    assessor = db.session.query(Institution).filter_by(account="MS0001").one()
    assert hospital.admin_path == district.path and hospital.assessment_institution == assessor
    assert assessor.is_assessment and hospital.level == "level2" and hospital.grade == "grade_a"
    users = {u.username: u for u in db.session.query(AppUser).filter(AppUser.username.in_(
        ["mousheng", "jiashi", "jiaqu", "MS0001", "MS0002", "MS0003"]))}
    assert len(users) == 6 and all(u.must_change_password for u in users.values())
    assert {r.name for r in users["MS0001"].roles} == {roles.INSTITUTION, roles.ASSESSMENT}
    assert {r.name for r in users["mousheng"].roles} == {roles.PROVINCE}
    assert users["MS0003"].institution_id is not None
    # The new province's account sees its own tree, not the demo's.
    mine = client.application.test_client()
    assert login(mine, "mousheng", "666666").status_code == 302


def test_each_bad_row_is_listed_with_its_reason_and_the_valid_rows_go_in(as_role):
    client = as_role("province")
    rows = [
        ("新市卫生健康委员会", "市级", "演示省卫生健康委员会", "", "xinshi", "", ""),
        ("无上级区卫生健康委员会", "区县级", "不存在的卫生健康委员会", "", "wushangji", "", ""),
        ("坏级别卫生健康委员会", "乡级", "演示省卫生健康委员会", "", "huaijibie", "", ""),
        ("重复账号卫生健康委员会", "市级", "演示省卫生健康委员会", "", "city", "", ""),
        ("跟随区卫生健康委员会", "区县级", "无上级区卫生健康委员会", "", "gensui", "", ""),
        ("新区卫生健康委员会", "区县级", "新市卫生健康委员会", "", "xinqu", "", ""),
    ]
    institutions = [
        _inst("新区医院", "XQ0001", "新区卫生健康委员会"),
        _inst("重复机构", "NX1008611", "新区卫生健康委员会"),
        _inst("坏类型医院", "XQ0002", "新区卫生健康委员会", kind="医馆"),
        _inst("文件内重复", "XQ0001", "新区卫生健康委员会"),
        _inst("坏考核机构", "XQ0003", "新区卫生健康委员会", assessor="NX1008611"),
        _inst("无主管医院", "XQ0004", "跟随区卫生健康委员会"),
    ]
    response = _import(client, _workbook(rows, institutions))
    page = response.get_data(as_text=True)
    assert 'id="administrations-added">2<' in page and 'id="institutions-added">1<' in page
    assert 'id="rejected-count">9<' in page
    for reason in ("不存在的卫生健康委员会", "省级、市级或区县级", "已被使用",
                   "在本文件中未通过", "下拉列表", "“NX1008611”不是您管理的考核机构"):
        assert reason in page, reason
    db.session.rollback()
    assert _node("新区卫生健康委员会").parent == _node("新市卫生健康委员会")
    assert db.session.query(Institution).filter_by(account="XQ0001").one().name == "新区医院"
    for name in ("无上级区卫生健康委员会", "跟随区卫生健康委员会", "坏级别卫生健康委员会"):
        assert db.session.query(Administration).filter_by(name=name).count() == 0


def test_a_city_imports_only_under_itself(as_role):
    client = as_role("city")
    rows = [("越权区卫生健康委员会", "区县级", "滨海市卫生健康委员会", "", "yuequan", "", ""),
            ("本市新区卫生健康委员会", "区县级", "演示市卫生健康委员会", "", "benshi", "", ""),
            ("越权省卫生健康委员会", "省级", "", "", "yuequansheng", "", "")]
    page = _import(client, _workbook(rows, [_inst("越权医院", "YQ0001", "海湾区卫生健康委员会")]
                                     )).get_data(as_text=True)
    assert 'id="administrations-added">1<' in page and 'id="rejected-count">3<' in page
    db.session.rollback()
    assert db.session.query(Administration).filter(Administration.name.like("越权%")).count() == 0
    assert db.session.query(Institution).filter_by(account="YQ0001").count() == 0


def test_a_file_refused_as_a_whole_changes_nothing(as_role):
    client = as_role("province")
    before = db.session.query(Administration).count()
    response = _import(client, b"PK\x03\x04 not really a workbook")
    assert response.status_code == 400 and "xlsx" in response.get_data(as_text=True)
    one_sheet = Workbook()
    one_sheet.active.append(list(ADMIN_HEADERS))
    out = io.BytesIO()
    one_sheet.save(out)
    response = _import(client, out.getvalue())
    assert response.status_code == 400 and "两个工作表" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.query(Administration).count() == before


def test_valid_rows_go_in_together_or_not_at_all(as_role, monkeypatch):
    """One transaction: a failure after some rows were added leaves none of them."""
    from models import Institution as InstitutionModel

    client = as_role("sysadmin")
    calls = []
    real = InstitutionModel.open_account

    def failing(self, user=None):
        calls.append(self.account)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(self, user=user)

    monkeypatch.setattr(InstitutionModel, "open_account", failing)
    with pytest.raises(RuntimeError):
        _import(client, _workbook(A_TREE, THE_INSTITUTIONS))
    db.session.rollback()
    assert db.session.query(Administration).filter_by(name="某省卫生健康委员会").count() == 0
    assert db.session.query(AppUser).filter_by(username="MS0001").count() == 0


def test_institutions_and_physicians_cannot_import_the_tree(as_role):
    for role in ("institution", "physician"):
        client = as_role(role)
        assert client.get("/tree/import/").status_code in (302, 403)
        assert client.get("/tree/import/template.xlsx").status_code in (302, 403)


# --- cycle and schedule, by the province ----------------------------------------------------


def test_the_province_creates_a_cycle_made_current_alone(as_role):
    client = as_role("province")
    old = Cycle.current()
    response = post(client, "/cycleview/add", {
        "name": "2025-2027年度医师定期考核", "start_date": "2025-01-01",
        "end_date": "2027-12-31", "cutoff_date": "2026-12-31", "is_current": "y"})
    assert response.status_code == 302, flashes(client)
    db.session.rollback()
    new = db.session.query(Cycle).filter_by(name="2025-2027年度医师定期考核").one()
    assert new.is_current and Cycle.current() == new
    assert not db.session.get(Cycle, old.id).is_current
    assert new.administration == _node("演示省卫生健康委员会")
    response = post(client, "/schedulewindowview/add", {
        "cycle": str(new.id), "kind": "enrollment", "start_date": "2026-04-13",
        "end_date": "2026-05-06"})
    assert response.status_code == 302
    again = post(client, "/schedulewindowview/add", {
        "cycle": str(new.id), "kind": "enrollment", "start_date": "2026-04-14",
        "end_date": "2026-05-06"})
    assert any("已安排" in m for m in flashes(client)), again
    backwards = post(client, "/cycleview/add", {
        "name": "倒序周期", "start_date": "2027-01-01", "end_date": "2025-12-31",
        "cutoff_date": "2026-12-31"})
    assert any("开始日期不能晚于结束日期" in m for m in flashes(client)), backwards
    db.session.rollback()
    assert db.session.query(ScheduleWindow).filter_by(cycle_id=new.id).count() == 1
    assert db.session.query(Cycle).filter_by(name="倒序周期").count() == 0


def test_only_the_province_sets_cycles(as_role):
    for role in ("city", "institution"):
        assert as_role(role).get("/cycleview/add").status_code in (302, 403)


def test_the_tree_import_needs_the_csrf_token(as_role):
    client = as_role("sysadmin")
    response = client.post("/tree/import/", data={"file": (io.BytesIO(_workbook(A_TREE)),
                                                           "tree.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    db.session.rollback()
    assert db.session.query(Administration).filter_by(name="某省卫生健康委员会").count() == 0
    assert "mousheng" in _import(client, _workbook(A_TREE)).get_data(as_text=True)

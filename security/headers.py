"""Security headers on every response, in one place: a Content-Security-Policy with a fresh
nonce per request, no framing, no MIME sniffing, no referrer to other sites, and HSTS when the
app is served over HTTPS.

Scripts run only from our own origin or inline with the request's nonce: FAB's templates ask for
``csp_nonce()`` already, and ours do the same. A static inline script of a template that carries
no nonce is allowed by its hash, computed here from the template files, so that it keeps
working without opening the policy to every inline script. Styles keep 'unsafe-inline': FAB's
pages and ours set ``style=`` attributes throughout, and a style cannot run code.
"""
import base64
import hashlib
import re
import secrets

from flask import g

from config import BASE_DIR

# The policy of every page; a response that set its own (a served file) keeps it.
PAGE_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'nonce-{nonce}'{hashes}; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self' data:; "
    "connect-src 'self'; "
    "object-src 'none'; "
    "base-uri 'self'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)

_STATIC_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def csp_nonce():
    """The nonce of this request's policy (the name FAB's templates look for)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def static_inline_script_hashes(folder=BASE_DIR / "views" / "templates"):
    """CSP hash sources of the inline scripts of our templates that have no nonce and no
    template expression (their text is what the browser gets)."""
    hashes = set()
    for path in sorted(folder.rglob("*.html")):
        for body in _STATIC_INLINE_SCRIPT.findall(path.read_text(encoding="utf-8")):
            if "{{" in body or "{%" in body:
                continue
            digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
            hashes.add(f"'sha256-{digest}'")
    return sorted(hashes)


def register_security_headers(app):
    hashes = "".join(" " + source for source in static_inline_script_hashes())
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    def apply(headers, nonce):
        """The headers on ``headers``; ``nonce()`` gives the request's CSP nonce. Also called
        by the exam's answer path (views/exam_answer.py), which answers outside Flask."""
        if "Content-Security-Policy" not in headers:
            headers["Content-Security-Policy"] = PAGE_POLICY.format(nonce=nonce(),
                                                                    hashes=hashes)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            # Served over HTTPS: browsers keep to it for a year.
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")

    app.extensions["security_headers"] = apply

    @app.after_request
    def _security_headers(response):
        apply(response.headers, csp_nonce)
        return response

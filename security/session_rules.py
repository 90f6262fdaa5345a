"""Rules applied to every request of a logged-in user: first a new password, then (physicians)
a bound mobile number; nothing else opens until both are done."""
from flask import g, redirect, request, url_for

from security import accounts

_ALWAYS_OPEN = {
    "static",
    "appbuilder.static",
    "DingkaoAuthView.logout",
    "DingkaoAuthView.login",
    "DingkaoAuthView.captcha_image",
    "AccountView.password",
    "AccountView.mobile",
    "AccountView.send_code",
    "LocaleView.index",
}


def register_session_rules(app):
    @app.before_request
    def _enforce_first_login_steps():
        user = getattr(g, "user", None)
        if user is None or not user.is_authenticated or request.endpoint in _ALWAYS_OPEN:
            return None
        if user.must_change_password:
            return redirect(url_for("AccountView.password"))
        if accounts.needs_mobile(user):
            return redirect(url_for("AccountView.mobile"))
        return None

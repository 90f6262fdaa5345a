"""Login, captcha image and 账户设置 (change password, bind or change mobile)."""
from flask import current_app, flash, g, jsonify, make_response, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.views import AuthDBView
from flask_appbuilder.baseviews import BaseView
from flask_appbuilder.security.decorators import has_access, no_cache
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField

from security import accounts, captcha, session_rules
from security.passwords import RULE_TEXT


class LoginForm(FlaskForm):
    kind = HiddenField(default=accounts.STAFF)
    username = StringField()
    password = PasswordField()
    captcha = StringField()
    agree = BooleanField()


class DingkaoAuthView(AuthDBView):
    """Two doors, one form: institutions and administrations by account, physicians by ID."""

    login_template = "security/login.html"

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_index)
        form = LoginForm()
        if request.method == "GET" and request.args.get("kind") == accounts.PHYSICIAN:
            form.kind.data = accounts.PHYSICIAN
        error = None
        if request.method == "POST":
            error = self._try_login(form)
            if error is None:
                next_url = get_safe_redirect(request.args.get("next", ""))
                return redirect(next_url)
        response = make_response(
            self.render_template(
                self.login_template,
                title=_l("Log in"),
                form=form,
                error=error,
                appbuilder=self.appbuilder,
                captcha_enabled=current_app.config["CAPTCHA_ENABLED"],
            ),
            400 if error else 200,
        )
        return response

    def _try_login(self, form):
        if not form.validate():
            return _("The page has expired, please refresh it and log in again")
        kind = form.kind.data if form.kind.data in (accounts.STAFF, accounts.PHYSICIAN) else None
        if kind is None:
            return _("Please choose how to log in")
        if not form.agree.data:
            return _("Please read and accept the Service Agreement and the Privacy Terms")
        if not captcha.verify(form.captcha.data):
            return _("Wrong captcha, please enter it again")
        try:
            user = accounts.authenticate(kind, form.username.data, form.password.data)
        except accounts.LoginRefused as refused:
            return str(refused)
        # A new session (id, CSRF token) at login: nothing from before the login carries over.
        session_rules.begin(user)
        login_user(user, remember=False)
        return None

    @expose("/logout/", methods=["GET", "POST"])
    @no_cache
    def logout(self):
        """退出: a POST with the CSRF token (a link or an image elsewhere cannot log anyone
        out); a GET shows the button."""
        if request.method == "GET":
            if g.user is None or not g.user.is_authenticated:
                return redirect(self.appbuilder.get_url_for_login)
            return self.render_template("security/logout.html", appbuilder=self.appbuilder)
        user = self._get_authenticated_user()
        session_rules.end()
        logout_user()
        if user is not None:
            self.appbuilder.sm.on_user_logout(user)
        return redirect(self.appbuilder.get_url_for_login)

    @expose("/captcha.png")
    @no_cache
    def captcha_image(self):
        response = make_response(captcha.render_png(captcha.new_challenge()))
        response.headers["Content-Type"] = "image/png"
        return response


class AccountView(BaseView):
    """账户设置: every logged-in user changes their password and, physicians, their mobile."""

    route_base = "/account"
    default_view = "password"

    @expose("/password", methods=["GET", "POST"])
    @has_access
    def password(self):
        user = g.user
        error = None
        # The first login of a physician: 修改密码，绑定手机 on one page (manual 001).
        first_login = user.must_change_password and accounts.needs_mobile(user)
        if request.method == "POST":
            try:
                if first_login and "mobile" in request.form:
                    accounts.change_password_and_bind_mobile(
                        user, request.form.get("old_password"),
                        request.form.get("new_password"), request.form.get("confirm_password"),
                        request.form.get("mobile"), request.form.get("code"))
                else:
                    accounts.change_password(
                        user,
                        request.form.get("old_password"),
                        request.form.get("new_password"),
                        request.form.get("confirm_password"),
                    )
            except accounts.AccountError as refused:
                error = str(refused)
            else:
                # Every session of the account ended with the change; this one goes on anew.
                account = current_user._get_current_object()  # g.user is a proxy of it
                session_rules.begin(account)
                login_user(account, remember=False)
                flash(str(_l("Password changed")), "success")
                if accounts.needs_mobile(user):
                    return redirect(url_for("AccountView.mobile"))
                return redirect(self.appbuilder.get_url_for_index)
        return self.render_template(
            "security/password.html",
            forced=user.must_change_password,
            first_login=first_login,
            error=error,
            rule=RULE_TEXT,
        ), (400 if error else 200)

    @expose("/mobile", methods=["GET", "POST"])
    @has_access
    def mobile(self):
        user = g.user
        error = None
        if request.method == "POST":
            try:
                accounts.bind_mobile(user, request.form.get("mobile"), request.form.get("code"))
            except accounts.AccountError as refused:
                error = str(refused)
            else:
                flash(str(_l("Mobile number bound")), "success")
                return redirect(self.appbuilder.get_url_for_index)
        return self.render_template(
            "security/mobile.html",
            forced=accounts.needs_mobile(user),
            current=user.mobile,
            error=error,
        ), (400 if error else 200)

    @expose("/mobile/code", methods=["POST"])
    @has_access
    def send_code(self):
        try:
            accounts.send_mobile_code(g.user, request.form.get("mobile"))
        except accounts.AccountError as refused:
            return jsonify(ok=False, message=str(refused)), 400
        return jsonify(ok=True, message=_("The code has been sent, it is valid for 5 minutes"))

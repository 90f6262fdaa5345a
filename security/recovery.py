"""忘记密码: a new password by an SMS code sent to the account's bound mobile, and the login by
bound mobile number (manual 004).

What is answered never says whether an account or a number exists: asking for a code always
gets the same answer, and every failure of the code (no such account, no code, a wrong,
used or expired code) the same message. The SMS rules of ``security.sms`` apply (one live code,
a few entries per code, single use, expiry, sends throttled per account and per number); the
two POSTs are also limited per address and per account tried (Redis, like the login limit:
``security.manager``)."""
import datetime

from flask import current_app, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import no_cache
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash

from app.extensions import db
from models.account import AppUser
from models.audit import record as audit
from models.base import valid_mobile
from security import captcha, idcard, sms
from security.passwords import RULE_TEXT, complexity_error, hash_password

PURPOSE = "reset"
SENT = _l("If the account has a bound mobile number, a code has been sent to it; it is valid "
          "for 5 minutes")
CODE_FAILED = _l("The SMS code is wrong or no longer valid, please check it or get a new one")


class ResetRefused(ValueError):
    """The reset did not happen; the message is for the user and says nothing of accounts."""


def _bound(query):
    return query.filter(AppUser.mobile_bound_at.isnot(None), AppUser.active.is_(True))


def account_of_mobile(mobile):
    """The one active account with ``mobile`` bound, or None (none, or several: ambiguous)."""
    mobile = (mobile or "").strip()
    if not valid_mobile(mobile):
        return None
    found = _bound(db.session.query(AppUser).filter(AppUser.mobile == mobile)).limit(2).all()
    return found[0] if len(found) == 1 else None


def account_of(login):
    """The account an entry names: its bound mobile, an ID number in any of its forms, or an
    account name. None when nothing matches."""
    login = (login or "").strip()
    if not login:
        return None
    if valid_mobile(login):
        return account_of_mobile(login)
    names = [login]
    try:
        names.insert(0, idcard.normalize(login))
    except idcard.InvalidIdNumber:
        pass
    return db.session.query(AppUser).filter(AppUser.username.in_(names)).first()


def account_key(login):
    """What the per-account limit counts: the entry as the lookup reads it."""
    login = (login or "").strip()
    try:
        return idcard.normalize(login)
    except idcard.InvalidIdNumber:
        return login.upper()


def request_code(login):
    """Send a reset code to the bound mobile of the account named; the same answer whatever
    happens (no account, no bound mobile, a send refused by the throttle)."""
    user = account_of(login)
    if user is None or not user.active or not user.mobile_bound_at or not user.mobile:
        return str(SENT)
    try:
        sms.send_code(user.mobile, PURPOSE, user_id=user.id)
    except sms.SmsError:
        db.session.rollback()
    return str(SENT)


def reset(login, code, new_password, confirm, now=None):
    """Set a new password with the code: the password rule of 修改密码 first (it says nothing
    of the account), then the code. The account's sessions end; its lock is lifted."""
    if not (code or "").strip():
        raise ResetRefused(_("Please enter the SMS code"))
    if new_password != confirm:
        raise ResetRefused(_("The two new passwords differ"))
    problem = complexity_error(new_password)
    if problem:
        raise ResetRefused(problem)
    user = account_of(login)
    if user is None or not user.active or not user.mobile_bound_at or not user.mobile:
        raise ResetRefused(str(CODE_FAILED))
    try:
        sms.consume_code(user.mobile, PURPOSE, code, user_id=user.id)
    except sms.SmsError:
        db.session.rollback()
        raise ResetRefused(str(CODE_FAILED)) from None
    if user.password and check_password_hash(user.password, new_password):
        db.session.commit()  # the code is used up all the same
        raise ResetRefused(_("The new password must differ from the current one"))
    user.password = hash_password(new_password)
    user.must_change_password = False
    user.fail_login_count = 0
    user.locked_until = None
    user.changed_on = now or datetime.datetime.now()
    audit("ab_user", user.id, "password_reset_by_sms", user=user)
    db.session.commit()
    from security import session_rules

    session_rules.end_all(user.id)
    return user


def login_tried():
    """The per-account key of the two POSTs below (empty: not counted)."""
    login = request.form.get("account") or ""
    return f"reset:{account_key(login)}" if login.strip() else ""


class PasswordResetView(BaseView):
    """忘记密码? on the login page: /login/forgot."""

    route_base = "/login/forgot"
    default_view = "forgot"

    def _page(self, error=None, status=200):
        return self.render_template(
            "security/forgot.html", error=error, rule=RULE_TEXT,
            account=request.form.get("account", ""),
            captcha_enabled=current_app.config["CAPTCHA_ENABLED"],
            appbuilder=self.appbuilder), status

    @expose("/", methods=["GET", "POST"])
    @no_cache
    def forgot(self):
        if request.method == "GET":
            return self._page()
        try:
            reset(request.form.get("account"), request.form.get("code"),
                  request.form.get("new_password"), request.form.get("confirm_password"))
        except ResetRefused as refused:
            return self._page(str(refused), 400)
        from flask import flash

        flash(_("The password has been reset, please log in with the new password"), "success")
        return redirect(url_for("DingkaoAuthView.login", kind="physician"))

    @expose("/code", methods=["POST"])
    @no_cache
    def send_code(self):
        if not (request.form.get("account") or "").strip():
            return jsonify(ok=False, message=_("Please enter your ID number or mobile number")), 400
        if current_app.config["CAPTCHA_ENABLED"] and not captcha.verify(
                request.form.get("captcha")):
            return jsonify(ok=False, message=_("Wrong captcha, please enter it again")), 400
        return jsonify(ok=True, message=request_code(request.form.get("account")))

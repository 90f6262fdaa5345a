"""Account rules as plain functions: authentication with lockout, password change and reset,
mobile binding. Views translate HTTP to these calls."""
import datetime

from flask import current_app
from flask_babel import gettext as _
from werkzeug.security import check_password_hash

from app.extensions import db
from models.account import AppUser
from models.base import valid_mobile  # noqa: F401  (the one mobile rule; views ask it here)
from security import idcard, roles, sms
from security.passwords import complexity_error, hash_password, initial_password_hash

STAFF, PHYSICIAN = "staff", "physician"


class LoginRefused(Exception):
    """Login did not succeed; the message is for the user."""


class AccountError(ValueError):
    """A change to an account was refused; the message is for the user."""


def _has_role(user, name):
    return any(role.name == name for role in user.roles)


def find_login_user(kind, login):
    """The account a login form names: staff by account, physicians by any form of their ID."""
    login = (login or "").strip()
    if not login:
        raise LoginRefused(_("Please enter your account") if kind == STAFF
                           else _("Enter your ID number"))
    if kind == PHYSICIAN and valid_mobile(login):
        # A physician's bound mobile number logs in as well as the ID number (manual 004).
        from security.recovery import account_of_mobile

        user = account_of_mobile(login)
        if user is None or not _has_role(user, roles.PHYSICIAN):
            raise LoginRefused(_("Wrong account or password"))
        return user
    if kind == PHYSICIAN:
        try:
            login = idcard.normalize(login)
        except idcard.InvalidIdNumber as error:
            raise LoginRefused(str(error)) from None
    user = db.session.query(AppUser).filter(AppUser.username == login).first()
    if user is None:
        if kind == PHYSICIAN:
            raise LoginRefused(_("This ID number is not registered in the system, please "
                                 "contact your medical institution"))
        raise LoginRefused(_("Wrong account or password"))
    is_physician = _has_role(user, roles.PHYSICIAN)
    if is_physician != (kind == PHYSICIAN):
        raise LoginRefused(_("Wrong account or password") if kind == STAFF
                           else _("Please use the institution login"))
    return user


def authenticate(kind, login, password, now=None):
    """Check the credentials; count failures and lock the account after too many."""
    now = now or datetime.datetime.now()
    user = find_login_user(kind, login)
    if not user.active:
        raise LoginRefused(_("The account is disabled, please contact the administrator above"))
    if user.locked_until and user.locked_until > now:
        raise LoginRefused(_(
            "Too many wrong passwords: the account is locked. Try again after %(time)s or ask "
            "the administrator above to reset the password",
            time=f"{user.locked_until:%H:%M}"))
    if not password or not user.password or not check_password_hash(user.password, password):
        limit = current_app.config["LOGIN_MAX_FAILURES"]
        user.fail_login_count = (user.fail_login_count or 0) + 1
        if user.fail_login_count >= limit:
            minutes = current_app.config["LOGIN_LOCK_MINUTES"]
            user.locked_until = now + datetime.timedelta(minutes=minutes)
            user.fail_login_count = 0
            db.session.commit()
            raise LoginRefused(_("Too many wrong passwords: the account is locked for "
                                 "%(minutes)s minutes", minutes=minutes))
        db.session.commit()
        raise LoginRefused(_("Wrong account or password, %(left)s attempts left",
                             left=limit - user.fail_login_count))
    user.fail_login_count = 0
    user.locked_until = None
    user.last_login = now
    user.login_count = (user.login_count or 0) + 1
    db.session.commit()
    return user


def _check_new_password(user, old_password, new_password, confirm):
    if not check_password_hash(user.password or "", old_password or ""):
        raise AccountError(_("The current password is wrong"))
    if new_password != confirm:
        raise AccountError(_("The two new passwords differ"))
    problem = complexity_error(new_password)
    if problem:
        raise AccountError(problem)
    if new_password == old_password:
        raise AccountError(_("The new password must differ from the current one"))


def change_password_and_bind_mobile(user, old_password, new_password, confirm, mobile, code):
    """The first login's one page (修改密码，绑定手机): both or neither. The password is checked
    first, so that a refused password does not use the SMS code up."""
    _check_new_password(user, old_password, new_password, confirm)
    _bind(user, mobile, code)
    user.password = hash_password(new_password)
    user.must_change_password = False
    db.session.commit()
    _end_sessions(user)


def change_password(user, old_password, new_password, confirm):
    _check_new_password(user, old_password, new_password, confirm)
    user.password = hash_password(new_password)
    user.must_change_password = False
    db.session.commit()
    _end_sessions(user)


def _end_sessions(user):
    """A changed or reset password ends every session of the account: whoever held one (or a
    copy of its cookie) logs in again."""
    from security import session_rules

    session_rules.end_all(user.id)


def reset_password(user):
    """Back to the initial password with a forced change; a physician's phone is unbound too.
    Every session of the account ends."""
    _end_sessions(user)
    user.password = initial_password_hash()
    user.must_change_password = True
    user.fail_login_count = 0
    user.locked_until = None
    if _has_role(user, roles.PHYSICIAN):
        user.mobile = None
        user.mobile_bound_at = None


def needs_mobile(user):
    return _has_role(user, roles.PHYSICIAN) and not user.mobile_bound_at


def send_mobile_code(user, mobile):
    if not valid_mobile(mobile):
        raise AccountError(_("Please enter a valid 11-digit mobile number"))
    _check_not_bound_elsewhere(user, mobile)
    try:
        sms.send_code(mobile.strip(), "bind", user_id=user.id)
    except sms.SmsError as error:
        raise AccountError(str(error)) from None


def _check_not_bound_elsewhere(user, mobile):
    """A bound number logs in (security.recovery): it belongs to one account only."""
    taken = db.session.query(AppUser.id).filter(
        AppUser.mobile == mobile.strip(), AppUser.mobile_bound_at.isnot(None),
        AppUser.id != user.id).first()
    if taken:
        raise AccountError(_("This mobile number is bound to another account, please use "
                             "another one"))


def bind_mobile(user, mobile, code):
    _bind(user, mobile, code)
    db.session.commit()


def _bind(user, mobile, code):
    """Bind ``mobile`` with its SMS code (checked, used up); the caller commits."""
    if not valid_mobile(mobile):
        raise AccountError(_("Please enter a valid 11-digit mobile number"))
    _check_not_bound_elsewhere(user, mobile)
    try:
        sms.consume_code(mobile.strip(), "bind", code, user_id=user.id)
    except sms.SmsError as error:
        db.session.rollback()
        raise AccountError(str(error)) from None
    user.mobile = mobile.strip()
    user.mobile_bound_at = datetime.datetime.now()


def create_account(username, role_names, *, name=None, password=None, password_hash=None,
                   must_change=True, administration=None, institution=None, physician=None):
    """Create a login. Without ``password`` it gets the initial one (666666), to be changed."""
    from flask_appbuilder.security.sqla.models import Role

    found = db.session.query(Role).filter(Role.name.in_(role_names)).all()
    if len(found) != len(set(role_names)):
        raise AccountError(_("Unknown roles: %(roles)s",
                             roles=set(role_names) - {r.name for r in found}))
    user = AppUser(
        username=username,
        first_name=name or username,
        last_name="",
        email=f"{username.lower()}@accounts.invalid",
        active=True,
        password=password_hash
        or (hash_password(password) if password else initial_password_hash()),
        must_change_password=must_change,
        administration=administration,
        institution=institution,
        physician=physician,
    )
    user.roles = found
    db.session.add(user)
    return user

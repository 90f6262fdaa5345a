"""FAB's security manager, extended through its own extension points: our user model, our
login view, the builtin roles of ``security.roles``, server-side sessions, and no token login."""
from flask import current_app, g, has_request_context, request
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_login import current_user
from sqlalchemy import select

from models.account import AppUser
from security import session_rules
from security.views import AccountView, DingkaoAuthView


def _account_tried():
    """The account a login form names (ID number or username, as the login reads it)."""
    name = (request.form.get("username") or "").strip().upper()
    return f"account:{name}" if name else ""


class NoTokenLogin(BaseApi):
    """In place of FAB's security API (/api/v1/security/login and /refresh): nothing here.

    That API hands out JWTs past the captcha, the rate limit and the lockout of the login page,
    and nothing of ours uses it: the read-only JSON API (views.api) is read with the browser's
    session. A route-less blueprint under the same name answers 404."""

    resource_name = "security"
    version = "v1"


def _user_with_roles():
    """One account with its roles and groups, in one query of plain outer joins from the
    account's key. (SQLAlchemy's joined load of a many-to-many nests each link table's join in
    parentheses, which SQLite materialises whole — 330,000 physicians' rows, ~100-400 ms a
    request — before picking one user's; separate loads cost two more queries a request.)"""
    from sqlalchemy import bindparam
    from sqlalchemy.orm import contains_eager

    user_roles = AppUser.roles.property.secondary
    user_groups = AppUser.groups.property.secondary
    role = AppUser.roles.property.mapper.class_
    group = AppUser.groups.property.mapper.class_
    return (select(AppUser)
            .outerjoin(user_roles, user_roles.c.user_id == AppUser.id)
            .outerjoin(role, role.id == user_roles.c.role_id)
            .outerjoin(user_groups, user_groups.c.user_id == AppUser.id)
            .outerjoin(group, group.id == user_groups.c.group_id)
            .where(AppUser.id == bindparam("pk"))
            .options(contains_eager(AppUser.roles), contains_eager(AppUser.groups)))


_USER_WITH_ROLES = _user_with_roles()


class DingkaoSecurityManager(SecurityManager):
    user_model = AppUser
    authdbview = DingkaoAuthView
    security_api = NoTokenLogin

    def register_views(self):
        super().register_views()
        self.appbuilder.add_view_no_menu(AccountView)
        if self.is_auth_limited:
            # FAB limits the login per address; this adds the limit per account tried.
            self.limiter.limit(current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"], methods=["POST"],
                               key_func=_account_tried, exempt_when=lambda: not _account_tried(),
                               scope="login-account")(self.auth_view.blueprint)
        self._register_password_reset()

    def _register_password_reset(self):
        """忘记密码 (security.recovery): its POSTs limited per address and per account tried."""
        from security import recovery

        view = self.appbuilder.add_view_no_menu(recovery.PasswordResetView)
        if self.is_auth_limited:
            config = current_app.config
            self.limiter.limit(lambda: config["PASSWORD_RESET_RATE_LIMIT"], methods=["POST"],
                               scope="reset-address")(view.blueprint)
            self.limiter.limit(lambda: config["PASSWORD_RESET_ACCOUNT_RATE_LIMIT"],
                               methods=["POST"], key_func=recovery.login_tried,
                               exempt_when=lambda: not recovery.login_tried(),
                               scope="reset-account")(view.blueprint)

    def load_user(self, pk):
        """The account of the session cookie, only while its server-side session is live;
        with its roles and groups loaded at once (every request asks for them), in the same
        query (_USER_WITH_ROLES)."""
        if not session_rules.is_live(int(pk)):
            session_rules.refuse_ended_session()
            return None
        user = self.session.scalars(_USER_WITH_ROLES, {"pk": int(pk)}).unique().one_or_none()
        return user if user is not None and user.is_active else None

    def has_access(self, permission_name, view_name):
        """FAB's answer, kept for the rest of the request (a list page asks the same few
        questions a dozen times: 查看, 编辑, 删除, each action), for the user it was given for."""
        if not has_request_context():
            return super().has_access(permission_name, view_name)
        user = current_user._get_current_object()
        kept = g.get("_dk_access")
        if kept is None or kept[0] is not user:
            kept = g._dk_access = (user, {})
        key = (permission_name, view_name)
        if key not in kept[1]:
            kept[1][key] = super().has_access(permission_name, view_name)
        return kept[1][key]

    def reset_password(self, userid, password):
        """FAB's own password reset (系统管理员, user list) ends the account's sessions too."""
        super().reset_password(userid, password)
        session_rules.end_all(userid)

"""FAB's security manager, extended through its own extension points: our user model, our
login view, the builtin roles of ``security.roles``, server-side sessions, and no token login."""
from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.sqla.manager import SecurityManager

from models.account import AppUser
from security import session_rules
from security.views import AccountView, DingkaoAuthView


class NoTokenLogin(BaseApi):
    """In place of FAB's security API (/api/v1/security/login and /refresh): nothing here.

    That API hands out JWTs past the captcha, the rate limit and the lockout of the login page,
    and nothing of ours uses it: the read-only JSON API (views.api) is read with the browser's
    session. A route-less blueprint under the same name answers 404."""

    resource_name = "security"
    version = "v1"


class DingkaoSecurityManager(SecurityManager):
    user_model = AppUser
    authdbview = DingkaoAuthView
    security_api = NoTokenLogin

    def register_views(self):
        super().register_views()
        self.appbuilder.add_view_no_menu(AccountView)

    def load_user(self, pk):
        """The account of the session cookie, only while its server-side session is live."""
        user = super().load_user(pk)
        if user is None:
            return None
        if not session_rules.is_live(user.id):
            session_rules.refuse_ended_session()
            return None
        return user

    def reset_password(self, userid, password):
        """FAB's own password reset (系统管理员, user list) ends the account's sessions too."""
        super().reset_password(userid, password)
        session_rules.end_all(userid)

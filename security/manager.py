"""FAB's security manager, extended through its own extension points: our user model, our
login view, and the builtin roles of ``security.roles``."""
from flask_appbuilder.security.sqla.manager import SecurityManager

from models.account import AppUser
from security.views import AccountView, DingkaoAuthView


class DingkaoSecurityManager(SecurityManager):
    user_model = AppUser
    authdbview = DingkaoAuthView

    def register_views(self):
        super().register_views()
        self.appbuilder.add_view_no_menu(AccountView)

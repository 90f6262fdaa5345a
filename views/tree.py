"""管辖关系导入: a province (or the system administrator setting one up) downloads the template,
fills in its administrations and institutions, uploads it and reads the per-row result and the
accounts made (initial password 666666). The rules are in ``models.tree_import``."""
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from views.base import import_page, xlsx_download


class TreeImportView(BaseView):
    route_base = "/tree/import"
    default_view = "upload"

    @expose("/template.xlsx")
    @has_access
    def template(self):
        from models import tree_import

        return xlsx_download(tree_import.template_bytes(), _("Jurisdiction import template")
                             + ".xlsx")

    @expose("/", methods=["GET", "POST"])
    @has_access
    def upload(self):
        from commands import tree

        return import_page(self, "tree/import.html", tree.import_tree)


def register(appbuilder):
    appbuilder.add_view(TreeImportView, "TreeImportView", label=_l("Import jurisdiction"),
                        icon="fa-upload", category="Administration",
                        category_label=_l("Administration"))

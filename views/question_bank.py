"""题库导入 / 导出 for the province: download the template, upload it filled in and read every
rejected row with all of its reasons, export the bank in the same columns. The rows are checked
in ``models.question_import``; the import is the command ``commands.question_bank``."""
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models import Question
from models import question_import
from security import scope
from views.base import import_page, xlsx_download


class QuestionImportView(BaseView):
    route_base = "/questions/import"
    default_view = "upload"

    @expose("/template.xlsx")
    @has_access
    def template(self):
        return xlsx_download(question_import.template_bytes(),
                             _("Question import template") + ".xlsx")

    @expose("/", methods=["GET", "POST"])
    @has_access
    def upload(self):
        from commands import question_bank

        return import_page(self, "exam/question_import.html", question_bank.import_questions,
                           max_rows=question_import.MAX_ROWS)

    @expose("/export.xlsx")
    @has_access
    def export(self):
        """The bank as the actor reads it, oldest question first."""
        questions = scope.restrict(db.session.query(Question), Question).order_by(Question.id)
        return xlsx_download(question_import.export_bytes(questions.yield_per(500)),
                             _("Question bank") + ".xlsx")


def register(appbuilder):
    appbuilder.add_view(QuestionImportView, "QuestionImportView",
                        label=_l("Question bank import"), icon="fa-upload", category="Exams")

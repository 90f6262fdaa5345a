"""题库导入 / 导出 for the province: download the template, upload it filled in and read every
rejected row with all of its reasons, export the bank in the same columns. The rows are checked
in ``models.question_import``; the import is the command ``commands.question_bank``."""
from urllib.parse import quote

from flask import make_response, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from models import Question
from models import question_import
from security import scope
from views.base import attempt


def _xlsx(data, name):
    response = make_response(data)
    response.headers["Content-Type"] = question_import.XLSX_TYPE
    response.headers["Content-Disposition"] = (
        f"attachment; filename*=UTF-8''{quote(name + '.xlsx')}")
    return response


class QuestionImportView(BaseView):
    route_base = "/questions/import"
    default_view = "upload"

    @expose("/template.xlsx")
    @has_access
    def template(self):
        return _xlsx(question_import.template_bytes(), _("Question import template"))

    @expose("/", methods=["GET", "POST"])
    @has_access
    def upload(self):
        from commands import question_bank

        result, error = None, None
        if request.method == "POST":
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                error = _("Please choose the file to import")
            else:
                result, error = attempt(lambda: question_bank.import_questions(
                    scope.current_actor(), upload.read(question_import.MAX_BYTES + 1)))
        return self.render_template("exam/question_import.html", result=result, error=error,
                                    max_rows=question_import.MAX_ROWS), (400 if error else 200)

    @expose("/export.xlsx")
    @has_access
    def export(self):
        """The bank as the actor reads it, oldest question first."""
        questions = scope.restrict(db.session.query(Question), Question).order_by(Question.id)
        return _xlsx(question_import.export_bytes(questions.yield_per(500)),
                     _("Question bank"))


def register(appbuilder):
    appbuilder.add_view(QuestionImportView, "QuestionImportView",
                        label=_l("Question bank import"), icon="fa-upload", category="Exams")

"""考核结果 and certificates: 历史考核结果查询 with 打印 / 批量打印 / 导出 and 撤销 for staff,
the PDF itself (for the physician too), the batch job's progress page, and the public
verification page the certificate's QR code opens (no login, rate limited)."""
import tempfile

from flask import abort, current_app, flash, g, make_response, redirect, request, send_file, \
    url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from commands import certificate as certifying
from models import Certificate, Cycle, Department, Enrollment
from models import certificate as results
from models.certificate_pdf import render
from models.enrollment import PROCEDURE
from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY
from security import scope
from models.reports import HISTORY
from views.base import attempt
from views.exports import start_export

PAGE_SIZE = 20


def _base_url():
    """Where the QR code points: CERTIFICATE_VERIFY_BASE_URL (the public address behind a
    proxy), else the address this request came to."""
    return current_app.config.get("CERTIFICATE_VERIFY_BASE_URL") or request.url_root


def _back():
    from flask_appbuilder.utils.base import get_safe_redirect

    if scope.current_actor().kind == scope.PHYSICIAN:
        return redirect(url_for("SelfServiceView.results"))
    return redirect(get_safe_redirect(request.referrer or "") if request.referrer
                    else url_for("CertificateView.index"))


class CertificateView(BaseView):
    route_base = "/certificates"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        """历史考核结果查询: results of every cycle, filtered, with 打印 per row and in batch."""
        actor = scope.current_actor()
        if actor.kind == scope.PHYSICIAN:
            return redirect(url_for("SelfServiceView.results"))
        filters = results.result_filters(request.args)
        query = results.results_query(actor, filters)
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        try:
            page = max(int(request.args.get("page", 1)), 1)
        except ValueError:
            page = 1
        rows = db.session.scalars(query.order_by(Enrollment.cycle_id.desc(), Enrollment.id)
                                  .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
        certificates = {c.enrollment_id: c for c in db.session.scalars(select(Certificate).where(
            Certificate.enrollment_id.in_([e.id for e in rows])))} if rows else {}
        departments = []
        if actor.kind == scope.INSTITUTION:
            departments = db.session.scalars(select(Department).where(
                Department.institution_id == actor.institution_id).order_by(Department.name)).all()
        return self.render_template(
            "certificate/index.html", rows=rows, certificates=certificates, filters=filters,
            total=total, page=page, pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
            cycles=db.session.scalars(select(Cycle).order_by(Cycle.start_date.desc())).all(),
            departments=departments, categories=PRACTICE_CATEGORY.options(),
            levels=PHYSICIAN_LEVEL.options(), procedures=PROCEDURE.options(),
            result_choices=[("passed", _("Passed")), ("failed", _("Failed")),
                            ("pending", _("Awaiting make-up"))],
            is_administration=actor.kind == scope.ADMINISTRATION, filter_keys=HISTORY.keys)

    @expose("/export", methods=["POST"])
    @has_access
    def export(self):
        """导出: the list as filtered now, written by a worker (导出记录 shows its progress)."""
        return start_export(self, HISTORY.name, words=results.filters_in_words)

    @expose("/print", methods=["POST"])
    @has_access
    def print(self):
        """打印 / 下载 one: issue it (the first time) and open its PDF."""
        certificate, error = attempt(lambda: certifying.issue(
            scope.current_actor(), request.form.get("enrollment_id")))
        if error is not None:
            flash(error, "danger")
            return _back()
        return redirect(url_for(".pdf", certificate_id=certificate.id,
                                download=1 if request.form.get("download") else None))

    @expose("/<int:certificate_id>/pdf")
    @has_access
    def pdf(self, certificate_id):
        certificate, error = attempt(lambda: certifying.printable(scope.current_actor(),
                                                                  certificate_id))
        data = None
        if error is None:
            data, error = attempt(lambda: render([certificate], _base_url()))
        if error is not None:
            flash(error, "danger")
            return _back()
        response = make_response(data)
        response.headers["Content-Type"] = "application/pdf"
        disposition = "attachment" if request.args.get("download") else "inline"
        response.headers["Content-Disposition"] = \
            f"{disposition}; filename={certificate.number}.pdf"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/batch", methods=["POST"])
    @has_access
    def batch(self):
        """批量打印: the selected rows, or every 合格 physician of a department; the PDF is made by
        a worker and offered on the job's page to the person who asked only."""
        return print_batch(request.form.getlist("rowid"), request.form.get("department_id"))

    @expose("/jobs/<job_id>")
    @has_access
    def job(self, job_id):
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        from app import jobs

        try:
            job = Job.fetch(job_id, connection=jobs.connection())
        except (NoSuchJobError, ValueError):
            abort(404)
        if job.meta.get("user_id") != g.user.id:
            abort(404)  # another user's batch is not found, like any record out of scope
        status = job.get_status()
        return self.render_template("certificate/job.html", job=job, status=str(status),
                                    done=job.meta.get("done", 0), total=job.meta.get("total", 0),
                                    file_id=job.meta.get("file_id"), error=job.meta.get("error"),
                                    failed=status in ("failed", "stopped", "canceled"))

    @expose("/<int:certificate_id>/revoke", methods=["GET", "POST"])
    @has_access
    def revoke(self, certificate_id):
        """撤销 by the administration, with a reason."""
        actor = scope.current_actor()
        certificate = scope.require(actor, scope.DECIDE, Certificate, certificate_id)
        error = None
        if request.method == "POST":
            _result, error = attempt(lambda: certifying.revoke(actor, certificate.id,
                                                               request.form.get("reason")))
            if error is None:
                flash(_("The certificate %(number)s has been revoked",
                        number=certificate.number), "success")
                return redirect(url_for(".index"))
        return self.render_template("certificate/revoke.html", certificate=certificate,
                                    error=error), (400 if error else 200)


class VerifyView(BaseView):
    """证书核验: public, found by the random code of the QR only."""

    route_base = "/verify"

    @expose("/<path:code>")
    def show(self, code):
        if not results.well_formed_code(code):
            return self._page(None, _("This is not a valid verification code: please scan the "
                                      "QR code on the certificate again"), 400)
        certificate = db.session.scalars(select(Certificate).where(
            Certificate.code == code)).first()
        if certificate is None:
            return self._page(None, _("No certificate has this verification code: the "
                                      "certificate may be forged or altered"), 404)
        return self._page(certificate, None, 200)

    def _page(self, certificate, error, status):
        response = make_response(self.render_template(
            "certificate/verify.html", certificate=certificate, error=error), status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Robots-Tag"] = "noindex"
        return response


def print_batch(enrollment_ids, department_id=None):
    """Issue the certificates of these enrollments (or of a department's 合格 physicians) and
    queue their PDF; the job's page, for the person who asked only. Also 报名进度's and
    测评进度's 打印证书."""
    from app import jobs

    actor = scope.current_actor()

    def issue_all():
        ids = certifying.batch_enrollments(actor, enrollment_ids, department_id)
        return certifying.issue_batch(actor, ids)

    certificate_ids, error = attempt(issue_all)
    if error is not None:
        flash(error, "danger")
        return _back()
    job = jobs.enqueue(jobs.print_certificates, g.user.id, certificate_ids, _base_url(),
                       str(get_locale()), meta={"user_id": g.user.id, "done": 0,
                                                "total": len(certificate_ids)})
    return redirect(url_for("CertificateView.job", job_id=job.id))


def register(appbuilder):
    appbuilder.add_view(CertificateView, "CertificateView",
                        label=_l("Historical assessment results"), icon="fa-certificate",
                        category="Assessment", category_label=_l("Assessment management"))
    verify = appbuilder.add_view_no_menu(VerifyView)

    def too_many(_limit):
        return verify._page(None, _("Too many verifications from your address, please try "
                                    "again in a minute"), 429)

    # Limited like the login, by FAB's own limiter: VERIFY_RATE_LIMIT requests per address.
    appbuilder.sm.limiter.limit(lambda: current_app.config["VERIFY_RATE_LIMIT"],
                                on_breach=too_many)(verify.blueprint)

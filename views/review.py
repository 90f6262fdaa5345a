"""考核管理 → 程序审核 / 复核: the review list (简易 and 一般 separately), the submission page by
page with attachments, eligibility and what changed, ratings and decisions, batch review.
Rules are in ``models.review``; records come through ``security.scope``."""
from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.extensions import db
from models import Enrollment, Institution, Physician, StoredFile
from models import enrollment_form as ef
from models import review
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import DECISION, PROCEDURE, RATING, REVIEW_STAGE
from security import scope
from views.home import current_cycle

FILE_PURPOSES = {"photo_thumb": _l("Photo"), "licence": _l("Practice certificate"),
                 "simple_proof": _l("Simple procedure proof"),
                 "exemption_proof": _l("Exemption proof")}


class _Labels:
    """Display names for the review history (the records keep English constants)."""

    stage = staticmethod(REVIEW_STAGE.label)
    decision = staticmethod(DECISION.label)
    rating = staticmethod(RATING.label)


INSTITUTION_STAGE = (S.PENDING_INSTITUTION_REVIEW, S.RETURNED_BY_ASSESSMENT)
ASSESSMENT_STAGE = (S.PENDING_ASSESSMENT_REVIEW,)


class ReviewView(BaseView):
    route_base = "/review"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        institution = scope.acting_institution()
        stage = request.args.get("stage", "institution")
        procedure = request.args.get("procedure")
        if (procedure is not None and procedure not in PROCEDURE) or stage not in (
                "institution", "assessment"):
            abort(404)
        if stage == "assessment" and not institution.is_assessment:
            abort(403)
        try:
            if stage == "institution":
                review.require_assessment_institution(institution)
            refusal = None
        except review.ReviewRefused as refused:
            refusal = str(refused)
        cycle = current_cycle()
        waiting = scope.restrict(db.session.query(Enrollment), Enrollment).filter(
            Enrollment.cycle_id == (cycle.id if cycle else -1))
        if stage == "institution":
            waiting = waiting.filter(Enrollment.institution_id == institution.id,
                                     Enrollment.state.in_(INSTITUTION_STAGE))
        else:
            waiting = waiting.filter(
                Enrollment.institution_id.in_(select(Institution.id).where(
                    Institution.assessment_institution_id == institution.id)),
                Enrollment.state.in_(ASSESSMENT_STAGE))
        if procedure is None:
            # Reached from 去处理: open the tab that has work waiting, 一般 first.
            has_general = waiting.filter(Enrollment.procedure == PROCEDURE.GENERAL).first()
            procedure = PROCEDURE.GENERAL if has_general or not waiting.first() else \
                PROCEDURE.SIMPLE
        query = waiting.filter(Enrollment.procedure == procedure)
        rows = query.options(
            joinedload(Enrollment.physician).joinedload(Physician.department),
            joinedload(Enrollment.institution),
        ).order_by(Enrollment.submitted_at).limit(500).all()
        return self.render_template("review/list.html", rows=rows, stage=stage,
                                    procedure=procedure, procedures=PROCEDURE.options(),
                                    refusal=refusal, ratings=RATING.options())

    @expose("/<int:pk>")
    @has_access
    def detail(self, pk, error=None, status=200):
        institution = scope.acting_institution()
        enrollment = scope.get_or_404(Enrollment, pk)
        versions = sorted(enrollment.submissions, key=lambda s: s.version)
        files = db.session.query(StoredFile).filter(
            StoredFile.physician_id == enrollment.physician_id,
            StoredFile.purpose.in_(("licence", "simple_proof", "photo_thumb"))).all()
        stage = ("institution" if enrollment.institution_id == institution.id
                 and enrollment.state in INSTITUTION_STAGE else
                 "assessment" if enrollment.state in ASSESSMENT_STAGE
                 and enrollment.institution.assessment_institution_id == institution.id
                 else None)
        return self.render_template(
            "review/detail.html", enrollment=enrollment,
            sections=versions[-1].data if versions else ef.snapshot(enrollment),
            changes=ef.latest_changes(enrollment), files=files, stage=stage, error=error,
            eligibility=ef.eligibility(enrollment.physician, enrollment),
            ratings=RATING.options(), reviews=sorted(enrollment.reviews, key=lambda r: r.id),
            purposes=FILE_PURPOSES, labels=_Labels,
        ), status

    def _decide(self, pk, action, then=None):
        """Run a review command on one scoped enrollment; on refusal show the page again."""
        institution = scope.acting_institution()
        enrollment = scope.get_or_404(Enrollment, pk)
        try:
            action(institution, enrollment)
        except review.ReviewRefused as refused:
            db.session.rollback()
            return self.detail(pk, error=str(refused), status=400)
        db.session.commit()
        if then is not None:
            return redirect(then)
        flash(_("Done"), "success")
        return redirect(url_for(".index", stage=request.form.get("stage", "institution"),
                                procedure=enrollment.procedure))

    @expose("/<int:pk>/opinion", methods=["POST"])
    @has_access
    @permission_name("institution")
    def opinion(self, pk):
        return self._decide(pk, lambda institution, enrollment: review.add_opinion(
            enrollment, institution, request.form.get("institution_name"),
            request.form.get("opinion")), then=url_for(".detail", pk=pk))

    @expose("/<int:pk>/institution", methods=["POST"])
    @has_access
    def institution(self, pk):
        form = request.form
        return self._decide(pk, lambda institution, enrollment: review.review_by_institution(
            enrollment, institution, form.get("decision") == "approve",
            work=form.get("work_rating"), ethics=form.get("ethics_rating"),
            work_comment=form.get("work_comment"), ethics_comment=form.get("ethics_comment"),
            reason=form.get("reason"), user=g.user))

    @expose("/<int:pk>/assessment", methods=["POST"])
    @has_access
    def assessment(self, pk):
        form = request.form
        return self._decide(pk, lambda institution, enrollment: review.review_by_assessment(
            enrollment, institution, form.get("decision") == "approve",
            reason=form.get("reason"), user=g.user))

    @expose("/batch", methods=["POST"])
    @has_access
    @permission_name("institution")
    def batch(self):
        """Several physicians, the same ratings, 提交 together; all or nothing."""
        institution = scope.acting_institution()
        ids = request.form.getlist("rowid", type=int)
        if not ids:
            flash(_("Please choose physicians"), "warning")
            return redirect(url_for(".index"))
        enrollments = [scope.get_or_404(Enrollment, pk) for pk in ids]
        try:
            for enrollment in enrollments:
                review.review_by_institution(
                    enrollment, institution, True, work=request.form.get("work_rating"),
                    ethics=request.form.get("ethics_rating"), user=g.user)
        except review.ReviewRefused as refused:
            db.session.rollback()
            flash(str(refused), "danger")
        else:
            db.session.commit()
            flash(_("Review opinions of %(count)s physicians submitted",
                    count=len(enrollments)), "success")
        return redirect(url_for(".index", procedure=request.form.get("procedure", "general")))


def register(appbuilder):
    appbuilder.add_view(ReviewView, "ReviewView", label=_l("Procedure review"),
                        icon="fa-check-square", category="Assessment",
                        category_label=_l("Assessment management"))

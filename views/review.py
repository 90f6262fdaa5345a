"""考核管理 → 程序审核 / 复核: the review list (简易 and 一般 separately), the submission page by
page with attachments, eligibility and what changed, ratings and decisions, batch review.
Rules are in ``models.review``; records come through ``security.scope``."""
from collections import namedtuple

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from commands import review as reviewing
from models import Cycle, Department, Enrollment, Institution, Physician, StoredFile
from models import enrollment_form as ef
from models import review, workflow
from models.enrollment import DECISION, ENROLLMENT_STATE, PROCEDURE, RATING, REVIEW_STAGE
from security import scope
from security.idcard import mask
from views.base import attempt

FILE_PURPOSES = {"photo_thumb": _l("Photo"), "licence": _l("Practice certificate"),
                 "simple_proof": _l("Simple procedure proof"),
                 "exemption_proof": _l("Exemption proof")}


class _Labels:
    """Display names for the review history (the records keep English constants)."""

    stage = staticmethod(REVIEW_STAGE.label)
    decision = staticmethod(DECISION.label)
    rating = staticmethod(RATING.label)


# Rows per page of the review list: every waiting physician is reachable page by page.
REVIEW_PAGE_SIZE = 100


ReviewRow = namedtuple("ReviewRow", "id name masked_id_number institution department "
                                    "state_label simple_condition submitted_at")


def _review_rows(ids):
    """The review list's rows for the enrollments ``ids``, in that order: only the columns it
    shows, read in one joined SELECT, with no ORM objects for the page's (up to 100)
    enrollments, physicians, departments and institutions."""
    if not ids:
        return []
    found = {row.id: row for row in db.session.execute(
        select(Enrollment.id, Physician.name, Physician.id_number,
               Institution.name.label("institution"), Department.name.label("department"),
               Enrollment.state, Enrollment.simple_condition, Enrollment.submitted_at)
        .join(Physician, Physician.id == Enrollment.physician_id)
        .join(Institution, Institution.id == Enrollment.institution_id)
        .outerjoin(Department, Department.id == Physician.department_id)
        .where(Enrollment.id.in_(ids)))}
    labels = {}  # a page has a few states: each translated once

    def state_label(state):
        if state not in labels:
            labels[state] = ENROLLMENT_STATE.label(state)
        return labels[state]

    return [ReviewRow(row.id, row.name, mask(row.id_number), row.institution,
                      row.department or "", state_label(row.state), row.simple_condition,
                      row.submitted_at) for row in (found[pk] for pk in ids if pk in found)]


# The review's pages (002 2.2.7, 000 §12-17): which sections of the submission and which of the
# physician's files each shows. Sections are read by position: a stored submission keeps the
# section names in the language it was submitted in.
REVIEW_STEPS = {1: _l("Personal information"), 2: _l("Practice information"),
                3: _l("Work performance and professional ethics")}
STEP_SECTIONS = {1: (0,), 2: (1, 2), 3: (3, 4)}
STEP_FILES = {1: ("photo_thumb",), 2: ("licence",), 3: ("simple_proof",)}


def _step(value):
    try:
        return min(max(int(value or 1), 1), len(REVIEW_STEPS))
    except ValueError:
        return 1


INSTITUTION_STAGE = workflow.INSTITUTION_STAGE
ASSESSMENT_STAGE = workflow.ASSESSMENT_STAGE


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
        cycle = Cycle.current()
        actor = scope.current_actor()
        if stage == "institution":
            waiting = scope.restrict(db.session.query(Enrollment), Enrollment, actor,
                                     scope.REVIEW).filter(Enrollment.state.in_(INSTITUTION_STAGE))
        else:
            waiting = scope.restrict(db.session.query(Enrollment), Enrollment, actor,
                                     scope.REREVIEW).filter(Enrollment.state.in_(ASSESSMENT_STAGE))
        waiting = waiting.filter(Enrollment.cycle_id == (cycle.id if cycle else -1))
        if procedure is None:
            # Reached from 去处理: open the tab that has work waiting, 一般 first.
            has_general = waiting.filter(Enrollment.procedure == PROCEDURE.GENERAL).first()
            procedure = PROCEDURE.GENERAL if has_general or not waiting.first() else \
                PROCEDURE.SIMPLE
        query = waiting.filter(Enrollment.procedure == procedure)
        total = query.count()
        pages = max(1, -(-total // REVIEW_PAGE_SIZE))
        try:
            page = min(max(int(request.args.get("page", 1)), 1), pages)
        except ValueError:
            page = 1
        # An empty tab reads no rows: PostgreSQL would sort the province's waiting rows of the
        # procedure before finding none of them is this institution's (46 ms at 330,000).
        ids = [pk for (pk,) in query.with_entities(Enrollment.id).order_by(
            Enrollment.submitted_at, Enrollment.id).offset(
            (page - 1) * REVIEW_PAGE_SIZE).limit(REVIEW_PAGE_SIZE)] if total else []
        rows = _review_rows(ids)
        return self.render_template("review/list.html", rows=rows, stage=stage,
                                    procedure=procedure, procedures=PROCEDURE.options(),
                                    refusal=refusal, ratings=RATING.options(), total=total,
                                    page=page, pages=pages,
                                    simple_reasons=ef.SIMPLE_CONDITIONS)

    @expose("/<int:pk>")
    @has_access
    def detail(self, pk, error=None, status=200):
        """The submission page by page as in 002 2.2.7: 个人信息 → 执业信息 → 工作成绩、职业道德,
        【下一步】/【上一步】 between them, 驳回 on each, the ratings and 提交 on the last."""
        scope.acting_institution()
        enrollment = scope.get_or_404(Enrollment, pk)
        step = _step(request.values.get("step"))
        versions = sorted(enrollment.submissions, key=lambda s: s.version)
        files = db.session.query(StoredFile).filter(
            StoredFile.physician_id == enrollment.physician_id,
            StoredFile.purpose.in_(("licence", "simple_proof", "photo_thumb"))).all()
        actor = scope.current_actor()
        stage = ("institution" if enrollment.state in INSTITUTION_STAGE
                 and scope.condition_holds(actor, scope.REVIEW, Enrollment, pk) else
                 "assessment" if enrollment.state in ASSESSMENT_STAGE
                 and scope.condition_holds(actor, scope.REREVIEW, Enrollment, pk)
                 else None)
        sections = list((versions[-1].data if versions else ef.snapshot(enrollment)).items())
        # 修改对比 of the pictures: each changed kind with its files before and after (those the
        # reviewer may open; a file deleted since is left out).
        image_changes = ef.image_changes(enrollment)
        shown = {i for _label, before, after in image_changes for i in before + after}
        readable = {f.id: f for f in scope.restrict(db.session.query(StoredFile), StoredFile)
                    .filter(StoredFile.id.in_(shown))} if shown else {}
        image_changes = [(label, [readable[i] for i in before if i in readable],
                          [readable[i] for i in after if i in readable])
                         for label, before, after in image_changes]
        return self.render_template(
            "review/detail.html", enrollment=enrollment, step=step, steps=REVIEW_STEPS,
            sections=[sections[i] for i in STEP_SECTIONS[step] if i < len(sections)],
            changes=ef.latest_changes(enrollment), stage=stage, error=error,
            image_changes=image_changes,
            # The physician's photo as it is now (older ones show in 修改对比 only).
            files=[f for f in files if f.purpose in STEP_FILES[step] and (
                f.purpose != "photo_thumb" or f.id == enrollment.physician.photo_thumb_id)],
            eligibility=ef.eligibility(enrollment.physician, enrollment),
            simple_reason=ef.SIMPLE_CONDITIONS.get(enrollment.simple_condition or ""),
            ratings=RATING.options(), reviews=sorted(enrollment.reviews, key=lambda r: r.id),
            purposes=FILE_PURPOSES, labels=_Labels,
        ), status

    def _decide(self, pk, call, then=None):
        """Run a review command on one enrollment; on refusal show the page again."""
        scope.acting_institution()
        enrollment = scope.get_or_404(Enrollment, pk)
        _result, error = attempt(lambda: call(scope.current_actor(), enrollment.id,
                                              request.form))
        if error is not None:
            return self.detail(pk, error=error, status=400)
        if then is not None:
            return redirect(then)
        flash(_("Done"), "success")
        return redirect(url_for(".index", stage=request.form.get("stage", "institution"),
                                procedure=enrollment.procedure))

    @expose("/<int:pk>/opinion", methods=["POST"])
    @has_access
    @permission_name("institution")
    def opinion(self, pk):
        return self._decide(pk, lambda actor, pk, form: reviewing.add_opinion(
            actor, pk, form.get("institution_name"), form.get("opinion")),
            then=url_for(".detail", pk=pk, step=3))

    @expose("/<int:pk>/institution", methods=["POST"])
    @has_access
    def institution(self, pk):
        return self._decide(pk, lambda actor, pk, form: reviewing.review_by_institution(
            actor, pk, form.get("decision") == "approve", work=form.get("work_rating"),
            ethics=form.get("ethics_rating"), work_comment=form.get("work_comment"),
            ethics_comment=form.get("ethics_comment"), reason=form.get("reason")))

    @expose("/<int:pk>/assessment", methods=["POST"])
    @has_access
    def assessment(self, pk):
        return self._decide(pk, lambda actor, pk, form: reviewing.review_by_assessment(
            actor, pk, form.get("decision") == "approve", reason=form.get("reason")))

    @expose("/batch", methods=["POST"])
    @has_access
    @permission_name("institution")
    def batch(self):
        """Several physicians, the same ratings, 提交 together; all or nothing."""
        scope.acting_institution()
        count, error = attempt(lambda: reviewing.review_batch(
            scope.current_actor(), request.form.getlist("rowid"),
            request.form.get("work_rating"), request.form.get("ethics_rating")))
        if error is not None:
            flash(error, "danger")
        else:
            flash(_("Review opinions of %(count)s physicians submitted", count=count), "success")
        return redirect(url_for(".index", procedure=request.form.get("procedure", "general")))


def register(appbuilder):
    appbuilder.add_view(ReviewView, "ReviewView", label=_l("Procedure review"),
                        icon="fa-check-square", category="Assessment",
                        category_label=_l("Assessment management"))

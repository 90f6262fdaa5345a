"""监考管理 (manual 002 2.2.9(3)): one row per physician-attempt with the lowest and median
similarity of its snapshots, the flags counted, most suspicious first; the manual's filters
(相似度 below x %, 查看状态, paper, department); the detail with the registered photo beside
the snapshots; 【标记疑似】 (the institution), 撤销标记 (the administration above), 认定作弊 /
不认定 (the province). Scoped like everything else: another tenant's attempt is a 404."""
from urllib.parse import urlencode

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import storage
from app.extensions import db
from commands import proctoring
from models import (
    Department,
    Enrollment,
    ExamAttempt,
    FaceVerification,
    Paper,
    Physician,
    ProctorCase,
    Snapshot,
)
from models.proctoring import CASE_STATE, attempt_figures
from models.reports import PROCTORING
from security import scope
from views.base import LIST_CAP, RELATED_MATCHES
from views.base import attempt as run
from views.exports import start_export

PAGE_SIZE = 20


def rows_query(actor, args, broad=False):
    """The attempts the actor may read, filtered and ordered by their stored risk (most
    suspicious first; ``ExamAttempt.proctor_risk``, kept by commands.proctoring), with their
    case's state.

    ``broad`` (a scope with more attempts than one may page through): the reader's scope and
    the physician's filters are asked per attempt (EXISTS on its enrollment), so the database
    walks the risk index and stops after a page; otherwise the enrollments in scope lead and
    their few attempts are sorted."""
    state = func.coalesce(ProctorCase.state, CASE_STATE.CLEAR)
    query = (select(ExamAttempt, state.label("state"))
             .outerjoin(ProctorCase, ProctorCase.attempt_id == ExamAttempt.id))
    # An attempt is read by whoever reads its enrollment (scope's ExamAttempt rule), asked here
    # of its enrollment.
    conditions = [scope.condition(Enrollment, actor, scope.READ)]
    name = (args.get("name") or "").strip()
    department = (args.get("department") or "").strip()
    if department:
        # 科室 by name, as 报名进度 (a province has a 内科 in every hospital); the attempts
        # are scoped already.
        conditions.append(Physician.department_id.in_(
            select(Department.id).where(Department.name == department)))
    if name:
        conditions.append(Physician.name.contains(name))
    if broad:
        reader = select(Enrollment.id).where(Enrollment.id == ExamAttempt.enrollment_id)
        if name or department:
            reader = reader.join(Physician, Physician.id == Enrollment.physician_id)
        query = query.where(reader.where(*conditions).exists())
    else:
        query = query.join(Enrollment, Enrollment.id == ExamAttempt.enrollment_id)
        if name or department:
            # The physician is joined only to filter on them (a row's own physician is
            # loaded for the page below).
            query = query.join(Physician, Physician.id == Enrollment.physician_id)
        query = query.where(*conditions)
    below = args.get("similarity_below", "").strip()
    if below:
        try:
            percent = float(below)
        except ValueError:
            percent = None
        if percent is not None:
            query = query.where(ExamAttempt.proctor_lowest < percent / 100)
    status = args.get("status")
    if status in CASE_STATE:
        query = query.where(state == status)
    if (args.get("paper") or "").isdigit():
        query = query.where(ExamAttempt.paper_id == int(args["paper"]))
    return query.order_by(ExamAttempt.proctor_risk.desc(), ExamAttempt.id.desc())


def _page_loads(query):
    """What a row shows of its attempt (physician, department, institution, paper): loaded for
    the page at once, not one query per row."""
    enrollment = selectinload(ExamAttempt.enrollment)
    return query.options(
        enrollment.selectinload(Enrollment.physician).selectinload(Physician.department),
        enrollment.selectinload(Enrollment.institution), selectinload(ExamAttempt.paper))


def export_rows(session, id_select, labels, chunk=2000):
    """导出 of 监考管理: one row per attempt of ``id_select``, riskiest first, read in chunks
    (each chunk's figures read from its own attempts' snapshots)."""
    from sqlalchemy.orm import aliased

    from models import Institution

    department, institution = aliased(Department), aliased(Institution)
    statement = (select(
        ExamAttempt.id, Physician.name, Physician.id_number, institution.name, department.name,
        Paper.name, ExamAttempt.started_at)
        .join(Enrollment, Enrollment.id == ExamAttempt.enrollment_id)
        .join(Physician, Physician.id == Enrollment.physician_id)
        .join(institution, institution.id == Enrollment.institution_id)
        .outerjoin(department, department.id == Physician.department_id)
        .join(Paper, Paper.id == ExamAttempt.paper_id)
        .where(ExamAttempt.id.in_(id_select))
        .order_by(ExamAttempt.proctor_risk.desc(), ExamAttempt.id.desc()))
    index = 0
    result = session.execute(statement.execution_options(yield_per=chunk))
    for part in result.partitions(chunk):
        figures = attempt_figures(session, [row[0] for row in part])
        for attempt_id, name, number, institution_name, department_name, paper, started in part:
            found = figures[attempt_id]
            index += 1
            yield [index, name, number, institution_name, department_name or "", paper, started,
                   found["shots"], found["checked"], _hundred(found["lowest"]),
                   _hundred(found["median"]), found["no_face"], found["multiple_faces"],
                   found["looking_away"], found["low_similarity"], found["page_hidden"],
                   found["camera_stopped"], labels(CASE_STATE, found["state"])]


def _hundred(value):
    return None if value is None else round(value * 100)


def _percent(value):
    return "" if value is None else f"{value * 100:.0f}%"


class ProctoringView(BaseView):
    route_base = "/proctoring"
    default_view = "index"

    def _staff(self):
        actor = scope.current_actor()
        if actor.kind in (scope.PHYSICIAN, scope.NOBODY):
            abort(403)
        return actor

    @expose("/")
    @has_access
    def index(self):
        actor = self._staff()
        query = rows_query(actor, request.args)
        try:
            page = max(int(request.args.get("page", 1)), 1)
        except ValueError:
            page = 1
        # Counted on the attempts' ids only, and no further than the pages one may open.
        last = max(LIST_CAP // PAGE_SIZE, 1)
        capped = page > last
        page = min(page, last)
        ids = query.order_by(None).with_only_columns(ExamAttempt.id).limit(LIST_CAP + 1)
        total = db.session.scalar(select(func.count()).select_from(ids.subquery()))
        if total > LIST_CAP:
            total, capped = LIST_CAP, True
            query = rows_query(actor, request.args, broad=True)
        rows = db.session.execute(_page_loads(query).limit(PAGE_SIZE)
                                  .offset((page - 1) * PAGE_SIZE)).all()
        figures = attempt_figures(db.session, [row.ExamAttempt.id for row in rows])
        papers = db.session.scalars(select(Paper).where(Paper.is_mock.is_(False))
                                    .order_by(Paper.id)).all()
        return self.render_template(
            "proctoring/list.html", rows=rows, figures=figures, percent=_percent, total=total,
            page=page, pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), args=request.args,
            base_query="".join(f"{urlencode({k: v})}&" for k, v in request.args.items()
                               if k != "page"),
            papers=papers, states=CASE_STATE,
            filter_keys=PROCTORING.keys,
            cap_notice=_("More than %(cap)s records match: only the first %(cap)s can be "
                         "paged through. Please narrow the list with the search conditions.",
                         cap=f"{LIST_CAP:,}") if capped else None)

    @expose("/export", methods=["POST"])
    @has_access
    def export(self):
        """导出: the list as filtered now, written by a worker (导出记录 shows its progress)."""
        self._staff()
        return start_export(self, PROCTORING.name, words=self._words)

    @staticmethod
    def _words(args):
        """The filters as the user reads them on the page."""
        labels = {"name": _("Full name"), "similarity_below": _("Similarity below"),
                  "status": _("Status"), "paper": _("Paper"), "department": _("Department")}
        values = dict(args)
        if values.get("status") in CASE_STATE:
            values["status"] = CASE_STATE.label(values["status"])
        if (values.get("paper") or "").isdigit():
            paper = db.session.get(Paper, int(values["paper"]))
            values["paper"] = paper.name if paper else values["paper"]
        if values.get("similarity_below"):
            values["similarity_below"] += "%"
        return _("; ").join(f"{labels[key]} {values[key]}" for key in labels if key in values)

    @expose("/related/department")
    @has_access
    @permission_name("index")
    def related_department(self):
        """科室 searched as one types (views/static/related_search.js): ``?q=`` up to
        RELATED_MATCHES names of the departments the reader may see containing q, ``?id=`` the
        one chosen; JSON ``[{"id", "text"}]``, the name being what the filter compares."""
        self._staff()
        query = scope.restrict(select(Department.name).distinct(), Department)
        chosen = request.args.get("id")
        if chosen is not None:
            query = query.where(Department.name == chosen)
        else:
            words = (request.args.get("q") or "").strip()[:64]
            if words:
                query = query.where(Department.name.contains(words, autoescape=True))
            query = query.order_by(Department.name)
        names = db.session.scalars(query.limit(RELATED_MATCHES)).all()
        return jsonify([{"id": name, "text": name} for name in names])

    @expose("/attempt/<int:attempt_id>")
    @has_access
    def detail(self, attempt_id):
        actor = self._staff()
        attempt = scope.require(actor, scope.READ, ExamAttempt, attempt_id)
        snapshots = scope.restrict(db.session.query(Snapshot), Snapshot, actor).filter(
            Snapshot.attempt_id == attempt.id).order_by(Snapshot.taken_at, Snapshot.id).all()
        case_row = db.session.scalars(select(ProctorCase).where(
            ProctorCase.attempt_id == attempt.id)).first()
        verifications = scope.restrict(db.session.query(FaceVerification), FaceVerification,
                                       actor).filter(
            FaceVerification.enrollment_id == attempt.enrollment_id,
            FaceVerification.paper_id == attempt.paper_id).order_by(FaceVerification.at).all()
        lowest, median = proctoring.summary([s.similarity for s in snapshots])
        physician = attempt.enrollment.physician
        photo = physician.photo_thumb or physician.photo
        may = {action: scope.condition_holds(actor, action, ExamAttempt, attempt.id)
               for action in (scope.REVIEW, scope.MANAGE, scope.DECIDE)}
        return self.render_template(
            "proctoring/detail.html", attempt=attempt, physician=physician, photo=photo,
            snapshots=snapshots, case=case_row, state=case_row.state if case_row
            else CASE_STATE.CLEAR, states=CASE_STATE, verifications=verifications,
            lowest=lowest, median=median, percent=_percent, may=may,
            failures=sum(1 for v in verifications if not v.passed))

    @expose("/snapshot/<int:snapshot_id>")
    @has_access
    def picture(self, snapshot_id):
        """A snapshot's picture, after the snapshot's own scope check."""
        snapshot = scope.require(self._staff(), scope.READ, Snapshot, snapshot_id)
        return storage.send_stored(snapshot.file)

    def _act(self, attempt_id, call, done):
        _result, error = run(call)
        if error is not None:
            flash(error, "danger")
        else:
            flash(done, "success")
        return redirect(url_for(".detail", attempt_id=attempt_id))

    @expose("/attempt/<int:attempt_id>/mark", methods=["POST"])
    @has_access
    def mark(self, attempt_id):
        """【标记疑似】 with a note."""
        actor = self._staff()
        return self._act(attempt_id, lambda: proctoring.mark_suspected(
            actor, attempt_id, request.form.get("note")),
            _("Marked as suspected cheating; the provincial health administration decides"))

    @expose("/attempt/<int:attempt_id>/revoke", methods=["POST"])
    @has_access
    def revoke(self, attempt_id):
        """撤销标记 (the administration)."""
        actor = self._staff()
        return self._act(attempt_id, lambda: proctoring.revoke_mark(
            actor, attempt_id, request.form.get("reason")), _("The mark has been removed"))

    @expose("/attempt/<int:attempt_id>/decide", methods=["POST"])
    @has_access
    def decide(self, attempt_id):
        """认定作弊 / 不认定 (the province)."""
        actor = self._staff()
        cheating = request.form.get("decision") == "cheating"
        return self._act(attempt_id, lambda: proctoring.decide(
            actor, attempt_id, cheating, request.form.get("note")),
            _("Decision recorded: %(decision)s", decision=CASE_STATE.label(
                CASE_STATE.CHEATING if cheating else CASE_STATE.NOT_CHEATING)))


def register(appbuilder):
    appbuilder.add_view(ProctoringView, "ProctoringView", label=_l("Proctoring"),
                        icon="fa-camera", category="Exams", category_label=_l("Exams"))

"""参加考试 (phone first): the manual's paper cards, 进入测评 with the 考前须知, the paper itself
with every answer saved the moment it is chosen, 交卷, and the result. The device a browser
answers from is a random token kept in its session: starting the same paper in another browser
takes the attempt over, and the first one is told on its next save."""
import datetime

from flask import abort, current_app, flash, jsonify, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _

from commands import exam as taking
from commands import proctoring
from models import ExamAttempt
from models import exam_rules as rules
from models.base import Refused
from models.exam import ATTEMPT_STATE, PAPER_KIND
from security import scope
from views.base import attempt as run

DEVICE = "exam_device"


def _points_label(score):
    """A question's score as the paper shows it: a plain function, so the page's loop over
    twenty questions does not copy the template's context per call (as its _() does)."""
    return _("%(score)s points", score=score)


def _device():
    if DEVICE not in session:
        session[DEVICE] = taking.new_device()
    return session[DEVICE]


class ExamView(BaseView):
    route_base = "/me/exams"
    default_view = "index"

    def _page(self, template, **context):
        return self.render_template(f"exam/{template}", **context)

    @expose("/")
    @has_access
    def index(self):
        """The papers of the physician's procedure as the manual's cards."""
        actor = scope.current_actor()
        enrollment = taking.own_enrollment(actor)
        cards, refusal = [], None
        if enrollment is None or enrollment.procedure is None:
            refusal = _("You are not enrolled in the current cycle")
        else:
            makeup = enrollment.state in ("awaiting_makeup",)
            now = datetime.datetime.now()
            current = rules.open_attempt(enrollment)
            for kind, paper in rules.papers_for(enrollment, makeup).items():
                result = rules.result_for(enrollment, paper)
                code, text = rules.card_status(enrollment, paper, now)
                if current is not None and current.paper_id == paper.id:
                    code, text = "resume", _("Continue answering")
                cards.append({"paper": paper, "code": code, "text": text,
                              "left": paper.max_attempts - (result.attempts_used if result
                                                            else 0),
                              "best": result.best_score if result else None,
                              # A combined paper's part waived by an approved exemption.
                              "waived": [PAPER_KIND.label(kind) for kind in
                                         rules.skipped_parts(enrollment, paper)]})
            if enrollment.state not in ("awaiting_exam", "awaiting_makeup"):
                refusal = _("You cannot take an exam in your current state: %(state)s",
                            state=enrollment.state_label)
        return self._page("index.html", cards=cards, refusal=refusal, enrollment=enrollment)

    @expose("/<int:paper_id>/notice")
    @has_access
    def notice(self, paper_id):
        """进入测评: device check, then the 考前须知 and 【我知晓—开始考试】."""
        from models import Paper

        actor = scope.current_actor()
        enrollment = taking.own_enrollment(actor)
        paper = scope.require(actor, scope.READ, Paper, paper_id)
        if paper.is_mock:
            abort(404)
        refusal = None
        current = rules.open_attempt(enrollment) if enrollment else None
        if current is None or current.paper_id != paper.id:
            try:
                rules.check_may_start(enrollment, paper)
            except Refused as refused:
                refusal = str(refused)
        resuming = current is not None and current.paper_id == paper.id
        verify = not resuming and refusal is None and \
            current_app.config["FACE_VERIFICATION_REQUIRED"]
        if verify and not proctoring.has_consented(actor.physician_id):
            # 初次进入测评须进行人脸信息采集授权.
            return redirect(url_for(".consent", paper_id=paper.id))
        return self._page("notice.html", paper=paper, refusal=refusal, resuming=resuming,
                          verify=verify, pass_mark=rules.pass_mark_for(enrollment, paper))

    @expose("/<int:paper_id>/consent", methods=["GET", "POST"])
    @has_access
    def consent(self, paper_id):
        """人脸信息采集授权: what is captured, why, for how long; 同意 or 不同意."""
        from models import Paper

        actor = scope.current_actor()
        paper = scope.require(actor, scope.READ, Paper, paper_id)
        if request.method == "POST":
            agreed = request.form.get("decision") == "agree"
            _done, error = run(lambda: proctoring.decide_consent(actor, agreed))
            if error is not None:
                flash(error, "danger")
            elif agreed:
                return redirect(url_for(".notice", paper_id=paper.id))
        answer = proctoring.consent_of(actor.physician_id)
        return self._page("consent.html", paper=paper, refused=answer is not None and
                          not answer.agreed, required=proctoring.CONSENT_REQUIRED,
                          interval=current_app.config["SNAPSHOT_INTERVAL_SECONDS"],
                          retention=current_app.config["SNAPSHOT_RETENTION_DAYS"])

    @expose("/<int:paper_id>/verify", methods=["POST"])
    @has_access
    def verify(self, paper_id):
        """人脸验证 (JSON): one capture against the registered photo."""
        verification, error = run(lambda: proctoring.verify_face(
            scope.current_actor(), paper_id, request.files.get("picture")))
        if error is not None:
            return jsonify(ok=False, passed=False, message=error), 400
        message = _("Face verification passed") if verification.passed else \
            verification.reason_label
        return jsonify(ok=True, passed=verification.passed, message=message)

    @expose("/<int:paper_id>/start", methods=["POST"])
    @has_access
    def start(self, paper_id):
        from app import jobs

        attempt, error = run(lambda: taking.start(scope.current_actor(), paper_id, _device()))
        if error is not None:
            flash(error, "danger")
            return redirect(url_for(".index"))
        if attempt.number and attempt.started_at >= datetime.datetime.now() - \
                datetime.timedelta(seconds=5):
            jobs.schedule_expiry(attempt)
        return redirect(url_for(".paper", attempt_id=attempt.id))

    @expose("/attempt/<int:attempt_id>")
    @has_access
    def paper(self, attempt_id):
        attempt, questions, answers = taking.attempt_view(scope.current_actor(), attempt_id)
        if attempt.state != ATTEMPT_STATE.IN_PROGRESS:
            return redirect(url_for(".result", attempt_id=attempt.id))
        if attempt.device != _device():
            # Opened on another device: take it over here (the other is told on its next save).
            attempt, error = run(lambda: taking.start(scope.current_actor(), attempt.paper_id,
                                                      _device()))
            if error is not None:
                flash(error, "danger")
                return redirect(url_for(".index"))
            return redirect(url_for(".paper", attempt_id=attempt.id))
        remaining = max(int((attempt.deadline - datetime.datetime.now()).total_seconds()), 0)
        from views.exam_paper import questions_html

        html = questions_html(attempt, questions, answers, rules.JUDGE_OPTIONS, _points_label,
                              _("Mark for review"))
        return self._page("paper.html", attempt=attempt, questions=questions,
                          questions_html=html, remaining=remaining, device=_device(),
                          snapshot_interval=current_app.config["SNAPSHOT_INTERVAL_SECONDS"])

    @expose("/attempt/<int:attempt_id>/snapshot", methods=["POST"])
    @has_access
    def snapshot(self, attempt_id):
        """A snapshot during the attempt (the page sends it in the background): stored, then
        its face check queued."""
        from app import jobs

        snapshot, error = run(lambda: proctoring.take_snapshot(
            scope.current_actor(), attempt_id, request.form.get("device") or _device(),
            request.files.get("picture"), request.form.get("kind") or "interval"))
        if error is not None:
            return jsonify(ok=False, message=error), 400
        jobs.queue_face_check(snapshot.id)
        return jsonify(ok=True)

    @expose("/attempt/<int:attempt_id>/event", methods=["POST"])
    @has_access
    def page_event(self, attempt_id):
        """切屏 / the camera stopped, as the page saw it."""
        data = request.get_json(silent=True) or request.form
        _case, error = run(lambda: proctoring.record_page_event(
            scope.current_actor(), attempt_id, data.get("device") or _device(),
            data.get("event")))
        if error is not None:
            return jsonify(ok=False, message=error), 400
        return jsonify(ok=True)

    @expose("/attempt/<int:attempt_id>/answer", methods=["POST"])
    @has_access
    def answer(self, attempt_id):
        """Save one answer (JSON); 409 when the attempt went on on another device."""
        data = request.get_json(silent=True) or request.form
        flagged = data.get("flagged")
        if isinstance(flagged, str):
            flagged = flagged in ("1", "true", "yes")
        try:
            letters = taking.save_answer(scope.current_actor(), attempt_id,
                                         data.get("device") or _device(),
                                         data.get("question_id"), data.get("response"),
                                         flagged=flagged)
        except taking.TakenOver as refused:
            return jsonify(ok=False, message=str(refused), taken_over=True), 409
        except Refused as refused:
            return jsonify(ok=False, message=str(refused)), 400
        return jsonify(ok=True, response=letters)

    @expose("/attempt/<int:attempt_id>/submit", methods=["POST"])
    @has_access
    def submit(self, attempt_id):
        attempt, error = run(lambda: taking.submit(scope.current_actor(), attempt_id,
                                                   request.form.get("device")))
        if error is not None:
            flash(error, "danger")
        return redirect(url_for(".result", attempt_id=attempt_id))

    @expose("/attempt/<int:attempt_id>/result")
    @has_access
    def result(self, attempt_id):
        attempt = scope.require(scope.current_actor(), scope.READ, ExamAttempt, attempt_id)
        if attempt.state == ATTEMPT_STATE.IN_PROGRESS:
            return redirect(url_for(".paper", attempt_id=attempt.id))
        paper_result = rules.result_for(attempt.enrollment, attempt.paper)
        return self._page("result.html", attempt=attempt, paper_result=paper_result,
                          enrollment=attempt.enrollment)


def register(appbuilder):
    appbuilder.add_view_no_menu(ExamView)

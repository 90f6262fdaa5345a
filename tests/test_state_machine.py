"""The state machine (DOMAIN §7): every event refused from every state that is not one of its
sources, through the machine and through the commands users reach; states change nowhere else;
the state sets lists filter on come from the table; commands act as an explicit actor."""
import pytest

from app.extensions import db
from models import (
    AppUser,
    AssessmentApplication,
    AuditLog,
    Cycle,
    Enrollment,
    Exemption,
    Institution,
    Physician,
    StoredFile,
)
from models import workflow
from models.base import Refused
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import EXEMPTION_STATE as X
from models.institution import APPLICATION_STATE
from security import scope
from tests.conftest import ACCOUNTS

# The transitions of DOMAIN §7, written out here rather than read from models.workflow, so that
# a change to the table there is a failing test here: event: (sources, target).
EXPECTED = {
    "enrollment": {
        "cancel": ({"pending_enrollment", "rejected_by_institution", "rejected_by_administration",
                    "pending_institution_review"}, "cancelled"),
        "reinclude": ({"cancelled"}, "pending_enrollment"),
        "submit": ({"pending_enrollment", "rejected_by_institution",
                    "rejected_by_administration"}, "pending_institution_review"),
        "institution_approve": ({"pending_institution_review", "returned_by_assessment"},
                                "pending_assessment_review"),
        "institution_reject": ({"pending_institution_review", "returned_by_assessment"},
                               "rejected_by_institution"),
        "assessment_confirm": ({"pending_assessment_review"}, "awaiting_exam"),
        "assessment_reject": ({"pending_assessment_review"}, "returned_by_assessment"),
        "administration_reject": ({"pending_assessment_review", "awaiting_exam"},
                                  "rejected_by_administration"),
        "rated_unqualified": ({"pending_assessment_review", "awaiting_exam"}, "failed"),
        "exam_passed": ({"awaiting_exam", "awaiting_makeup"}, "passed"),
        "exam_failed": ({"awaiting_exam"}, "awaiting_makeup_confirmation"),
        "makeup_confirmed": ({"awaiting_makeup_confirmation"}, "awaiting_makeup"),
        "makeup_declined": ({"awaiting_makeup_confirmation"}, "failed"),
        "makeup_failed": ({"awaiting_makeup"}, "failed"),
        # 监考: the province decided an attempt was cheated (tests/test_proctoring.py).
        "cheating_decided": ({"passed", "awaiting_exam", "awaiting_makeup_confirmation",
                              "awaiting_makeup"}, "failed"),
    },
    "exemption": {
        "resubmit": ({"rejected"}, "pending"),
        "institution_approve": ({"pending"}, "pending_assessment"),
        "institution_reject": ({"pending"}, "rejected"),
        "assessment_approve": ({"pending_assessment"}, "approved"),
        "assessment_reject": ({"pending_assessment"}, "rejected"),
    },
    "assessment_application": {
        "submit": ({"draft", "rejected"}, "submitted"),
        "approve": ({"submitted"}, "approved"),
        "reject": ({"submitted"}, "rejected"),
    },
    "exam_attempt": {
        "submit": ({"in_progress"}, "submitted"),
        "expire": ({"in_progress"}, "expired"),
    },
}
STATES = {
    "enrollment": set(S.values()),
    "exemption": set(X.values()),
    "assessment_application": {"draft", "submitted", "approved", "rejected"},
    "exam_attempt": {"in_progress", "submitted", "expired"},
}
MACHINES = {machine.entity: machine for machine in workflow.MACHINES.values()}
ALL_EVENTS = [(MACHINES[entity], name) for entity, events in EXPECTED.items()
              for name in events]


def test_the_machine_has_exactly_the_expected_transitions():
    for entity, events in EXPECTED.items():
        machine = MACHINES[entity]
        assert {name: (set(e.sources), e.target) for name, e in machine.events.items()} == events


def _enrollment():
    db.session.expire_all()
    return db.session.query(Enrollment).join(Physician).filter(Physician.name == "王医生").one()


def _actor(username):
    return scope.actor_for(db.session.query(AppUser).filter_by(username=username).one())


def _audit_count():
    return db.session.query(AuditLog).count()


def _record_of(machine):
    """A record of the machine's type for the demo's 王医生 / the clinic (made if needed)."""
    enrollment = _enrollment()
    if machine is workflow.ENROLLMENT:
        return enrollment
    if machine is workflow.EXEMPTION:
        proof = StoredFile(storage_name="xx/none", original_name="p.pdf",
                           content_type="application/pdf", size=1, sha256="0",
                           purpose="exemption_proof", physician_id=enrollment.physician_id)
        exemption = Exemption(enrollment=enrollment, condition="c", proof=proof, state=X.PENDING)
        db.session.add_all([proof, exemption])
        db.session.flush()
        return exemption
    if machine is workflow.ATTEMPT:
        import datetime

        from models import ExamAttempt, Paper

        paper = Paper(cycle=Cycle.current(), name="p", kind="humanities", procedure="simple")
        attempt = ExamAttempt(paper=paper, enrollment=enrollment, state="in_progress",
                              started_at=datetime.datetime.now())
        db.session.add_all([paper, attempt])
        db.session.flush()
        return attempt
    clinic = db.session.query(Institution).filter_by(account="NX1008622").one()
    application = AssessmentApplication(institution=clinic, cycle=Cycle.current(),
                                        state=APPLICATION_STATE.DRAFT)
    db.session.add(application)
    db.session.flush()
    return application


@pytest.mark.parametrize("machine,event", ALL_EVENTS,
                         ids=[f"{m.entity}.{e}" for m, e in ALL_EVENTS])
def test_every_event_is_refused_from_every_state_not_among_its_sources(province, machine, event):
    record = _record_of(machine)
    sources, _target = EXPECTED[machine.entity][event]
    for state in sorted(STATES[machine.entity] - sources):
        workflow.force(record, state, reason="test set-up")
        db.session.flush()
        before = _audit_count()
        with pytest.raises(workflow.TransitionRefused) as refused:
            workflow.apply(record, event, reason="理由")
        assert str(refused.value) == str(machine[event].refusal)
        assert record.state == state and _audit_count() == before


@pytest.mark.parametrize("machine,event", ALL_EVENTS,
                         ids=[f"{m.entity}.{e}" for m, e in ALL_EVENTS])
def test_every_event_moves_from_each_of_its_sources_to_its_target(province, machine, event):
    """The control for the test above: the table's own transitions are accepted."""
    record = _record_of(machine)
    sources, target = EXPECTED[machine.entity][event]
    for state in sorted(sources):
        workflow.force(record, state, reason="test set-up")
        workflow.apply(record, event, reason="理由")
        assert record.state == target
        if machine[event].result:
            assert record.result == machine[event].result


def test_a_state_assigned_outside_the_machine_is_an_error(province):
    enrollment = _enrollment()
    with pytest.raises(workflow.OutsideTheMachine):
        enrollment.state = S.PASSED
    with pytest.raises(workflow.OutsideTheMachine):
        enrollment.result = "pass"
    with pytest.raises(workflow.OutsideTheMachine):
        Exemption(enrollment=enrollment, condition="c", state=X.APPROVED)


def test_a_rejections_reason_is_cleared_when_the_record_moves_on(province):
    enrollment = _enrollment()
    workflow.force(enrollment, S.PENDING_INSTITUTION_REVIEW, reason="test set-up")
    workflow.apply(enrollment, "institution_reject", reason="照片不清晰")
    assert enrollment.reject_reason == "照片不清晰"
    workflow.apply(enrollment, "submit")
    assert enrollment.reject_reason is None


def test_the_state_sets_lists_use_come_from_the_table():
    assert workflow.EDITABLE == (S.PENDING_ENROLLMENT, S.REJECTED_BY_INSTITUTION,
                                 S.REJECTED_BY_ADMINISTRATION)
    assert workflow.INSTITUTION_STAGE == (S.PENDING_INSTITUTION_REVIEW,
                                          S.RETURNED_BY_ASSESSMENT)
    assert workflow.ASSESSMENT_STAGE == (S.PENDING_ASSESSMENT_REVIEW,)
    assert set(workflow.DONE) == {S.AWAITING_EXAM, S.AWAITING_MAKEUP_CONFIRMATION,
                                  S.AWAITING_MAKEUP, S.PASSED, S.FAILED}
    assert set(workflow.ENROLLMENT.states()) == set(S.values())


# --- through the commands -------------------------------------------------------------------

def _commands_for(event):
    """(who, call) pairs that reach ``event`` of an enrollment through the command layer."""
    from commands import enrollment as enrolling
    from commands import review, roster

    enrollment_id = lambda: _enrollment().id  # noqa: E731
    physician_id = lambda: _enrollment().physician_id  # noqa: E731
    return {
        "cancel": ("institution", lambda a: roster.cancel(a, physician_id(), "离职")),
        "reinclude": ("institution", lambda a: roster.include(a, [physician_id()])),
        "submit": ("physician", lambda a: enrolling.submit(a)),
        "institution_approve": ("institution", lambda a: review.review_by_institution(
            a, enrollment_id(), True, work="pass", ethics="pass")),
        "institution_reject": ("institution", lambda a: review.review_by_institution(
            a, enrollment_id(), False, reason="不清晰")),
        "assessment_confirm": ("assessment", lambda a: review.review_by_assessment(
            a, enrollment_id(), True)),
        "assessment_reject": ("assessment", lambda a: review.review_by_assessment(
            a, enrollment_id(), False, reason="不清晰")),
        "administration_reject": ("district", lambda a: review.reject_by_administration(
            a, enrollment_id(), "材料不全")),
    }[event]


COMMAND_EVENTS = ["cancel", "reinclude", "submit", "institution_approve", "institution_reject",
                  "assessment_confirm", "assessment_reject", "administration_reject"]


@pytest.mark.parametrize("event", COMMAND_EVENTS)
def test_each_command_refuses_its_event_from_every_other_state(province, event):
    from app.demo import DEMO_PHYSICIAN_ID

    who, call = _commands_for(event)
    actor = _actor(DEMO_PHYSICIAN_ID if who == "physician" else ACCOUNTS[who])
    sources, _target = EXPECTED["enrollment"][event]
    for state in sorted(STATES["enrollment"] - sources):
        workflow.force(_enrollment(), state, reason="test set-up")
        db.session.commit()
        before = _audit_count()
        with pytest.raises(Refused):
            call(actor)
        assert _enrollment().state == state, (event, state)
        assert _audit_count() == before


def test_a_command_without_an_actor_sees_nothing(province):
    """Outside a request there is no user: scoped reads are empty and commands find nothing."""
    from werkzeug.exceptions import NotFound

    from commands import review

    assert scope.current_actor().kind == scope.NOBODY
    assert scope.restrict(db.session.query(Enrollment), Enrollment).count() == 0
    with pytest.raises(NotFound):
        review.reject_by_administration(scope.current_actor(), _enrollment().id, "x")
    assert scope.restrict(db.session.query(Enrollment), Enrollment, scope.SYSTEM).count() > 0


def test_acting_on_a_record_needs_the_right_for_that_action(province):
    """The assessment institution reads the hospital's enrollment but may only re-review it;
    the hospital reviews it but may not re-review it; another institution finds nothing."""
    from werkzeug.exceptions import NotFound

    enrollment = _enrollment()
    assessor, hospital = _actor(ACCOUNTS["assessment"]), _actor(ACCOUNTS["institution"])
    clinic = _actor("NX1008622")
    assert scope.condition_holds(assessor, scope.READ, Enrollment, enrollment.id)
    assert scope.condition_holds(assessor, scope.REREVIEW, Enrollment, enrollment.id)
    assert not scope.condition_holds(assessor, scope.REVIEW, Enrollment, enrollment.id)
    assert scope.condition_holds(hospital, scope.REVIEW, Enrollment, enrollment.id)
    assert not scope.condition_holds(hospital, scope.REREVIEW, Enrollment, enrollment.id)
    for action in (scope.READ, scope.CHANGE, scope.REVIEW, scope.REREVIEW, scope.DECIDE):
        with pytest.raises(NotFound):
            scope.require(clinic, action, Enrollment, enrollment.id)


def test_an_edit_cannot_take_over_a_record_one_may_only_read(as_role):
    """The province reads every cycle's papers but changes only its own cycles': editing a
    neighbouring province's paper into its own cycle is refused, and the paper stays theirs."""
    from models import Administration, Paper

    neighbour = Administration(name="邻省卫生健康委员会", level="province", region_code="470000")
    db.session.add(neighbour)
    db.session.flush()
    neighbour.assign_path()
    ours = Cycle.current()
    theirs = Cycle(name="邻省周期", start_date=ours.start_date, end_date=ours.end_date,
                   cutoff_date=ours.cutoff_date, is_current=False, administration=neighbour)
    paper = Paper(cycle=theirs, name="邻省试卷", kind="humanities", procedure="simple",
                  is_mock=True, duration_minutes=30, pass_mark=60, max_attempts=1)
    db.session.add_all([theirs, paper])
    db.session.commit()
    province = as_role("province")
    assert province.get(f"/paperview/show/{paper.id}").status_code == 200
    from tests.conftest import post

    post(province, f"/paperview/edit/{paper.id}", {
        "name": "被接管的试卷", "cycle": str(ours.id), "kind": "humanities",
        "procedure": "simple", "is_mock": "y", "duration_minutes": "30", "pass_mark": "60",
        "max_attempts": "1"})
    db.session.expire_all()
    paper = db.session.get(Paper, paper.id)
    assert paper.cycle_id == theirs.id and paper.name == "邻省试卷"
    # The control: the same form on the province's own paper is saved (and a mock paper's
    # unticked 补考试卷 box is no missing field).
    mine = Paper(cycle=ours, name="本省试卷", kind="humanities", procedure="simple", is_mock=True)
    db.session.add(mine)
    db.session.commit()
    saved = post(province, f"/paperview/edit/{mine.id}", {
        "name": "本省模拟试卷", "cycle": str(ours.id), "kind": "humanities",
        "procedure": "simple", "is_mock": "y", "duration_minutes": "30", "pass_mark": "60",
        "max_attempts": "1"})
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(Paper, mine.id).name == "本省模拟试卷"

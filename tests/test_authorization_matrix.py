"""Authorization matrix: every role against every console view, on its own and on another
tenant's records.

The demo jurisdiction (app/demo.py)::

    演示省 (province)
    ├── 演示市 (city) ─────────── 演示省人民医院 NX1008600 (assessment institution)
    │   ├── 龙华区 (district) ──── 演示市第一人民医院 NX1008611  → assessed by NX1008600
    │   └── 美兰区 ─────────────── 美兰区阳光口腔诊所 NX1008622  → assessed by NX1008600
    └── 滨海市
        └── 海湾区 ─────────────── 海湾区渔村卫生室 NX1008633

Roles (the ``as_role`` fixture logs in their demo accounts): province, city, district,
institution (NX1008611), assessment (NX1008600), operator (ops), sysadmin (admin) and
physician (王医生 of NX1008611).

``RECORDS`` names, for every (view, role), the record the role calls its *own* and, where the
demo data has one, *another tenant's* record:

* district:    own = NX1008611's rows, other = NX1008622's (the neighbouring district);
* city:        own = NX1008611's rows, other = NX1008633's (the other city);
* institution: own = NX1008611's rows, other = NX1008622's;
* assessment:  own = NX1008600's roster and departments, plus the enrollments of the
  institutions assigned to it (NX1008611); other = NX1008611's roster/departments (it re-reviews
  their enrollments but does not keep their roster) and NX1008633 (not assigned to it);
* province, operator, sysadmin see the whole demo province: no "other" record exists there;
* a role that may not open a view at all still gets an "own" record there: the one it is
  refused.

Rows the demo does not seed are added by the ``world`` fixture: one audit row for each of
NX1008611, NX1008622 and NX1008633, one message in the SMS outbox, and the records
tests/test_authorization_matrix_actions.py acts on (exemptions at both stages, exam attempts and
snapshots, papers and questions — some of a neighbouring province —, submitted
assessment-institution applications, enrollments at each review stage; see
``_seed_action_records``).

``EXPECTED_TABLE`` is the matrix itself, written out literally (it deliberately does not
consult ``security.roles`` or ``security.scope``, which are what it checks); every cell is one
test id ``<view>:<op>:<target>:<role>``:

* 403 — the role lacks the permission (FAB aborts 403 for a logged-in user; permission is
  checked before the record is looked up, so this holds for other tenants' records too);
* 404 — the role has the permission but the record belongs to another tenant;
* 200 — list/show allowed; a list must show the own record (its distinguishing text and its
  row link) and must not show the other one;
* 302 — reset_password ran and redirected: the account is back on 666666 with a forced change;
* 302= — redirected back with a refusal (an administration resetting its own account);
* ``-`` — no such cell (no other tenant for that role, or a change that would simply succeed).

Every cell that changes nothing (all but 302) compares, before and after: the target row, the
account linked to it (armed beforehand with a recognisable password hash, so that a reset
would show), a physician's enrollments, and the number of audit rows.

``EXPECTED_API_TABLE`` does the same for the read-only JSON API, ``EXPECTED_SELF_SERVICE`` for
/me/; the remaining tests cover the physician against every console page, user and role
management, unknown actions, mixed own/other row ids, GET actions, writes to the read-only API
and the mobile-code JSON endpoint (anonymous: redirected to the login page).
"""
import datetime
import re

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from app.extensions import db
from models import (
    Administration,
    AppUser,
    AssessmentApplication,
    AuditLog,
    Cycle,
    Department,
    Enrollment,
    ExamAttempt,
    Exemption,
    Institution,
    Paper,
    Physician,
    Question,
    SmsMessage,
    Snapshot,
    StoredFile,
)
from tests.conftest import csrf_token, post

ROLES = ("province", "city", "district", "institution", "assessment", "operator", "sysadmin",
         "physician")

# --- the expected outcomes ----------------------------------------------------------------

# op:     list | show | edit (POST) | delete (POST)
#         an action name (POST /<view>/action_post with action=<op>, rowid=<id>)
#         cancel_form / transfer_out_form (POST /physicianview/cancel|transfer-out/<id>)
# target: own | other (see RECORDS)
# codes:  200, 403, 404 as above; 302 = reset_password ran (the account is on 666666 again);
#         302= = redirected back with a refusal, nothing changed; - = no such cell.
EXPECTED_TABLE = """
view                op                 target  province city district institution assessment operator sysadmin physician
institutionview     list               own     200      200  200      200         200        200      200      403
institutionview     show               own     200      200  200      200         200        200      200      403
institutionview     edit               own     -        -    -        403         403        403      -        403
institutionview     delete             own     -        -    -        403         403        403      -        403
institutionview     reset_password     own     302      302  302      403         403        403      302      403
institutionview     show               other   -        404  404      404         404        -        -        -
institutionview     edit               other   -        404  404      403         403        -        -        -
institutionview     delete             other   -        404  404      403         403        -        -        -
institutionview     reset_password     other   -        404  404      403         403        -        -        -

departmentview      list               own     200      200  200      200         200        403      200      403
departmentview      show               own     200      200  200      200         200        403      200      403
departmentview      edit               own     403      403  403      -           -          403      -        403
departmentview      delete             own     403      403  403      -           -          403      -        403
departmentview      disable            own     403      403  403      -           -          403      -        403
departmentview      enable             own     403      403  403      -           -          403      -        403
departmentview      show               other   -        404  404      404         404        -        -        -
departmentview      edit               other   -        403  403      404         404        -        -        -
departmentview      delete             other   -        403  403      404         404        -        -        -
departmentview      disable            other   -        403  403      404         404        -        -        -
departmentview      enable             other   -        403  403      404         404        -        -        -

physicianview       list               own     200      200  200      200         200        200      200      403
physicianview       show               own     200      200  200      200         200        200      200      403
physicianview       edit               own     403      403  403      -           -          403      -        403
physicianview       delete             own     403      403  403      -           -          403      -        403
physicianview       reset_password     own     403      403  403      302         302        403      302      403
physicianview       allow_enrollment   own     403      403  403      -           -          403      -        403
physicianview       cancel_enrollment  own     403      403  403      -           -          403      -        403
physicianview       transfer_out       own     403      403  403      -           -          403      -        403
physicianview       cancel_form        own     403      403  403      -           -          403      -        403
physicianview       transfer_out_form  own     403      403  403      -           -          403      -        403
physicianview       show               other   -        404  404      404         404        -        -        -
physicianview       edit               other   -        403  403      404         404        -        -        -
physicianview       delete             other   -        403  403      404         404        -        -        -
physicianview       reset_password     other   -        403  403      404         404        -        -        -
physicianview       allow_enrollment   other   -        403  403      404         404        -        -        -
physicianview       cancel_enrollment  other   -        403  403      404         404        -        -        -
physicianview       transfer_out       other   -        403  403      404         404        -        -        -
physicianview       cancel_form        other   -        403  403      404         404        -        -        -
physicianview       transfer_out_form  other   -        403  403      404         404        -        -        -

enrollmentview      list               own     200      200  200      200         200        200      200      403
enrollmentview      show               own     200      200  200      200         200        200      200      403
enrollmentview      edit               own     403      403  403      403         403        403      403      403
enrollmentview      delete             own     403      403  403      403         403        403      403      403
enrollmentview      show               other   -        404  404      404         404        -        -        -
enrollmentview      edit               other   -        403  403      403         403        -        -        -
enrollmentview      delete             other   -        403  403      403         403        -        -        -

administrationview  list               own     200      200  200      403         403        200      200      403
administrationview  show               own     200      200  200      403         403        200      200      403
administrationview  edit               own     -        -    403      403         403        403      -        403
administrationview  delete             own     -        -    403      403         403        403      -        403
administrationview  reset_password     own     302      302  302=     403         403        403      302      403
administrationview  show               other   -        404  404      -           -          -        -        -
administrationview  edit               other   -        404  403      -           -          -        -        -
administrationview  delete             other   -        404  403      -           -          -        -        -
administrationview  reset_password     other   -        404  404      -           -          -        -        -

auditlogview        list               own     200      200  200      403         403        200      200      403
auditlogview        show               own     200      200  200      403         403        200      200      403
auditlogview        edit               own     403      403  403      403         403        403      403      403
auditlogview        delete             own     403      403  403      403         403        403      403      403
auditlogview        show               other   -        404  404      -           -          -        -        -
auditlogview        edit               other   -        403  403      -           -          -        -        -
auditlogview        delete             other   -        403  403      -           -          -        -        -

smsoutboxview       list               own     403      403  403      403         403        200      200      403
smsoutboxview       show               own     403      403  403      403         403        200      200      403
smsoutboxview       edit               own     403      403  403      403         403        403      403      403
smsoutboxview       delete             own     403      403  403      403         403        403      403      403

cycleview           list               own     200      200  200      200         200        403      200      403
cycleview           show               own     200      200  200      200         200        403      200      403
cycleview           edit               own     -        403  403      403         403        403      -        403
cycleview           delete             own     -        403  403      403         403        403      -        403
"""

# The read-only JSON API (GET /api/v1/<resource>/<id>, browser session): same records as the
# console view of the same model. An own 200 also requires the id in the list's ids; an other
# 404 also requires its absence from the list.
EXPECTED_API_TABLE = """
resource     target  province city district institution assessment operator sysadmin physician
physician    own     200      200  200      200         200        403      200      403
physician    other   -        404  404      404         404        -        -        -
institution  own     200      200  200      200         200        403      200      403
institution  other   -        404  404      404         404        -        -        -
enrollment   own     200      200  200      200         200        403      200      403
enrollment   other   -        404  404      404         404        -        -        -
"""
API_VIEWS = {"physician": "physicianview", "institution": "institutionview",
             "enrollment": "enrollmentview"}

# /me/ (SelfServiceView): the physicians' pages. Every staff role is refused, the system
# administrator too (its builtin role grants every view, but an account without a physician
# has no self-service page).
EXPECTED_SELF_SERVICE = {
    "province": 403, "city": 403, "district": 403, "institution": 403, "assessment": 403,
    "operator": 403, "sysadmin": 403, "physician": 200,
}

# Record keys, resolved against the seeded data by ``resolve``:
#   ("institution", account) ("department", account, name) ("physician", account)
#   ("enrollment", account) ("administration", name) ("audit", account) ("sms",) ("cycle",)
P611, P622, P633, P600 = (("physician", a) for a in
                          ("NX1008611", "NX1008622", "NX1008633", "NX1008600"))
E611, E622, E633 = (("enrollment", a) for a in ("NX1008611", "NX1008622", "NX1008633"))
I600, I611, I622, I633 = (("institution", a) for a in
                          ("NX1008600", "NX1008611", "NX1008622", "NX1008633"))
D600 = ("department", "NX1008600", "急诊科")
D611 = ("department", "NX1008611", "外科")
D622 = ("department", "NX1008622", "口腔科")
D633 = ("department", "NX1008633", "全科")
A_LONGHUA = ("administration", "龙华区卫生健康委员会")
A_MEILAN = ("administration", "美兰区卫生健康委员会")
A_HAIWAN = ("administration", "海湾区卫生健康委员会")
L611, L622, L633 = (("audit", a) for a in ("NX1008611", "NX1008622", "NX1008633"))
SMS = ("sms",)
CYCLE = ("cycle",)

WANG = ("physician-named", "王医生")

RECORDS = {
    #   role:          (own,       other)
    "institutionview": {
        "province": (I611, None), "city": (I611, I633), "district": (I611, I622),
        "institution": (I611, I622), "assessment": (I600, I633),
        "operator": (I611, None), "sysadmin": (I611, None), "physician": (I611, None),
    },
    "departmentview": {
        "province": (D611, None), "city": (D611, D633), "district": (D611, D622),
        "institution": (D611, D622), "assessment": (D600, D611),
        "operator": (D611, None), "sysadmin": (D611, None), "physician": (D611, None),
    },
    "physicianview": {
        "province": (P611, None), "city": (P611, P633), "district": (P611, P622),
        "institution": (P611, P622), "assessment": (P600, P611),
        "operator": (P611, None), "sysadmin": (P611, None), "physician": (WANG, None),
    },
    "enrollmentview": {
        "province": (E611, None), "city": (E611, E633), "district": (E611, E622),
        "institution": (E611, E622), "assessment": (E611, E633),
        "operator": (E611, None), "sysadmin": (E611, None), "physician": (E611, None),
    },
    "administrationview": {
        "province": (A_LONGHUA, None), "city": (A_LONGHUA, A_HAIWAN),
        "district": (A_LONGHUA, A_MEILAN), "institution": (A_LONGHUA, None),
        "assessment": (A_LONGHUA, None), "operator": (A_LONGHUA, None),
        "sysadmin": (A_LONGHUA, None), "physician": (A_LONGHUA, None),
    },
    "auditlogview": {
        "province": (L611, None), "city": (L611, L633), "district": (L611, L622),
        "institution": (L611, None), "assessment": (L611, None), "operator": (L611, None),
        "sysadmin": (L611, None), "physician": (L611, None),
    },
    "smsoutboxview": {role: (SMS, None) for role in ROLES},
    "cycleview": {role: (CYCLE, None) for role in ROLES},
}

# Every ModelView the application registers, by URL: the physician reaches none of them.
CONSOLE_LISTS = (
    "/institutionview/list/", "/departmentview/list/", "/assessmentapplicationview/list/",
    "/subjectview/list/", "/physicianview/list/", "/enrollmentview/list/",
    "/exemptionview/list/", "/examattemptview/list/", "/snapshotview/list/",
    "/paperview/list/", "/questionview/list/", "/administrationview/list/",
    "/cycleview/list/", "/schedulewindowview/list/", "/auditlogview/list/",
    "/smsoutboxview/list/", "/paperresultview/list/", "/makeup/list/",
)
# FAB's own security ModelViews (users, roles, permissions): the system administrator's alone.
SECURITY_LISTS = (
    "/users/list/", "/roles/list/", "/groups/list/", "/permissions/list/",
    "/viewmenus/list/", "/permissionviews/list/",
)
# Staff pages that are not ModelViews.
STAFF_PAGES = ("/roster/transfer-in/", "/institution/mine/")
EXPECTED_SECURITY_LISTS = {
    "province": 403, "city": 403, "district": 403, "institution": 403, "assessment": 403,
    "operator": 403, "sysadmin": 200, "physician": 403,
}


def _parse(table, keys):
    lines = [line.split() for line in table.strip().splitlines() if line.strip()]
    header, rows = lines[0], lines[1:]
    assert header[keys:] == list(ROLES)
    cells = {}
    for row in rows:
        key, codes = tuple(row[:keys]), row[keys:]
        assert len(codes) == len(ROLES), key
        for role, code in zip(ROLES, codes):
            if code != "-":
                cells[key + (role,)] = code
    return cells


EXPECTED = _parse(EXPECTED_TABLE, 3)
EXPECTED_API = _parse(EXPECTED_API_TABLE, 2)

ACTIONS = {"reset_password", "allow_enrollment", "cancel_enrollment", "transfer_out",
           "disable", "enable"}
FORMS = {
    "cancel_form": ("/physicianview/cancel/{id}", {"reason": "越权取消"}),
    "transfer_out_form": ("/physicianview/transfer-out/{id}",
                          {"reason": "resigned", "detail": "越权调离"}),
}
EDIT_DATA = {
    "institutionview": {"name": "被篡改的名称"},
    "departmentview": {"name": "被篡改的科室"},
    "physicianview": {"name": "被篡改的姓名"},
    "administrationview": {"name": "被篡改的行政部门"},
    "cycleview": {"name": "被篡改的周期"},
}
SENTINEL_PASSWORD_HASH = "sentinel:not-a-real-hash"


# --- the data the cells act on -------------------------------------------------------------


class Record:
    def __init__(self, model, id, texts, account_id=None):
        self.model, self.id, self.texts, self.account_id = model, id, texts, account_id


def _masked(id_number):
    return f"{id_number[:3]}*****{id_number[-4:]}"


def _institution(account):
    return db.session.query(Institution).filter_by(account=account).one()


def _account_of(**link):
    user = db.session.query(AppUser).filter_by(**link).first()
    return user.id if user is not None else None


def _physician_record(physician):
    return Record(Physician, physician.id, [physician.name, _masked(physician.id_number)],
                  account_id=_account_of(physician_id=physician.id))


def resolve(key):
    """The Record a key of RECORDS names, with the texts that identify it on a list page."""
    kind, *args = key
    if kind == "institution":
        inst = _institution(args[0])
        return Record(Institution, inst.id, [inst.name],
                      account_id=_account_of(institution_id=inst.id))
    if kind == "department":
        inst = _institution(args[0])
        dept = db.session.query(Department).filter_by(institution_id=inst.id,
                                                      name=args[1]).one()
        # Department names repeat across institutions: its institution's name identifies it.
        return Record(Department, dept.id, [inst.name])
    if kind == "physician":
        physician = (
            db.session.query(Physician).join(Physician.institution)
            .filter(Institution.account == args[0]).order_by(Physician.id).first()
        )
        return _physician_record(physician)
    if kind == "physician-named":
        return _physician_record(db.session.query(Physician).filter_by(name=args[0]).one())
    if kind == "enrollment":
        enrollment = (
            db.session.query(Enrollment).join(Enrollment.institution)
            .filter(Institution.account == args[0]).order_by(Enrollment.id).first()
        )
        return Record(Enrollment, enrollment.id, [enrollment.physician.name])
    if kind == "administration":
        node = db.session.query(Administration).filter_by(name=args[0]).one()
        return Record(Administration, node.id, [node.name],
                      account_id=_account_of(administration_id=node.id))
    if kind == "audit":
        row = db.session.query(AuditLog).filter_by(reason=_audit_reason(args[0])).one()
        return Record(AuditLog, row.id, [row.reason])
    if kind == "sms":
        row = db.session.query(SmsMessage).filter_by(mobile=SMS_MOBILE).one()
        return Record(SmsMessage, row.id, [SMS_MOBILE])
    if kind == "cycle":
        cycle = db.session.query(Cycle).filter_by(is_current=True).one()
        return Record(Cycle, cycle.id, [cycle.name])
    raise KeyError(key)


SMS_MOBILE = "13911112222"


def _audit_reason(account):
    return f"审计标记{account}"


# The rows ``world`` adds for tests/test_authorization_matrix_actions.py, by the marks that
# identify them (on list pages too).
STAGED = ("NX1008611", "NX1008622", "NX1008633")
EXAM_PAPER, SPARE_PAPER = "矩阵测评试卷", "矩阵备用试卷"
QUESTION_STEM = "矩阵试题：医师定期考核的周期是几年"
NEIGHBOUR = "邻省卫生健康委员会"
NEIGHBOUR_PAPER = "邻省测评试卷"


def exemption_mark(account, state):
    return f"matrix-exemption-{state}-{account}"


def attempt_started(account):
    return datetime.datetime(2021, 6, 1, 8, int(account[-2:]))


def snapshot_taken(account):
    return datetime.datetime(2021, 6, 1, 9, int(account[-2:]))


def application_submitted(account):
    return datetime.datetime(2021, 6, 2, 10, int(account[-2:]))


def _seed_action_records():
    """What the action matrix acts on, put in place with ``workflow.force`` (set-up only).

    NX1008622 and NX1008633 get all four of their physicians enrolled (the demo enrolls two).
    Then, for each of NX1008611 (王医生's enrollment first), NX1008622 and NX1008633, in id
    order: enrollment 0 awaits the exam with an exemption "pending" (the institution's stage),
    an exam attempt and its proctoring snapshot; enrollment 1 awaits the exam with an exemption
    "pending_assessment" (the assessment institution's stage); enrollment 2 is
    "pending_institution_review"; enrollment 3 "pending_assessment_review". Two papers of the
    current cycle (the attempts' one with a question, and a spare with nothing depending on it),
    a "submitted" assessment-institution application of each of the three institutions,
    NX1008600's first two enrollments "pending_institution_review" and
    "pending_assessment_review", and a neighbouring province (another root of the
    jurisdiction tree) with its own cycle and a paper with nothing depending on it. (The question
    bank has no province: one deployment serves one province.)"""
    from models import roster, workflow

    cycle = Cycle.current()
    set_up = "test set-up"
    for account in ("NX1008622", "NX1008633"):
        roster.include(db.session.query(Physician).filter_by(
            institution_id=_institution(account).id).order_by(Physician.id).all(), cycle)
    db.session.flush()
    exam = Paper(cycle=cycle, name=EXAM_PAPER, kind="professional", procedure="general")
    db.session.add_all([exam, Paper(cycle=cycle, name=SPARE_PAPER, kind="humanities",
                                    procedure="simple")])
    # The bank is the deployment's (one province's): a question is used by papers.
    exam.questions.append(Question(kind="professional", type="single", stem=QUESTION_STEM,
                                   options=["一年", "两年", "三年"], answer="B"))
    wang = db.session.query(Physician).filter_by(name="王医生").one()
    for account in STAGED:
        inst = _institution(account)
        enrollments = db.session.query(Enrollment).filter_by(institution_id=inst.id).order_by(
            Enrollment.id).all()
        enrollments.sort(key=lambda e: e.physician_id != wang.id)  # 王医生's first (stable)
        first, second, third, fourth = enrollments[:4]
        for enrollment, state in ((first, "awaiting_exam"), (second, "awaiting_exam"),
                                  (third, "pending_institution_review"),
                                  (fourth, "pending_assessment_review")):
            workflow.force(enrollment, state, reason=set_up)
        pending = Exemption(enrollment=first, condition=exemption_mark(account, "pending"),
                            state="pending")
        rereview = Exemption(enrollment=second, state="pending",
                             condition=exemption_mark(account, "pending_assessment"))
        db.session.add_all([pending, rereview])
        db.session.flush()
        workflow.force(rereview, "pending_assessment", reason=set_up)
        attempt = ExamAttempt(paper=exam, enrollment=first, started_at=attempt_started(account))
        picture = StoredFile(storage_name=f"matrix/snapshot-{account}", original_name="抓拍.jpg",
                             content_type="image/jpeg", size=0, sha256="0" * 64,
                             purpose="snapshot", physician_id=first.physician_id)
        db.session.add(Snapshot(attempt=attempt, file=picture,
                                taken_at=snapshot_taken(account)))
        application = AssessmentApplication(institution=inst, cycle=cycle, state="draft")
        db.session.add(application)
        db.session.flush()
        workflow.force(application, "submitted", reason=set_up)
        application.submitted_at = application_submitted(account)
    # NX1008600's own physicians, whom it reviews as a medical institution.
    own_review, own_rereview = db.session.query(Enrollment).filter_by(
        institution_id=_institution("NX1008600").id).order_by(Enrollment.id).all()[:2]
    workflow.force(own_review, "pending_institution_review", reason=set_up)
    workflow.force(own_rereview, "pending_assessment_review", reason=set_up)
    # Another province (outside the demo province's tree) with a cycle and a paper.
    neighbour = Administration(name=NEIGHBOUR, level="province", region_code="470000")
    db.session.add(neighbour)
    db.session.flush()
    neighbour.assign_path()
    their_cycle = Cycle(name="邻省医师定期考核周期", start_date=cycle.start_date,
                        end_date=cycle.end_date, cutoff_date=cycle.cutoff_date,
                        is_current=False, administration=neighbour)
    db.session.add(Paper(cycle=their_cycle, name=NEIGHBOUR_PAPER, kind="humanities",
                         procedure="simple"))
    db.session.commit()


@pytest.fixture()
def world(province):
    """The demo province plus the rows the demo does not seed: the records of the action
    matrix (``_seed_action_records``), then one audit row per institution (NX1008611, NX1008622
    and NX1008633; the newest, so that they head the audit list) and one message in the SMS
    outbox."""
    _seed_action_records()
    for account in ("NX1008611", "NX1008622", "NX1008633"):
        inst = _institution(account)
        db.session.add(AuditLog(username="system", entity="institution", entity_id=inst.id,
                                action="note", reason=_audit_reason(account),
                                institution_id=inst.id, admin_path=inst.admin_path))
    now = datetime.datetime.now()
    db.session.add(SmsMessage(mobile=SMS_MOBILE, purpose="bind", code="482913",
                              body="【医师定期考核】您的验证码为482913", created_at=now,
                              expires_at=now + datetime.timedelta(minutes=5)))
    db.session.commit()
    return province


def _row(model, id):
    table = model.__table__
    row = db.session.execute(select(table).where(table.c.id == id)).mappings().first()
    return dict(row) if row is not None else None


def account_snapshot(user_id):
    db.session.expire_all()
    row = _row(AppUser, user_id)
    return {key: row[key] for key in ("password", "must_change_password", "mobile",
                                      "mobile_bound_at", "active")}


def snapshot(record):
    """Everything a refused request must leave as it was."""
    db.session.expire_all()
    state = {"row": _row(record.model, record.id),
             "audit_rows": db.session.query(AuditLog).count()}
    if record.account_id is not None:
        state["account"] = account_snapshot(record.account_id)
    if record.model is Physician:
        table = Enrollment.__table__
        state["enrollments"] = [
            dict(row) for row in db.session.execute(
                select(table).where(table.c.physician_id == record.id).order_by(table.c.id)
            ).mappings()
        ]
    return state


def _arm_account(user_id):
    """Give an account a recognisable password hash and no forced change, so a reset shows."""
    user = db.session.get(AppUser, user_id)
    user.password = SENTINEL_PASSWORD_HASH
    user.must_change_password = False
    db.session.commit()


def _show_link(view, id):
    return re.compile(rf"/{view}/show/{id}(?!\d)")


def _target(view, role, target):
    own, other = RECORDS[view][role]
    key = own if target == "own" else other
    assert key is not None, f"a {target} cell for {view}/{role} but RECORDS names no record"
    return resolve(key)


def _cells(wanted):
    """The cells of EXPECTED whose op passes ``wanted``, one pytest param (and id) each."""
    return [
        pytest.param(view, op, target, role, code, id=f"{view}:{op}:{target}:{role}")
        for (view, op, target, role), code in EXPECTED.items()
        if wanted(op)
    ]


# --- the matrix ----------------------------------------------------------------------------


@pytest.mark.parametrize("view, op, target, role, code", _cells(lambda op: op == "list"))
def test_list(world, as_role, view, op, target, role, code):
    own, other = (resolve(key) if key else None for key in RECORDS[view][role])
    response = as_role(role).get(f"/{view}/list/")
    assert response.status_code == int(code)
    if code != "200":
        return
    page = response.get_data(as_text=True)
    for text in own.texts:
        assert text in page, f"own record's {text!r} missing from {view} list for {role}"
    assert _show_link(view, own.id).search(page), f"no row link to own {view} #{own.id}"
    if other is not None:
        for text in other.texts:
            assert text not in page, f"other tenant's {text!r} leaks into {view} list for {role}"
        assert not _show_link(view, other.id).search(page), (
            f"row link to other tenant's {view} #{other.id} in {role}'s list"
        )


@pytest.mark.parametrize("view, op, target, role, code", _cells(lambda op: op == "show"))
def test_show(world, as_role, view, op, target, role, code):
    record = _target(view, role, target)
    response = as_role(role).get(f"/{view}/show/{record.id}")
    assert response.status_code == int(code)
    page = response.get_data(as_text=True)
    if code == "200":
        assert record.texts[0] in page
    else:
        assert record.texts[0] not in page


@pytest.mark.parametrize("view, op, target, role, code", _cells(lambda op: op not in ("list", "show")))
def test_change(world, as_role, view, op, target, role, code):
    """edit, delete, actions and the roster forms: refused ones change nothing."""
    record = _target(view, role, target)
    client = as_role(role)
    if record.account_id is not None:
        _arm_account(record.account_id)
    before = snapshot(record)

    if op == "edit":
        response = post(client, f"/{view}/edit/{record.id}", EDIT_DATA.get(view, {}))
    elif op == "delete":
        # FAB 5 refuses a GET delete while CSRF protection is on; its form POSTs.
        response = post(client, f"/{view}/delete/{record.id}")
    elif op in FORMS:
        url, data = FORMS[op]
        response = post(client, url.format(id=record.id), data)
    else:
        assert op in ACTIONS, op
        response = post(client, f"/{view}/action_post", {"action": op, "rowid": str(record.id)})

    assert response.status_code == int(code[:3])
    if code == "302":
        assert op == "reset_password"
        account = account_snapshot(record.account_id)
        assert check_password_hash(account["password"], "666666"), "password not reset"
        assert account["must_change_password"] is True
    else:
        assert snapshot(record) == before, f"{op} by {role} on {target} record changed data"


@pytest.mark.parametrize(
    "resource, target, role, code",
    [pytest.param(*key, code, id=f"api:{key[0]}:{key[1]}:{key[2]}")
     for key, code in EXPECTED_API.items()],
)
def test_json_api(world, as_role, resource, target, role, code):
    record = _target(API_VIEWS[resource], role, target)
    client = as_role(role)
    response = client.get(f"/api/v1/{resource}/{record.id}")
    assert response.status_code == int(code)
    if code in ("200", "404"):
        listing = client.get(f"/api/v1/{resource}/?q=(page_size:100)")
        assert listing.status_code == 200
        assert (record.id in listing.get_json()["ids"]) == (code == "200")


@pytest.mark.parametrize("role, code", [pytest.param(r, c, id=f"me:{r}")
                                        for r, c in EXPECTED_SELF_SERVICE.items()])
def test_self_service_home(world, as_role, role, code):
    assert as_role(role).get("/me/").status_code == code


# --- cells outside the grid ----------------------------------------------------------------


@pytest.mark.parametrize("url", CONSOLE_LISTS + SECURITY_LISTS + STAFF_PAGES)
def test_physician_reaches_no_console_view(world, as_role, url):
    assert as_role("physician").get(url).status_code == 403


@pytest.mark.parametrize("role, code", [pytest.param(r, c, id=f"security:{r}")
                                        for r, c in EXPECTED_SECURITY_LISTS.items()])
def test_only_sysadmin_opens_user_and_role_management(world, as_role, role, code):
    client = as_role(role)
    for url in SECURITY_LISTS:
        assert client.get(url).status_code == code, url


def test_console_list_covers_every_registered_model_view(world):
    from flask_appbuilder import ModelView

    registered = {
        f"/{view.route_base.strip('/')}/list/"
        for view in world.appbuilder.baseviews
        if isinstance(view, ModelView)
    }
    assert registered == set(CONSOLE_LISTS + SECURITY_LISTS)


def test_reset_password_with_own_and_other_rowids_is_404_and_resets_neither(world, as_role):
    client = as_role("institution")
    own, other = resolve(P611), resolve(P622)
    for record in (own, other):
        _arm_account(record.account_id)
    before = [snapshot(record) for record in (own, other)]

    response = client.post(
        "/physicianview/action_post",
        data={"csrf_token": _session_token(client), "action": "reset_password",
              "rowid": [str(own.id), str(other.id)]},
    )

    assert response.status_code == 404
    assert [snapshot(record) for record in (own, other)] == before


def _session_token(client):
    page = client.get("/account/password").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("role, view", [
    ("institution", "physicianview"),
    ("district", "institutionview"),
    ("sysadmin", "enrollmentview"),
    ("sysadmin", "physicianview"),
    ("physician", "physicianview"),
])
def test_unknown_action_is_404(world, as_role, role, view):
    record = resolve(RECORDS[view][role][0])
    before = snapshot(record)
    response = post(as_role(role), f"/{view}/action_post",
                    {"action": "no_such_action", "rowid": str(record.id)})
    assert response.status_code == 404
    assert snapshot(record) == before


@pytest.mark.parametrize("role", ["institution", "sysadmin"])
@pytest.mark.parametrize("method", ["put", "delete"])
def test_json_api_is_read_only(world, as_role, role, method):
    record = resolve(P611)
    before = snapshot(record)
    client = as_role(role)
    if method == "put":
        response = client.put(f"/api/v1/physician/{record.id}", json={"name": "被篡改的姓名"})
    else:
        response = client.delete(f"/api/v1/physician/{record.id}")
    assert response.status_code == 403
    assert snapshot(record) == before


def test_action_by_get_is_refused(world, as_role):
    """Actions change data: the GET route never runs them, not even for the sysadmin."""
    record = resolve(P611)
    _arm_account(record.account_id)
    before = snapshot(record)
    response = as_role("sysadmin").get(f"/physicianview/action/reset_password/{record.id}")
    assert response.status_code == 405
    assert snapshot(record) == before


def test_anonymous_cannot_ask_for_a_mobile_code(world):
    client = world.test_client()
    token = csrf_token(client)  # an anonymous session has a CSRF token too (login page)
    response = client.post("/account/mobile/code",
                           data={"csrf_token": token, "mobile": "13900000009"})
    assert response.status_code == 302
    assert "/login/" in response.headers["Location"]
    assert db.session.query(SmsMessage).filter_by(mobile="13900000009").count() == 0


def test_logged_in_user_can_ask_for_a_mobile_code(world, as_role):
    response = post(as_role("physician"), "/account/mobile/code", {"mobile": "13900000009"})
    assert response.status_code == 200
    assert response.get_json()["ok"] is True


def test_anonymous_is_sent_to_login_from_the_console(world):
    response = world.test_client().get("/physicianview/list/")
    assert response.status_code == 302
    assert "/login/" in response.headers["Location"]

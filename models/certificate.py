"""考核结果通知书 / 定期考核合格证明: the certificate of a passed cycle (DOMAIN §10).

A certificate is issued once per passed enrollment, the first time someone prints it, and keeps
what it said when issued (name, masked ID number, institution, category and level, cycle, the
issuing administration), so a later change of the physician's record or institution does not
change a paper already handed out. It carries two identifiers:

- ``number``: the certificate number printed on it (people read it aloud; it is sequential);
- ``code``: the random code in its QR code. The public verification page is found only by
  this code, so nobody can walk the numbers to read who passed.

The administration may revoke it with a reason (e.g. a later cheating decision): the
verification page then says revoked and it can no longer be printed.
"""
import re
import secrets

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from models.base import now

# 128 random bits, URL-safe base64 without padding: 22 characters.
CODE_LENGTH = 22
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{%d}" % CODE_LENGTH)
NUMBER_PREFIX = "DK"


def new_code():
    return secrets.token_urlsafe(16)


def well_formed_code(code):
    return bool(code) and CODE_PATTERN.fullmatch(code) is not None


class Certificate(Model):
    __tablename__ = "certificate"
    id = Column(Integer, primary_key=True)
    enrollment_id = Column(Integer, ForeignKey("enrollment.id"), nullable=False, unique=True)
    enrollment = relationship("Enrollment", backref="certificates")
    # Copied from the enrollment for scoping (the institution that included the physician).
    physician_id = Column(Integer, ForeignKey("physician.id"), nullable=False, index=True)
    institution_id = Column(Integer, ForeignKey("institution.id"), nullable=False, index=True)
    cycle_id = Column(Integer, ForeignKey("cycle.id"), nullable=False)
    number = Column(String(32), nullable=False, unique=True)
    code = Column(String(32), nullable=False, unique=True)
    # What the certificate says, as issued.
    physician_name = Column(String(64), nullable=False)
    masked_id_number = Column(String(32), nullable=False)
    institution_name = Column(String(128), nullable=False)
    practice_category = Column(String(16))
    level = Column(String(16))
    cycle_name = Column(String(64), nullable=False)
    administration_name = Column(String(128), nullable=False)
    issued_at = Column(DateTime, default=now, nullable=False)
    issued_by_id = Column(Integer, ForeignKey("ab_user.id"))
    revoked_at = Column(DateTime)
    revoked_reason = Column(Text)
    revoked_by_id = Column(Integer, ForeignKey("ab_user.id"))

    @property
    def revoked(self):
        return self.revoked_at is not None

    @property
    def practice_category_label(self):
        from models.physician import PRACTICE_CATEGORY

        return PRACTICE_CATEGORY.label(self.practice_category)

    @property
    def level_label(self):
        from models.physician import PHYSICIAN_LEVEL

        return PHYSICIAN_LEVEL.label(self.level)

    @property
    def status_label(self):
        return str(_l("Revoked") if self.revoked else _l("Valid"))

    def __str__(self):
        return self.number


# --- 考核结果: what the results pages show --------------------------------------------------

# The enrollments that have a result, or are waiting for the make-up that decides it.
RESULT_STATES = ("passed", "failed", "awaiting_makeup_confirmation", "awaiting_makeup")


def paper_rows(enrollment):
    """Per paper the physician sits (and the make-up papers once sat): (paper, result or None,
    exempted). A waived kind shows as 免考 without a result."""
    from models.exam_rules import papers_for, result_for, waived_kinds

    waived = waived_kinds(enrollment)
    rows = []
    for makeup in (False, True):
        for kind, paper in papers_for(enrollment, makeup).items():
            result = result_for(enrollment, paper)
            if makeup and result is None:
                continue
            rows.append((paper, result, kind in waived))
    return rows


def failure_reason(enrollment):
    """Why the cycle result is 不合格: a 不合格 rating, a failed make-up, a declined make-up or
    another decision (its reason as recorded); None when it is not 不合格."""
    from flask_babel import gettext as _
    from sqlalchemy import select

    from app.extensions import db
    from models.audit import AuditLog
    from models.enrollment import RATING

    if enrollment.state != "failed":
        return None
    reasons = []
    if enrollment.work_rating == RATING.FAIL:
        reasons.append(_("Work performance rated unqualified"))
    if enrollment.ethics_rating == RATING.FAIL:
        reasons.append(_("Professional ethics rated unqualified"))
    last = db.session.scalars(select(AuditLog).where(
        AuditLog.entity == "enrollment", AuditLog.entity_id == enrollment.id,
        AuditLog.to_state == "failed").order_by(AuditLog.id.desc())).first()
    if last is not None and last.action == "makeup_failed":
        reasons.append(_("The make-up exam was not passed"))
    elif last is not None and last.action == "makeup_declined":
        reasons.append(_("The make-up exam was not granted"))
    if enrollment.reject_reason:
        reasons.append(enrollment.reject_reason)
    return _("; ").join(reasons) if reasons else _("Unqualified")


# --- 历史考核结果查询: the filtered, scoped list and its export ------------------------------

RESULT_FILTER = ("passed", "failed", "pending")
FILTER_KEYS = ("cycle", "name", "id_number", "department", "institution", "category", "level",
               "procedure", "result")


def result_filters(args):
    """The list's filters from the query string, trimmed; unknown keys dropped."""
    return {key: (args.get(key) or "").strip() for key in FILTER_KEYS
            if (args.get(key) or "").strip()}


def results_query(actor, filters):
    """Enrollments with a result (any cycle) the actor may print, filtered as the manual's
    报名进度 filters plus the cycle and the institution: a select of Enrollment."""
    from sqlalchemy import select

    from models import Department, Enrollment, Institution, Physician
    from security import idcard, scope

    query = scope.restrict(select(Enrollment), Enrollment, actor, scope.PRINT).join(
        Physician, Physician.id == Enrollment.physician_id).join(
        Institution, Institution.id == Enrollment.institution_id)
    result = filters.get("result")
    if result == "passed":
        query = query.where(Enrollment.state == "passed")
    elif result == "failed":
        query = query.where(Enrollment.state == "failed")
    elif result == "pending":
        query = query.where(Enrollment.state.in_(RESULT_STATES[2:]))
    else:
        query = query.where(Enrollment.state.in_(RESULT_STATES))
    if filters.get("cycle", "").isdigit():
        query = query.where(Enrollment.cycle_id == int(filters["cycle"]))
    if filters.get("name"):
        query = query.where(Physician.name.contains(filters["name"]))
    if filters.get("id_number"):
        try:
            number = idcard.normalize(filters["id_number"])
        except idcard.InvalidIdNumber:
            number = filters["id_number"].upper()
        query = query.where(Physician.id_number == number)
    if filters.get("department"):
        query = query.where(Physician.department_id.in_(
            select(Department.id).where(Department.name == filters["department"])))
    if filters.get("institution"):
        query = query.where(Institution.name.contains(filters["institution"]))
    for key, column in (("category", Physician.practice_category), ("level", Physician.level),
                        ("procedure", Enrollment.procedure)):
        if filters.get(key):
            query = query.where(column == filters[key])
    return query


def filters_in_words(filters):
    """The list's filters as the user reads them (the first line of the export)."""
    from flask_babel import gettext as _

    from app.extensions import db
    from models import Cycle
    from models.enrollment import PROCEDURE
    from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY
    from security import idcard

    labels = {"cycle": _l("Assessment cycle"), "institution": _l("Institution"),
              "department": _l("Department"), "name": _l("Full name"),
              "id_number": _l("ID number"), "category": _l("Practice category"),
              "level": _l("Physician level"), "procedure": _l("Procedure"),
              "result": _l("Assessment result")}
    results = {"passed": _l("Passed"), "failed": _l("Failed"), "pending": _l("Awaiting make-up")}
    words = []
    for key in FILTER_KEYS:
        value = (filters.get(key) or "").strip()
        if not value:
            continue
        if key == "cycle" and value.isdigit():
            cycle = db.session.get(Cycle, int(value))
            value = cycle.name if cycle else value
        elif key == "id_number":
            value = idcard.mask(value)
        elif key in ("category", "level", "procedure"):
            choices = {"category": PRACTICE_CATEGORY, "level": PHYSICIAN_LEVEL,
                       "procedure": PROCEDURE}[key]
            value = choices.label(value) if value in choices else value
        elif key == "result":
            value = str(results.get(value, value))
        words.append(f"{labels[key]} {value}")
    return _("; ").join(words)


def export_rows(session, id_select, labels, chunk=2000):
    """One row per enrollment whose id is in ``id_select``, read in chunks (the export job)."""
    from sqlalchemy import select

    from models import Cycle, Department, Enrollment, Institution, Physician
    from models.enrollment import ENROLLMENT_STATE, PROCEDURE
    from models.physician import PHYSICIAN_LEVEL, PRACTICE_CATEGORY

    statement = (
        select(Physician.name, Physician.id_number, Institution.name, Department.name,
               Physician.practice_category, Physician.level, Cycle.name, Enrollment.procedure,
               Enrollment.state, Certificate.number, Certificate.revoked_at)
        .select_from(Enrollment)
        .join(Physician, Physician.id == Enrollment.physician_id)
        .join(Institution, Institution.id == Enrollment.institution_id)
        .join(Cycle, Cycle.id == Enrollment.cycle_id)
        .outerjoin(Department, Department.id == Physician.department_id)
        .outerjoin(Certificate, Certificate.enrollment_id == Enrollment.id)
        .where(Enrollment.id.in_(id_select))
        .order_by(Cycle.id.desc(), Institution.id, Enrollment.id)
        .execution_options(yield_per=chunk))
    revoked = str(_l("Revoked"))
    for index, row in enumerate(session.execute(statement), start=1):
        (name, number, institution, department, category, level, cycle, procedure, state,
         certificate, revoked_at) = row
        yield [index, name, number, institution, department or "",
               labels(PRACTICE_CATEGORY, category), labels(PHYSICIAN_LEVEL, level), cycle,
               labels(PROCEDURE, procedure), labels(ENROLLMENT_STATE, state), certificate or "",
               revoked if revoked_at else ""]

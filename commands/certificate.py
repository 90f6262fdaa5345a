"""打印 (issue) and 撤销 (revoke) certificates.

A certificate is issued the first time a passed enrollment is printed, by the physician, the
institution that included them or an administration above it (``scope.PRINT``); printing it
again returns the same certificate. Issuing locks the enrollment, so two simultaneous prints
make one certificate. The administration revokes one with a reason (``scope.DECIDE``).
"""
from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from commands import command, lock, user_of
from models import Certificate, Cycle, Department, Enrollment, Physician
from models.audit import record as audit
from models.base import Refused, now
from models.certificate import NUMBER_PREFIX, new_code
from models.enrollment import ENROLLMENT_STATE
from security import scope

# One batch prints at most this many certificates (a department of a large hospital): the
# PDF is held until written (~21 MB per 1,000 pages), so this keeps a batch job under 200 MB
# (bench/certificate.py: 186 MB peak at 1,000, the app's 119 MB included).
BATCH_LIMIT = 1000


class CertificateRefused(Refused):
    """Printing or revoking was refused; the message is for the user."""


def _passed(enrollment):
    return enrollment.state == ENROLLMENT_STATE.PASSED and enrollment.result == "pass"


def _existing(enrollment):
    return db.session.scalars(select(Certificate).where(
        Certificate.enrollment_id == enrollment.id)).first()


def _issue(enrollment, user):
    """The enrollment's certificate, issued now if it has none; the enrollment is locked."""
    certificate = _existing(enrollment)
    if certificate is not None:
        if certificate.revoked:
            raise CertificateRefused(_("The certificate of %(name)s has been revoked: %(reason)s",
                                       name=certificate.physician_name,
                                       reason=certificate.revoked_reason))
        return certificate
    if not _passed(enrollment):
        raise CertificateRefused(_("%(name)s has not passed the assessment (%(state)s): only a "
                                   "qualified physician has a certificate",
                                   name=enrollment.physician.name,
                                   state=enrollment.state_label))
    physician, institution = enrollment.physician, enrollment.institution
    code = new_code()
    certificate = Certificate(
        enrollment=enrollment, physician_id=physician.id, institution_id=institution.id,
        cycle_id=enrollment.cycle_id, code=code, number=code,  # the number needs the id
        physician_name=physician.name, masked_id_number=physician.masked_id_number,
        institution_name=institution.name, practice_category=physician.practice_category,
        level=physician.level, cycle_name=enrollment.cycle.name,
        administration_name=institution.administration.name, issued_at=now(),
        issued_by_id=user.id if user is not None else None)
    db.session.add(certificate)
    db.session.flush()
    certificate.number = f"{NUMBER_PREFIX}{certificate.issued_at:%Y}{certificate.id:08d}"
    audit("certificate", certificate.id, "issue", institution=institution, user=user)
    return certificate


@command
def issue(actor, enrollment_id):
    """打印 one physician's certificate: the certificate (issued now or before)."""
    enrollment = lock(scope.require(actor, scope.PRINT, Enrollment, enrollment_id))
    return _issue(enrollment, user_of(actor))


def batch_enrollments(actor, enrollment_ids=None, department_id=None):
    """The enrollments a batch prints: the selected rows (every one must be 合格), or every
    合格 physician of a department in the current cycle whose certificate is not revoked."""
    if department_id:
        department = scope.require(actor, scope.READ, Department, department_id)
        cycle = Cycle.require_current(Cycle.current())
        revoked = select(Certificate.enrollment_id).where(Certificate.revoked_at.is_not(None))
        ids = db.session.scalars(scope.restrict(select(Enrollment.id), Enrollment, actor,
                                                scope.PRINT).join(Physician).where(
            Physician.department_id == department.id, Enrollment.cycle_id == cycle.id,
            Enrollment.state == ENROLLMENT_STATE.PASSED,
            Enrollment.id.not_in(revoked)).order_by(Enrollment.id)).all()
        if not ids:
            raise CertificateRefused(_("No physician of %(department)s has passed the "
                                       "assessment", department=department.name))
        return ids
    if not enrollment_ids:
        raise CertificateRefused(_("Please choose the physicians whose certificates to print"))
    return sorted({int(i) for i in enrollment_ids})


@command
def issue_batch(actor, enrollment_ids):
    """打印 several: all of them are issued, or none (one not 合格 refuses the batch)."""
    if not enrollment_ids:
        raise CertificateRefused(_("Please choose the physicians whose certificates to print"))
    if len(enrollment_ids) > BATCH_LIMIT:
        raise CertificateRefused(_("At most %(count)s certificates can be printed at once",
                                   count=BATCH_LIMIT))
    enrollments = scope.require_all(actor, scope.PRINT, Enrollment, enrollment_ids)
    lock(*enrollments)
    not_passed = [e.physician.name for e in enrollments if not _passed(e)]
    if not_passed:
        raise CertificateRefused(_("Only qualified physicians have certificates; not qualified: "
                                   "%(names)s", names=_("、").join(not_passed[:10])))
    user = user_of(actor)
    return [_issue(enrollment, user).id for enrollment in enrollments]


@command
def revoke(actor, certificate_id, reason):
    """撤销 by the administration, with the reason the verification page shows."""
    certificate = lock(scope.require(actor, scope.DECIDE, Certificate, certificate_id))
    reason = (reason or "").strip()
    if certificate.revoked:
        raise CertificateRefused(_("This certificate has already been revoked"))
    if not reason:
        raise CertificateRefused(_("Please give the reason"))
    if len(reason) > 500:
        raise CertificateRefused(_("The reason is at most %(count)s characters", count=500))
    user = user_of(actor)
    certificate.revoked_at = now()
    certificate.revoked_reason = reason
    certificate.revoked_by_id = user.id if user is not None else None
    audit("certificate", certificate.id, "revoke", reason=reason,
          institution=certificate.enrollment.institution, user=user)
    return certificate


def printable(actor, certificate_id):
    """A certificate the actor may read and print: not revoked (a revoked one says why)."""
    certificate = scope.require(actor, scope.READ, Certificate, certificate_id)
    if certificate.revoked:
        raise CertificateRefused(_("The certificate of %(name)s has been revoked: %(reason)s",
                                   name=certificate.physician_name,
                                   reason=certificate.revoked_reason))
    return certificate

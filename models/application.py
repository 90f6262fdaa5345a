"""申请考核机构: an institution applies, with 4 required and 1 optional attachment, once its
administration has opened the application for it and inside the schedule window; the
administration approves (the institution becomes an assessment institution) or rejects."""
import datetime

from flask_appbuilder.security.sqla.models import Role

from app.extensions import db
from models.base import Refused
from models.account import AppUser
from models.audit import record as audit
from models.institution import (
    APPLICATION_STATE,
    ApplicationAttachment,
    AssessmentApplication,
)
from security import roles

SLOTS = {
    1: ("医师定期考核机构信息登记表", True),
    2: ("医疗机构执业许可证/中华人民共和国机构账号证/社会团体法人登记证书副本、复印件", True),
    3: ("拟成立的医师定期考核委员会组织架构、成员名单及个人简历", True),
    4: ("医师定期考核工作制度和具体实施方案", True),
    5: ("省级卫生行政部门规定的其他材料", False),
}
EDITABLE = (APPLICATION_STATE.DRAFT, APPLICATION_STATE.REJECTED)


class ApplicationRefused(Refused):
    """The application step was refused; the message is for the user."""


def check_may_apply(institution, cycle, today=None):
    if institution.is_assessment:
        raise ApplicationRefused("本机构已是考核机构，无需再次申请")
    if not institution.application_open:
        raise ApplicationRefused("主管卫生行政部门尚未开通本机构的考核机构申请权限")
    window = cycle.window("assessment_application") if cycle is not None else None
    if window is None:
        raise ApplicationRefused("当前周期未安排考核机构申请")
    if not window.is_open(today or datetime.date.today()):
        raise ApplicationRefused(
            f"不在考核机构申请时间内（{window.start_date} ~ {window.end_date}）")


def current_application(institution, cycle):
    return (
        db.session.query(AssessmentApplication)
        .filter_by(institution_id=institution.id, cycle_id=cycle.id)
        .order_by(AssessmentApplication.id.desc())
        .first()
    ) if cycle is not None else None


def attach(institution, cycle, slot, stored, today=None):
    check_may_apply(institution, cycle, today)
    if slot not in SLOTS:
        raise ApplicationRefused("附件类别不正确")
    application = current_application(institution, cycle)
    if application is None:
        application = AssessmentApplication(institution_id=institution.id, cycle_id=cycle.id,
                                            state=APPLICATION_STATE.DRAFT)
        db.session.add(application)
        db.session.flush()
    if application.state not in EDITABLE:
        raise ApplicationRefused("申请已提交，不能修改附件")
    existing = next((a for a in application.attachments if a.slot == slot), None)
    if existing is not None:
        existing.file = stored
    else:
        db.session.add(ApplicationAttachment(application=application, slot=slot, file=stored))
    return application


def submit(institution, cycle, today=None):
    check_may_apply(institution, cycle, today)
    application = current_application(institution, cycle)
    if application is None or application.state not in EDITABLE:
        raise ApplicationRefused("请先上传申请附件" if application is None else "申请已提交，请等待审批")
    have = {a.slot for a in application.attachments}
    missing = [SLOTS[slot][0] for slot, (_, required) in SLOTS.items()
               if required and slot not in have]
    if missing:
        raise ApplicationRefused("请上传必传附件：" + "；".join(missing))
    before = application.state
    application.state = APPLICATION_STATE.SUBMITTED
    application.submitted_at = datetime.datetime.now()
    application.reason = None
    audit("assessment_application", application.id, "submit", institution=institution,
          from_state=before, to_state=application.state)
    return application


def decide(application, approve, reason=None, user=None):
    """The administration's decision; approval gives the institution's accounts the role."""
    if application.state != APPLICATION_STATE.SUBMITTED:
        raise ApplicationRefused("该申请不在待审批状态")
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ApplicationRefused("请填写驳回原因")
    before = application.state
    application.state = APPLICATION_STATE.APPROVED if approve else APPLICATION_STATE.REJECTED
    application.reason = reason or None
    application.decided_at = datetime.datetime.now()
    application.decided_by_id = user.id if user is not None else None
    institution = application.institution
    if approve:
        institution.is_assessment = True
        institution.application_open = False
        role = db.session.query(Role).filter_by(name=roles.ASSESSMENT).one()
        for account in db.session.query(AppUser).filter_by(institution_id=institution.id):
            if role not in account.roles:
                account.roles.append(role)
    audit("assessment_application", application.id, "approve" if approve else "reject",
          institution=institution, from_state=before, to_state=application.state,
          reason=reason or None, user=user)
    return application

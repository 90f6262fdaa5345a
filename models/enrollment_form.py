"""我要报名: the five steps' rules — what each step needs, the years-of-practice and 简易程序
eligibility computation, the frozen copy of a submission and what changed since the last one.

Plain functions over the models so that tests call them without a request; the self-service
views translate forms to these calls."""
import datetime

from app.extensions import db
from models.base import Refused
from models import workflow
from models.enrollment import ENROLLMENT_STATE as S
from models.enrollment import PROCEDURE, Submission
from models.physician import (
    EMPLOYMENT,
    EXPERIENCE_KIND,
    GENDER,
    PHYSICIAN_LEVEL,
    PRACTICE_CATEGORY,
    TITLE,
)

STEPS = {
    1: "基本信息",
    2: "执业信息",
    3: "相关经历",
    4: "工作成绩、职业道德",
    5: "考核程序",
}
EDITABLE_STATES = (S.PENDING_ENROLLMENT, S.REJECTED_BY_INSTITUTION, S.REJECTED_BY_ADMINISTRATION)
STATEMENT_LIMIT = 2000

# The physician sees the manual's own words for where they are (DOMAIN §7, manual 001).
PHYSICIAN_STATE_TEXT = {
    S.PENDING_ENROLLMENT: "已开通报名",
    S.REJECTED_BY_INSTITUTION: "待报名（被机构驳回）",
    S.REJECTED_BY_ADMINISTRATION: "待报名（被行政机构驳回）",
    S.PENDING_INSTITUTION_REVIEW: "已报名-待医疗卫生机构审核",
    S.RETURNED_BY_ASSESSMENT: "已报名-待医疗卫生机构审核",
    S.PENDING_ASSESSMENT_REVIEW: "已报名-待考核机构复核",
    S.AWAITING_EXAM: "报名完成-等待测评",
    S.AWAITING_MAKEUP_CONFIRMATION: "待确认补考",
    S.AWAITING_MAKEUP: "待参加补考",
    S.PASSED: "合格",
    S.FAILED: "不合格",
    S.CANCELLED: "未开通报名",
}

SIMPLE_CONDITIONS = {
    "1": "具有5年以上执业经历，且考核周期内有良好行为记录",
    "2": "具有12年以上执业经历，且考核周期内无不良行为记录",
    "3": "在本考核周期内通过晋升上一级专业技术职务考试",
    "4": "在本考核周期内按规定通过住院医师规范化培训",
}


class EnrollmentRefused(Refused):
    """The step or the submission was refused; the message is for the user."""


def state_text(enrollment):
    return "未开通报名，请联系医疗卫生机构" if enrollment is None else PHYSICIAN_STATE_TEXT.get(
        enrollment.state, enrollment.state_label)


def check_editable(enrollment, today=None):
    """The physician may fill in and submit: included, in the window, not already submitted."""
    if enrollment is None or enrollment.state == S.CANCELLED:
        raise EnrollmentRefused("未开通报名，请联系所在医疗卫生机构将您纳入本考核周期")
    window = enrollment.cycle.window("enrollment")
    today = today or datetime.date.today()
    if window is None or not window.is_open(today):
        span = f"（{window.start_date} ~ {window.end_date}）" if window else ""
        raise EnrollmentRefused(f"不在医师报名时间内{span}，不能填报或提交")
    if enrollment.state not in EDITABLE_STATES:
        raise EnrollmentRefused("报名信息已提交，正在审核中，不能修改")


def mark_step_done(enrollment, step):
    enrollment.completed_steps = (enrollment.completed_steps or 0) | (1 << (step - 1))


def step_done(enrollment, step):
    return bool((enrollment.completed_steps or 0) & (1 << (step - 1)))


def missing_steps(enrollment):
    return [STEPS[n] for n in STEPS if not step_done(enrollment, n)]


# --- eligibility ---------------------------------------------------------------------------


def years_of_practice(physician, cutoff):
    """Whole years from the first registration to the cycle's cut-off date."""
    start = physician.first_registration_date
    if start is None or start > cutoff:
        return 0
    years = cutoff.year - start.year - ((cutoff.month, cutoff.day) < (start.month, start.day))
    return max(years, 0)


def eligibility(physician, enrollment):
    """Which 简易程序 conditions the physician appears to meet, with the facts used.

    The same computation is shown to the physician (step 5) and beside the claim to reviewers.
    """
    cycle = enrollment.cycle
    assessment = (enrollment.form_data or {}).get("assessment", {})
    good = assessment.get("good_record") == "yes"
    bad = assessment.get("bad_record") == "yes"
    years = years_of_practice(physician, cycle.cutoff_date)
    in_cycle = (lambda d: d is not None and cycle.start_date <= d <= cycle.end_date)
    met = {
        "1": years >= 5 and good and not bad,
        "2": years >= 12 and not bad,
        "3": in_cycle(physician.title_date),
        "4": bool(assessment.get("residency_in_cycle") == "yes"),
    }
    return {
        "years": years,
        "cutoff": cycle.cutoff_date,
        "first_registration_date": physician.first_registration_date,
        "conditions": [(code, text, met[code]) for code, text in SIMPLE_CONDITIONS.items()],
        "any": any(met.values()),
    }


# --- step rules ----------------------------------------------------------------------------


def validate_practice(physician, department, specialties, institution_id):
    if department is None or department.institution_id != institution_id:
        raise EnrollmentRefused("请选择本机构的科室")
    if not department.enabled:
        raise EnrollmentRefused(f"科室“{department.name}”已停用，请选择已启用的科室")
    allowed = {subject.id for subject in department.subjects}
    if not specialties:
        raise EnrollmentRefused("请选择从事专业")
    if any(subject.id not in allowed for subject in specialties):
        raise EnrollmentRefused("从事专业须为所选科室关联的诊疗科目")
    if not physician.is_trainee and not (physician.practice_scope or "").strip():
        raise EnrollmentRefused("请填写执业范围（规培生除外）")


def validate_procedure(procedure, condition, statement, proof_count):
    if procedure not in PROCEDURE:
        raise EnrollmentRefused("请选择考核程序")
    if len(statement or "") > STATEMENT_LIMIT:
        raise EnrollmentRefused(f"个人述职不能超过{STATEMENT_LIMIT}字")
    if procedure == PROCEDURE.SIMPLE:
        if condition not in SIMPLE_CONDITIONS:
            raise EnrollmentRefused("请选择符合的简易程序条件")
        if proof_count == 0:
            raise EnrollmentRefused("简易程序须上传证明材料")
        if not (statement or "").strip():
            raise EnrollmentRefused("简易程序须填写个人述职")


# --- submission ----------------------------------------------------------------------------


def snapshot(enrollment):
    """Everything the physician submits, as labelled sections (what reviewers read)."""
    p = enrollment.physician
    data = enrollment.form_data or {}
    assessment = data.get("assessment", {})
    yes_no = {"yes": "有", "no": "无"}
    pass_fail = {"pass": "合格", "fail": "不合格"}
    sections = {
        "基本信息": {
            "姓名": p.name, "证件号码": p.id_number, "性别": GENDER.label(p.gender),
            "民族": p.ethnicity, "出生日期": str(p.birth_date or ""), "学历": p.education,
            "电子邮件": p.email, "手机号": p.mobile,
        },
        "执业信息": {
            "科室": p.department.name if p.department else "",
            "从事专业": "、".join(sorted(s.name for s in p.specialties)),
            "职称": TITLE.label(p.title), "职称取得时间": str(p.title_date or ""),
            "职务": p.position, "任职时间": str(p.position_date or ""),
            "医师级别": PHYSICIAN_LEVEL.label(p.level), "是否规培生": "是" if p.is_trainee else "否",
            "执业类别": PRACTICE_CATEGORY.label(p.practice_category),
            "执业范围": p.practice_scope, "在职状态": EMPLOYMENT.label(p.employment),
            "资格证书编码": p.qualification_no,
            "资格证取得时间": str(p.qualification_date or ""),
            "执业证书编码": p.certificate_no,
            "执业证取得时间": str(p.certificate_date or ""),
            "首次注册时间": str(p.first_registration_date or ""),
        },
        "相关经历": {
            f"{EXPERIENCE_KIND.label(e.kind)} {i}": " ".join(filter(None, [
                e.organisation, str(e.start_date or ""), "至", str(e.end_date or ""),
                e.description]))
            for i, e in enumerate(sorted(p.experiences, key=lambda e: (e.kind, e.id)), start=1)
        },
        "工作成绩、职业道德": {
            "良好执业行为记录": yes_no.get(assessment.get("good_record"), ""),
            "表彰奖励、政府指令性任务、科研成果": assessment.get("good_detail", ""),
            "不良执业行为记录": yes_no.get(assessment.get("bad_record"), ""),
            "不良记录说明": assessment.get("bad_detail", ""),
            "完成工作数量": pass_fail.get(assessment.get("work_quantity"), ""),
            "接诊病人数（人次/周期）": assessment.get("patients", ""),
            "手术量（例/周期）": assessment.get("surgeries", ""),
            "检验/检查量（例/周期）": assessment.get("tests", ""),
            "查房（次/周期）": assessment.get("ward_rounds", ""),
            "工作质量": assessment.get("work_quality", ""),
            "直接认定职业道德不合格的情形": yes_no.get(assessment.get("ethics_fail"), ""),
            "本周期内通过住院医师规范化培训": yes_no.get(assessment.get("residency_in_cycle"), ""),
        },
        "考核程序": {
            "考核程序": PROCEDURE.label(enrollment.procedure),
            "简易程序条件": SIMPLE_CONDITIONS.get(enrollment.simple_condition or "", ""),
            "个人述职": enrollment.statement or "",
            "证明材料": str(len(data.get("proof_ids", []))) + " 份",
        },
    }
    return {section: {k: (v if v is not None else "") for k, v in fields.items()}
            for section, fields in sections.items()}


def changes(previous, current):
    """Field-by-field differences between two snapshots: [(section, field, before, after)]."""
    out = []
    for section, fields in current.items():
        before = (previous or {}).get(section, {})
        for name in list(fields) + [name for name in before if name not in fields]:
            old, new = before.get(name, ""), fields.get(name, "")
            if old != new:
                out.append((section, name, old, new))
    return out


def submit(enrollment, user=None, today=None):
    """提交信息: all five steps done, inside the window, once; freezes what was submitted."""
    check_editable(enrollment, today)
    missing = missing_steps(enrollment)
    if missing:
        raise EnrollmentRefused("请先完成：" + "、".join(missing))
    try:
        workflow.apply(enrollment, "submit", user=user)
    except workflow.TransitionRefused as refused:
        raise EnrollmentRefused(str(refused)) from None
    version = len(enrollment.submissions) + 1
    db.session.add(Submission(enrollment=enrollment, version=version, data=snapshot(enrollment)))
    enrollment.submitted_at = datetime.datetime.now()
    return enrollment


def latest_changes(enrollment):
    """What changed in the latest submission compared with the one before it."""
    versions = sorted(enrollment.submissions, key=lambda s: s.version)
    if len(versions) < 2:
        return []
    return changes(versions[-2].data, versions[-1].data)

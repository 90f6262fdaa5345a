"""The physician's pages on the phone (manuals 001, 003, 004): home with 当前任务 and 常用工具,
在线客服, 我要报名's labels and the registered numbers the physician cannot change, 相关经历 in
three sections, 工作成绩 with its +添加 lists, and the page after approval."""
import datetime
import re

import pytest

from app.extensions import db
from models import Enrollment, Experience, Physician
from models import enrollment_form as ef
from models import workflow
from models.enrollment import ENROLLMENT_STATE as S
from tests.test_enrollment import _post, fill_all_steps


def _enrollment():
    return db.session.query(Enrollment).join(Physician).filter(Physician.name == "王医生").one()


def _physician():
    db.session.expire_all()
    return db.session.query(Physician).filter_by(name="王医生").one()


def _text(response):
    return response.get_data(as_text=True)


def _error(response):
    match = re.search(r'class="dk-error"[^>]*>([^<]+)<', _text(response))
    return match.group(1).strip() if match else None


@pytest.fixture()
def doctor(as_role):
    return as_role("physician")


# --- home and 在线客服 ----------------------------------------------------------------------


def test_home_shows_the_current_task_and_the_common_tools_in_the_manuals_order(doctor):
    page = _text(doctor.get("/me/"))
    assert "当前任务" in page and "已开通报名" in page and "【我要报名】" in page
    tools = re.findall(r'id="tool-[a-z]+">([^<]+)<', page)
    assert tools == ["我要报名", "我要学习", "参加考试", "考核结果", "免考申请", "在线客服", "常见问题"]
    assert 'href="/account/password"' in page and "账户设置" in page
    assert 'href="/account/mobile"' in page and "更换手机号" in page


def test_account_settings_and_change_mobile_lead_back_home(doctor):
    for url in ("/account/password", "/account/mobile"):
        page = _text(doctor.get(url))
        assert 'id="back-home"' in page and "返回首页" in page, url


def test_online_service_lists_the_institution_and_the_administration(doctor):
    page = _text(doctor.get("/me/contact"))
    assert "在线客服" in page
    assert "演示市第一人民医院" in page and "李娜" in page and "0898-66000001" in page
    physician = _physician()
    administration = physician.institution.administration
    assert administration.name in page
    assert doctor.get("/me/").status_code == 200


# --- 我要报名: labels, registered numbers -------------------------------------------------------


def test_step_one_reads_as_the_manual(doctor):
    page = _text(doctor.get("/me/enroll/1"))
    for label in ("姓名", "出生年月", "证件类型", "身份证", "证件编号"):
        assert label in page, label
    assert "名称" not in page
    assert 'name="id_number"' not in page and 'name="name"' not in page


def test_step_two_shows_the_registered_numbers_without_fields(doctor):
    physician = _physician()
    page = _text(doctor.get("/me/enroll/2"))
    assert "执业情况" in page and "资格证书编号" in page and "执业证书编号" in page
    assert physician.certificate_no in page
    assert 'name="certificate_no"' not in page and 'name="qualification_no"' not in page


@pytest.mark.parametrize("step,field", [(1, "id_number"), (1, "name"), (2, "certificate_no"),
                                         (2, "qualification_no")])
def test_the_registered_numbers_cannot_be_changed_by_a_crafted_post(doctor, step, field):
    fill_all_steps(doctor)
    before = _physician()
    kept = {name: getattr(before, name) for name in ef_fields()}
    step_data = {1: {"gender": "male", "ethnicity": "汉族", "education": "本科",
                     "mobile": "13900000001"},
                 2: {}}[step]
    response = _post(doctor, f"/me/enroll/{step}", {**step_data, field: "99999999"})
    assert response.status_code == 400
    assert "来源于电子化注册，不允许修改" in _error(response)
    after = _physician()
    assert {name: getattr(after, name) for name in ef_fields()} == kept


def ef_fields():
    return ("name", "id_number", "qualification_no", "certificate_no")


def test_the_preview_button_reads_submit_information(doctor):
    fill_all_steps(doctor)
    assert "提交信息" in _text(doctor.get("/me/enroll/preview"))


def test_after_approval_enroll_shows_the_manuals_page(doctor):
    fill_all_steps(doctor)
    assert _post(doctor, "/me/enroll/submit").status_code == 302
    workflow.force(_enrollment(), S.AWAITING_EXAM, reason="test set-up")
    db.session.commit()
    page = doctor.get("/me/enroll")
    assert page.status_code == 200
    text = _text(page)
    assert "个人报名信息已通过审核，请按通知时间及时参加测评" in text
    assert "查看信息" in text and "参加测评" in text
    assert "请关注后续考试通知" in _text(doctor.get("/me/"))


# --- 相关经历 ---------------------------------------------------------------------------------


def _rows(kind=None):
    query = db.session.query(Experience).join(Physician).filter(Physician.name == "王医生")
    if kind:
        query = query.filter(Experience.kind == kind)
    return query.order_by(Experience.id).all()


def test_related_experience_has_three_sections_to_add_edit_and_delete(doctor):
    page = _text(doctor.get("/me/enroll/3"))
    for title in ("教育经历", "工作经历", "执业变更经历"):
        assert title in page
    assert page.count("+添加") == 3 and "变更前" not in page
    form = _text(doctor.get("/me/enroll/3?add=change"))
    assert "开始" in form and "结束" in form and 'name="kind" value="change"' in form

    for kind, organisation in (("education", "海南医学院"), ("practice", "演示市第一人民医院"),
                               ("change", "演示市第二人民医院")):
        response = _post(doctor, "/me/enroll/3", {
            "kind": kind, "organisation": organisation, "start_date": "2010-09-01",
            "end_date": "" if kind == "practice" else "2015-07-01", "description": "说明",
            "save": "1"})
        assert response.status_code == 302, _error(response)
    assert [r.kind for r in _rows()] == ["education", "practice", "change"]
    page = _text(doctor.get("/me/enroll/3"))
    assert "海南医学院" in page and "至今" in page and "演示市第二人民医院" in page

    change = _rows("change")[0]
    edit = _text(doctor.get(f"/me/enroll/3?edit={change.id}"))
    assert 'value="演示市第二人民医院"' in edit and f'name="row_id" value="{change.id}"' in edit
    assert _post(doctor, "/me/enroll/3", {"kind": "change", "row_id": str(change.id),
                                          "organisation": "演示省人民医院",
                                          "start_date": "2015-07-01", "end_date": "2016-01-01",
                                          "save": "1"}).status_code == 302
    db.session.expire_all()
    assert _rows("change")[0].organisation == "演示省人民医院"
    bad = _post(doctor, "/me/enroll/3", {"kind": "change", "row_id": str(change.id),
                                         "organisation": "X医院", "start_date": "2017-01-01",
                                         "end_date": "2016-01-01", "save": "1"})
    assert bad.status_code == 400 and "开始时间不能晚于结束时间" in _error(bad)
    assert 'value="X医院"' in _text(bad)  # what was typed is still there
    db.session.expire_all()
    assert _rows("change")[0].organisation == "演示省人民医院"

    assert _post(doctor, "/me/enroll/3", {"delete": str(change.id)}).status_code == 302
    assert not _rows("change")


def test_older_experience_rows_stay_shown(doctor):
    physician = _physician()
    db.session.add(Experience(physician_id=physician.id, kind="research", organisation="课题甲",
                              start_date=datetime.date(2020, 1, 1)))
    db.session.commit()
    page = _text(doctor.get("/me/enroll/3"))
    assert "课题甲" in page and "科研成果" in page
    # No new row of an older kind.
    refused = _post(doctor, "/me/enroll/3", {"kind": "research", "organisation": "课题乙",
                                             "save": "1"})
    assert refused.status_code == 400


# --- 工作成绩 ---------------------------------------------------------------------------------

STEP4 = {"good_record": "yes", "bad_record": "no", "work_quantity": "pass", "ethics_fail": "no",
         "work_quality_result": "pass", "gov_work": "fail", "next": "1"}


def _post_lists(client, data, lists):
    """A form with repeated fields (the +添加 entries), as the browser posts them."""
    from tests.test_enrollment import _token

    payload = [("csrf_token", _token(client))] + list(data.items())
    for name, items in lists.items():
        payload += [(name, item) for item in items]
    from werkzeug.datastructures import MultiDict

    return client.post("/me/enroll/4", data=MultiDict(payload))


def test_work_performance_lists_and_ratings_are_saved_and_shown_again(doctor):
    response = _post_lists(doctor, STEP4, {"awards": ["2024年市级先进个人", "", "2025年优秀医师"],
                                           "gov_tasks": ["援疆医疗队"], "research": []})
    assert response.status_code == 302, _error(response)
    assessment = _enrollment().form_data["assessment"]
    assert assessment["awards"] == ["2024年市级先进个人", "2025年优秀医师"]
    assert assessment["gov_tasks"] == ["援疆医疗队"] and assessment["research"] == []
    assert assessment["work_quality_result"] == "pass" and assessment["gov_work"] == "fail"
    page = _text(doctor.get("/me/enroll/4"))
    for text in ("受到的表彰、奖励", "完成的政府指令性任务", "取得的科研成果", "+添加",
                 'value="2025年优秀医师"', 'value="援疆医疗队"', "完成工作质量",
                 "完成政府指令性工作情况"):
        assert text in page, text
    assert 'id="work_quality_result-pass" checked' in page and 'id="gov_work-fail" checked' in page
    assert "医德医风自评" not in page  # the province setting is off by default
    sections = ef.snapshot(_enrollment())
    fields = sections["工作成绩、职业道德"]
    assert fields["受到的表彰、奖励"] == "2024年市级先进个人; 2025年优秀医师"
    assert fields["完成工作质量"] == "合格" and fields["完成政府指令性工作情况"] == "不合格"
    assert "医德医风自评" not in fields  # off, and no value: not a row of empty text


def test_a_bad_quality_answer_is_refused(doctor):
    response = _post_lists(doctor, {**STEP4, "gov_work": "maybe"}, {})
    assert response.status_code == 400 and "完成政府指令性工作情况" in _error(response)


def test_an_older_submission_stays_readable(doctor):
    """Data saved by the older form (one free text for the good record and the work quality)
    is still shown, and kept when the new form is saved."""
    enrollment = _enrollment()
    enrollment.form_data = {"assessment": {
        "good_record": "yes", "good_detail": "2019年省级表彰", "bad_record": "no",
        "work_quantity": "pass", "work_quality": "良好", "ethics_fail": "no",
        "residency_in_cycle": "no"}}
    db.session.commit()
    page = _text(doctor.get("/me/enroll/4"))
    assert "2019年省级表彰" in page and "良好" in page
    fields = ef.snapshot(_enrollment())["工作成绩、职业道德"]
    assert "2019年省级表彰" in fields.values() and "良好" in fields.values()
    assert fields["受到的表彰、奖励"] == ""
    saved = _post_lists(doctor, {k: v for k, v in STEP4.items()}, {"awards": ["新奖项"]})
    assert saved.status_code == 302
    assessment = _enrollment().form_data["assessment"]
    assert assessment["awards"] == ["新奖项"] and assessment["good_detail"] == "2019年省级表彰"


def test_ethics_self_rating_behind_the_province_setting(doctor, province):
    province.config["ETHICS_SELF_RATING"] = True
    try:
        page = _text(doctor.get("/me/enroll/4"))
        assert "医德医风自评" in page and "优秀" in page and "良好" in page and "一般" in page
        missing = _post_lists(doctor, STEP4, {})
        assert missing.status_code == 400 and "医德医风自评" in _error(missing)
        assert _post_lists(doctor, {**STEP4, "ethics_rating": "good"}, {}).status_code == 302
        assert _enrollment().form_data["assessment"]["ethics_rating"] == "good"
        assert ef.snapshot(_enrollment())["工作成绩、职业道德"]["医德医风自评"] == "良好"
    finally:
        province.config["ETHICS_SELF_RATING"] = False


@pytest.mark.parametrize("role", ["institution", "district", "operator"])
def test_online_service_is_the_physicians_page(as_role, role):
    assert as_role(role).get("/me/contact").status_code == 403


def test_another_physicians_experience_row_is_404(doctor):
    other = db.session.query(Physician).filter(Physician.name != "王医生").first()
    row = Experience(physician_id=other.id, kind="education", organisation="别人的学校")
    db.session.add(row)
    db.session.commit()
    assert doctor.get(f"/me/enroll/3?edit={row.id}").status_code == 404
    changed = _post(doctor, "/me/enroll/3", {"kind": "education", "row_id": str(row.id),
                                             "organisation": "改掉", "save": "1"})
    assert changed.status_code == 404
    db.session.expire_all()
    assert db.session.get(Experience, row.id).organisation == "别人的学校"


def test_faq_answers_what_the_help_line_is_asked_in_the_interfaces_language(as_role):
    doctor = as_role("physician")
    page = doctor.get("/me/faq").get_data(as_text=True)
    for question in ("账号不存在、无法登录？", "忘记密码？", "考试前人脸验证不通过？"):
        assert f"<dt>{question}</dt>" in page
    doctor.get("/lang/en")
    english = doctor.get("/me/faq").get_data(as_text=True)
    assert "<dt>I forgot my password?</dt>" in english and "忘记密码？" not in english
    doctor.get("/lang/zh")

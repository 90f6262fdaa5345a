"""SMS codes (issue #8, point 9): a few guesses per code, then it is dead; one live code per
account and purpose; sending is throttled per account and per number; all of it audited."""
import datetime

import pytest

from app.extensions import db
from models import AuditLog, SmsMessage
from tests.conftest import post

MOBILE = "13912345678"


@pytest.fixture()
def physician(as_role):
    """The demo physician, logged in; their phone is rebound under 账户设置 → 更换手机号."""
    return as_role("physician")


def _send(client, mobile=MOBILE):
    return post(client, "/account/mobile/code", {"mobile": mobile})


def _bind(client, code, mobile=MOBILE):
    return post(client, "/account/mobile", {"mobile": mobile, "code": code})


def _latest(mobile=MOBILE):
    return db.session.query(SmsMessage).filter_by(mobile=mobile).order_by(
        SmsMessage.id.desc()).first()


def _wrong(code):
    return f"{(int(code) + 1) % 10**6:06d}"


def _later(seconds):
    """As if ``seconds`` had passed since every code was sent (the throttles count real time)."""
    for message in db.session.query(SmsMessage):
        message.created_at -= datetime.timedelta(seconds=seconds)
    db.session.commit()


def _audit(action):
    return db.session.query(AuditLog).filter_by(action=action).count()


def test_five_wrong_entries_kill_the_code_even_for_the_right_one(physician):
    assert _send(physician).status_code == 200
    code = _latest().code
    for left in (4, 3, 2, 1):
        response = _bind(physician, _wrong(code))
        assert response.status_code == 400
        assert f"短信验证码不正确，还可尝试{left}次" in response.get_data(as_text=True)
    last = _bind(physician, _wrong(code))
    assert "该验证码已失效" in last.get_data(as_text=True)

    right = _bind(physician, code)
    assert right.status_code == 400 and "短信验证码已失效" in right.get_data(as_text=True)
    db.session.expire_all()
    assert _latest().voided_at is not None and _latest().used_at is None
    assert _audit("sms_code_wrong") == 4 and _audit("sms_code_voided") == 1


def test_hundreds_of_guesses_are_not_counted_as_wrong_but_refused(physician):
    _send(physician)
    code = _latest().code
    answers = {_bind(physician, f"{n:06d}").status_code for n in range(40) if f"{n:06d}" != code}
    assert answers == {400}
    db.session.expire_all()
    assert _latest().attempts == 5  # only five were ever compared
    assert "短信验证码已失效" in _bind(physician, code).get_data(as_text=True)


def test_a_new_code_kills_the_older_one(physician):
    _send(physician)
    older = _latest().code
    _later(61)
    assert _send(physician).status_code == 200
    newer = _latest().code

    response = _bind(physician, older)
    assert response.status_code == 400
    db.session.expire_all()
    live = db.session.query(SmsMessage).filter(SmsMessage.used_at.is_(None),
                                               SmsMessage.voided_at.is_(None)).all()
    assert [m.code for m in live] == [newer]
    assert _bind(physician, newer).status_code == 302


def test_a_code_sent_for_one_account_does_not_serve_another(province, physician, as_role):
    _send(physician)
    code = _latest().code
    other = as_role("institution")  # any other logged-in account with the same number
    response = _bind(other, code)
    assert response.status_code == 400
    assert _bind(physician, code).status_code == 302


def test_one_account_cannot_send_codes_to_number_after_number(physician):
    assert _send(physician, "13900000001").status_code == 200
    second = _send(physician, "13900000002")
    assert second.status_code == 400
    assert "验证码发送过于频繁，请60秒后再试" in second.get_json()["message"]
    assert _latest("13900000002") is None

    # Even a minute apart, five an hour per account.
    for n in range(2, 6):
        _later(61)
        assert _send(physician, f"1390000000{n}").status_code == 200
    _later(61)
    sixth = _send(physician, "13900000009")
    assert sixth.status_code == 400
    assert "获取验证码次数过多，请稍后再试" in sixth.get_json()["message"]
    assert _audit("sms_send_refused") == 2 and _audit("sms_code_sent") == 5
    _later(3600)
    assert _send(physician, "13900000009").status_code == 200


def test_one_number_gets_codes_no_faster_than_the_limits_whoever_asks(province):
    from models import AppUser
    from security import sms

    accounts = [user_id for (user_id,) in db.session.query(AppUser.id).limit(7)]
    assert sms.send_code(MOBILE, "bind", user_id=accounts[0])
    with pytest.raises(sms.SmsError, match="验证码发送过于频繁"):
        sms.send_code(MOBILE, "bind", user_id=accounts[1])
    for user_id in accounts[1:5]:  # a minute apart, each account once
        _later(61)
        sms.send_code(MOBILE, "bind", user_id=user_id)
    _later(61)
    with pytest.raises(sms.SmsError, match="获取验证码次数过多"):
        sms.send_code(MOBILE, "bind", user_id=accounts[5])
    assert db.session.query(SmsMessage).filter_by(mobile=MOBILE).count() == 5
    # Ten a day per number.
    for user_id in accounts[:5]:
        _later(3600)
        sms.send_code(MOBILE, "bind", user_id=user_id)
    _later(3600)
    with pytest.raises(sms.SmsError, match="获取验证码次数过多"):
        sms.send_code(MOBILE, "bind", user_id=accounts[6])


def test_every_code_event_is_audited(physician):
    _send(physician)
    code = _latest().code
    _bind(physician, _wrong(code))
    _bind(physician, code)
    actions = [a for (a,) in db.session.query(AuditLog.action).filter(
        AuditLog.action.like("sms_%")).order_by(AuditLog.id)]
    assert actions == ["sms_code_sent", "sms_code_wrong", "sms_code_accepted"]
    sent = db.session.query(AuditLog).filter_by(action="sms_code_sent").one()
    assert sent.username == "460100198503120424" or sent.user_id is not None
    assert MOBILE not in (sent.reason or "")  # the number is masked in the log

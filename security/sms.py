"""SMS verification codes through a pluggable sender.

The default ``OutboxSender`` sends nothing: it writes the message to the log and to the
``sms_message`` table, which operators read on the 短信发件箱 page. A real gateway is another
class with the same ``send(mobile, body)`` method, named in the SMS_SENDER setting.

A code is a secret of six digits, so it is guarded: one live code per account and purpose (a
new one kills the older), a few entries per code (SMS_CODE_MAX_ATTEMPTS, then it is dead),
single use, and sending is throttled per account and per number. Every send, refusal, wrong
entry and use is audited.
"""
import datetime
import hmac
import logging
import secrets

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, update
from werkzeug.utils import import_string

from app.extensions import db
from models.account import SmsMessage
from models.audit import record as audit

log = logging.getLogger(__name__)


class SmsError(ValueError):
    """A code could not be sent or accepted; the message is for the user."""


class OutboxSender:
    def send(self, mobile, body):
        log.info("SMS to %s: %s", mobile, body)


def _sender():
    return import_string(current_app.config["SMS_SENDER"])()


def _masked(mobile):
    return f"{mobile[:3]}****{mobile[-4:]}"


def _refuse_send(message, why, mobile, user_id):
    audit("ab_user", user_id or 0, "sms_send_refused", reason=f"{why} {_masked(mobile)}")
    db.session.commit()
    raise SmsError(message)


def _check_throttle(mobile, user_id, now):
    """Refuse a send that comes too soon or too often, for this account or for this number."""
    config = current_app.config
    interval = config["SMS_SEND_INTERVAL_SECONDS"]
    senders = [("number", SmsMessage.mobile == mobile)]
    if user_id is not None:
        senders.append(("account", SmsMessage.user_id == user_id))
    for who, condition in senders:
        def sent_since(seconds):
            return db.session.query(func.count(SmsMessage.id)).filter(
                condition, SmsMessage.created_at > now - datetime.timedelta(seconds=seconds)
            ).scalar()

        if sent_since(interval):
            _refuse_send(_("Codes are requested too often, please try again in %(seconds)s "
                           "seconds", seconds=interval), f"{who} interval", mobile, user_id)
        if sent_since(3600) >= config["SMS_SEND_PER_HOUR"] or (
                who == "number" and sent_since(86400) >= config["SMS_SEND_PER_DAY"]):
            _refuse_send(_("Too many codes have been requested, please try again later"),
                         f"{who} quota", mobile, user_id)


def send_code(mobile, purpose, user_id=None):
    """Create, record and send a 6-digit code; the account's older codes for the same purpose
    die. Returns the SmsMessage."""
    now = datetime.datetime.now()
    _check_throttle(mobile, user_id, now)
    older = or_(SmsMessage.user_id == user_id, SmsMessage.mobile == mobile) \
        if user_id is not None else SmsMessage.mobile == mobile
    db.session.execute(
        update(SmsMessage)
        .where(older, SmsMessage.purpose == purpose, SmsMessage.used_at.is_(None),
               SmsMessage.voided_at.is_(None))
        .values(voided_at=now))
    code = f"{secrets.randbelow(10**6):06d}"
    ttl = current_app.config["SMS_CODE_TTL_SECONDS"]
    body = _("[Physician periodic assessment] Your verification code is %(code)s, valid for "
             "%(minutes)s minutes. Do not share it.", code=code, minutes=ttl // 60)
    message = SmsMessage(
        mobile=mobile,
        purpose=purpose,
        code=code,
        body=body,
        user_id=user_id,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=ttl),
    )
    db.session.add(message)
    db.session.flush()
    audit("sms_message", message.id, "sms_code_sent", reason=f"{purpose} {_masked(mobile)}")
    db.session.commit()
    _sender().send(mobile, body)
    return message


def _dead(message, now):
    if message is None:
        return _("Please get an SMS code first")
    if message.used_at is not None:
        return _("The SMS code has been used, please get a new one")
    if message.voided_at is not None:
        return _("The SMS code is no longer valid, please get a new one")
    if message.expires_at < now:
        return _("The SMS code has expired, please get a new one")
    return None


def consume_code(mobile, purpose, code, user_id=None):
    """Accept the latest code sent to ``mobile`` for ``purpose`` (and the account), once.

    Raises SmsError with the reason when it is wrong, used, dead or expired. Every entry
    counts against the code, committed before the answer, whatever the caller does next."""
    now = datetime.datetime.now()
    query = db.session.query(SmsMessage).filter(SmsMessage.mobile == mobile,
                                                SmsMessage.purpose == purpose)
    if user_id is not None:
        query = query.filter(SmsMessage.user_id == user_id)
    message = query.order_by(SmsMessage.id.desc()).first()
    problem = _dead(message, now)
    if problem:
        if message is not None:
            audit("sms_message", message.id, "sms_code_refused", reason=problem)
            db.session.commit()
        raise SmsError(problem)
    limit = current_app.config["SMS_CODE_MAX_ATTEMPTS"]
    # Counted in the database, so concurrent guesses cannot share one attempt.
    counted = db.session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == message.id, SmsMessage.attempts < limit,
               SmsMessage.used_at.is_(None), SmsMessage.voided_at.is_(None))
        .values(attempts=SmsMessage.attempts + 1)).rowcount
    db.session.refresh(message)
    if not counted:
        message.voided_at = message.voided_at or now
        audit("sms_message", message.id, "sms_code_refused", reason="attempts exhausted")
        db.session.commit()
        raise SmsError(_("The SMS code is no longer valid, please get a new one"))
    if not hmac.compare_digest(message.code.encode(), (code or "").strip().encode()):
        left = limit - message.attempts
        if left <= 0:
            message.voided_at = now
            audit("sms_message", message.id, "sms_code_voided", reason="too many wrong entries")
            db.session.commit()
            raise SmsError(_("The SMS code is wrong and is no longer valid, please get a new "
                             "one"))
        audit("sms_message", message.id, "sms_code_wrong", reason=f"{left} left")
        db.session.commit()
        raise SmsError(_("The SMS code is wrong, %(left)s attempts left", left=left))
    used = db.session.execute(
        update(SmsMessage).where(SmsMessage.id == message.id, SmsMessage.used_at.is_(None))
        .values(used_at=now)).rowcount
    if not used:
        db.session.commit()
        raise SmsError(_("The SMS code has been used, please get a new one"))
    db.session.refresh(message)
    audit("sms_message", message.id, "sms_code_accepted")
    return message

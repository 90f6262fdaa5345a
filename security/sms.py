"""SMS verification codes through a pluggable sender.

The default ``OutboxSender`` sends nothing: it writes the message to the log and to the
``sms_message`` table, which operators read on the 短信发件箱 page. A real gateway is another
class with the same ``send(mobile, body)`` method, named in the SMS_SENDER setting.
"""
import datetime
import logging
import secrets

from flask import current_app
from flask_babel import gettext as _
from werkzeug.utils import import_string

from app.extensions import db
from models.account import SmsMessage

log = logging.getLogger(__name__)


class SmsError(ValueError):
    """A code could not be sent or accepted; the message is for the user."""


class OutboxSender:
    def send(self, mobile, body):
        log.info("SMS to %s: %s", mobile, body)


def _sender():
    return import_string(current_app.config["SMS_SENDER"])()


def send_code(mobile, purpose, user_id=None):
    """Create, record and send a 6-digit code; returns the SmsMessage."""
    recent = (
        db.session.query(SmsMessage)
        .filter(SmsMessage.mobile == mobile, SmsMessage.purpose == purpose)
        .order_by(SmsMessage.id.desc())
        .first()
    )
    now = datetime.datetime.now()
    if recent and (now - recent.created_at).total_seconds() < 60:
        raise SmsError(_("Codes are requested too often, please try again in 60 seconds"))
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
    db.session.commit()
    _sender().send(mobile, body)
    return message


def consume_code(mobile, purpose, code):
    """Accept a code once. Raises SmsError with the reason when it is wrong, used or expired."""
    message = (
        db.session.query(SmsMessage)
        .filter(
            SmsMessage.mobile == mobile,
            SmsMessage.purpose == purpose,
            SmsMessage.code == (code or "").strip(),
        )
        .order_by(SmsMessage.id.desc())
        .first()
    )
    if message is None:
        raise SmsError(_("The SMS code is wrong"))
    if message.used_at is not None:
        raise SmsError(_("The SMS code has been used, please get a new one"))
    if message.expires_at < datetime.datetime.now():
        raise SmsError(_("The SMS code has expired, please get a new one"))
    message.used_at = datetime.datetime.now()
    return message

"""The password rule of DOMAIN §3 and the initial/reset password."""
import re
import string

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.security import generate_password_hash

MIN_LENGTH = 8
RULE_TEXT = _l("At least 8 characters, with at least three of: upper-case letters, lower-case "
               "letters, digits, special characters")


def complexity_error(password):
    """None when the password is acceptable, else the message saying why not."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        return str(RULE_TEXT)
    classes = [
        bool(re.search(r"[A-Z]", password)),
        bool(re.search(r"[a-z]", password)),
        bool(re.search(r"\d", password)),
        any(ch in string.punctuation for ch in password),
    ]
    if sum(classes) < 3:
        return str(RULE_TEXT)
    if password == current_app.config["INITIAL_PASSWORD"]:
        return _("The new password must differ from the initial password")
    return None


def hash_password(password):
    return generate_password_hash(password, method="scrypt", salt_length=16)


_INITIAL_HASH_CACHE = {}


def initial_password_hash():
    """Hash of 666666. Bulk demo data shares one hash: scrypt per row would take hours."""
    password = current_app.config["INITIAL_PASSWORD"]
    if password not in _INITIAL_HASH_CACHE:
        _INITIAL_HASH_CACHE[password] = hash_password(password)
    return _INITIAL_HASH_CACHE[password]

"""The password rule of DOMAIN §3 and the initial/reset password."""
import re
import string

from flask import current_app
from werkzeug.security import generate_password_hash

MIN_LENGTH = 8
RULE_TEXT = "密码至少8位，且须包含大写字母、小写字母、数字、特殊字符中的至少三种"


def complexity_error(password):
    """None when the password is acceptable, else the Chinese message saying why not."""
    password = password or ""
    if len(password) < MIN_LENGTH:
        return RULE_TEXT
    classes = [
        bool(re.search(r"[A-Z]", password)),
        bool(re.search(r"[a-z]", password)),
        bool(re.search(r"\d", password)),
        any(ch in string.punctuation for ch in password),
    ]
    if sum(classes) < 3:
        return RULE_TEXT
    if password == current_app.config["INITIAL_PASSWORD"]:
        return "新密码不能与初始密码相同"
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

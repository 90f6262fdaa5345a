"""Resident ID numbers (GB 11643): validation, 15-to-18 conversion, masking.

Users are told to "try 15 and 18 digits, try upper-case X"; we accept every form and resolve
it to the one stored 18-character form instead.
"""
import datetime
import re

from flask_babel import gettext as _

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"


class InvalidIdNumber(ValueError):
    """The text is not a well-formed resident ID number; the message is for the user."""


def check_character(first17):
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS))
    return _CHECK[total % 11]


def _valid_birth(yyyymmdd):
    try:
        birth = datetime.datetime.strptime(yyyymmdd, "%Y%m%d").date()
    except ValueError:
        return False
    return datetime.date(1900, 1, 1) <= birth <= datetime.date.today()


def normalize(raw):
    """Return the 18-character form of a resident ID number, or raise InvalidIdNumber."""
    text = (raw or "").strip().upper()
    if re.fullmatch(r"\d{15}", text):
        first17 = text[:6] + "19" + text[6:]
        if not _valid_birth(first17[6:14]):
            raise InvalidIdNumber(_("The birth date in the ID number is wrong"))
        return first17 + check_character(first17)
    if re.fullmatch(r"\d{17}[\dX]", text):
        if not _valid_birth(text[6:14]):
            raise InvalidIdNumber(_("The birth date in the ID number is wrong"))
        if check_character(text[:17]) != text[17]:
            raise InvalidIdNumber(_("The check digit of the ID number is wrong, please check it "
                                    "and enter it again"))
        return text
    raise InvalidIdNumber(_("Wrong ID number format: it should be an 18-digit or 15-digit ID "
                            "card number"))


def is_valid(raw):
    try:
        normalize(raw)
    except InvalidIdNumber:
        return False
    return True


def birth_date(id18):
    return datetime.datetime.strptime(id18[6:14], "%Y%m%d").date()


def gender(id18):
    return "male" if int(id18[16]) % 2 else "female"


def mask(id_number):
    """460*****0422 style: the first three and the last four characters stay visible."""
    if not id_number:
        return ""
    if len(id_number) <= 7:
        return id_number[:1] + "*" * (len(id_number) - 1)
    return id_number[:3] + "*****" + id_number[-4:]


def make(region6, birth, sequence3):
    """Build a valid 18-character number (demo data and tests)."""
    first17 = f"{region6}{birth:%Y%m%d}{sequence3:03d}"
    return first17 + check_character(first17)

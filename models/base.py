"""Shared pieces of the models: choice sets (English constants with translated labels)."""
import datetime

from flask_babel import lazy_gettext as _l


class Refused(ValueError):
    """A domain rule refused an action; the message is the translated text shown to the user.

    Every module's refusal (roster, workflow, reviews, exemptions, uploads…) derives from it, so
    a view can catch one type and show the message, whatever the rule was."""


# 手机号: eleven digits starting 13-19, the one rule for every form that takes a mobile.
MOBILE_PATTERN = r"1[3-9]\d{9}"


def valid_mobile(value):
    import re

    return bool(re.fullmatch(MOBILE_PATTERN, (value or "").strip()))


def now():
    return datetime.datetime.now()


class ChoiceSet:
    """An ordered set of English constants, each with a display name translated through Babel.

    ``STATE = ChoiceSet(("pending", _l("Pending")), ...)``; ``STATE.PENDING == "pending"``.
    """

    def __init__(self, *pairs):
        self._pairs = list(pairs)
        self._labels = dict(pairs)
        for value, _label in pairs:
            setattr(self, value.upper(), value)

    def label(self, value):
        if value is None:
            return ""
        return str(self._labels.get(value, value))

    def values(self):
        return [value for value, _ in self._pairs]

    def options(self):
        """(value, label) pairs for a WTForms SelectField."""
        return [(value, label) for value, label in self._pairs]

    def __contains__(self, value):
        return value in self._labels


class TextList(list):
    """A list of lazily translated texts (``_l("...")``) that reads as plain strings in the
    current language: iterating, indexing and comparing give ``str``, so Excel writers and
    header checks see the text the user sees, while the module builds it at import time."""

    def __iter__(self):
        return (str(item) for item in list.__iter__(self))

    def __getitem__(self, index):
        item = list.__getitem__(self, index)
        return [str(i) for i in item] if isinstance(index, slice) else str(item)

    def __eq__(self, other):
        return list(self) == other

    def __ne__(self, other):
        return list(self) != other

    __hash__ = None


YES_NO = ChoiceSet(("yes", _l("Yes")), ("no", _l("No")))

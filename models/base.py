"""Shared pieces of the models: choice sets (English constants with translated labels)."""
import datetime

from flask_babel import lazy_gettext as _l


class Refused(ValueError):
    """A domain rule refused an action; the message is the Chinese text shown to the user.

    Every module's refusal (roster, workflow, reviews, exemptions, uploads…) derives from it, so
    a view can catch one type and show the message, whatever the rule was."""


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


YES_NO = ChoiceSet(("yes", _l("Yes")), ("no", _l("No")))

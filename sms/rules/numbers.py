"""Number rules: a phone field checked and normalised to E.164, the phone
fields a sendout may use, and why a recipient is skipped."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm import phones
from sms.rules import RuleError
from sms.rules.text import MAX_CHARS

# --- Skip reasons ----------------------------------------------------------------


class SkipReason(StrEnum):
    """Why a recipient is not texted. Declared in precedence order: a recipient
    gets the first reason that applies."""

    OPTED_OUT = "opted_out"
    NO_LEGAL_BASIS = "no_legal_basis"
    MISSING_NUMBER = "missing_number"
    MISSING_COUNTRY_CODE = "missing_country_code"
    INVALID_NUMBER = "invalid_number"
    NOT_MOBILE = "not_mobile"
    TOO_LONG = "too_long"
    DUPLICATE_NUMBER = "duplicate_number"

    @property
    def label(self) -> Promise:
        """The reason in the user's words (translated lazily)."""
        return SKIP_REASON_LABELS[self]


SKIP_REASON_LABELS: Mapping[SkipReason, Promise] = {
    SkipReason.OPTED_OUT: _("Opted out of SMS"),
    SkipReason.NO_LEGAL_BASIS: _("No legal basis for marketing"),
    SkipReason.MISSING_NUMBER: _("No phone number"),
    SkipReason.MISSING_COUNTRY_CODE: _("Number without country code"),
    SkipReason.INVALID_NUMBER: _("Invalid number"),
    SkipReason.NOT_MOBILE: _("Not a mobile number"),
    SkipReason.TOO_LONG: _("Message too long"),
    SkipReason.DUPLICATE_NUMBER: _("Same number as another recipient"),
}

# --- Phone numbers -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberResult:
    """A phone field checked: ``e164`` when it can be texted, else ``reason``."""

    e164: str | None
    reason: SkipReason | None

    @property
    def ok(self) -> bool:
        return self.e164 is not None


_MISSING = NumberResult(None, SkipReason.MISSING_NUMBER)

NUMBER_CACHE_SIZE = phones.NUMBER_CACHE_SIZE
"""Numbers remembered per process (about 131,000: a large target group, so that
a preview run again while the user edits the text parses nothing twice)."""


def normalise_number(raw: str | None) -> NumberResult:
    """Check a phone field and normalise it to E.164: ``crm.phones.normalise_phone``
    (which states the rules) with the problem as a ``SkipReason``.

    Contacts store this result when a phone field is written
    (``Contact.mobile_phone_e164``/``_problem``); this is for numbers from
    elsewhere (an inbound reply). Results are cached per process
    (``NUMBER_CACHE_SIZE`` entries).
    """
    if raw is None:
        return _MISSING
    return _normalise_number(raw)


def number_result(phone: phones.NormalisedPhone) -> NumberResult:
    """The ``NumberResult`` of a ``crm.phones`` answer (or of stored columns)."""
    if phone.problem:
        return NumberResult(None, SkipReason(phone.problem))
    return NumberResult(phone.e164, None)


@functools.lru_cache(maxsize=NUMBER_CACHE_SIZE)
def _normalise_number(raw: str) -> NumberResult:
    return number_result(phones.normalise_phone_uncached(raw))


def normalise_number_uncached(raw: str) -> NumberResult:
    """``normalise_number`` without the cache (for measuring it)."""
    return number_result(phones.normalise_phone_uncached(raw))


@functools.lru_cache(maxsize=NUMBER_CACHE_SIZE)
def surely_not_mobile(e164: str) -> bool:
    """Whether a valid E.164 number is surely not a mobile (a fixed line, a
    toll-free, premium-rate, shared-cost or corporate number): texting it is
    charged and then fails at the carrier. ``phonenumbers.number_type`` by the
    numbering plan (``crm.phones.phone_not_mobile``, which contacts store as
    ``<field>_not_mobile``); cached per process like ``normalise_number``."""
    return phones.phone_not_mobile(e164)


def skip_reason(
    *, opted_out: bool, number: NumberResult, chars: int, not_mobile: bool = False
) -> SkipReason | None:
    """The first skip reason that applies to one recipient, duplicates aside.

    ``chars`` is the length of the rendered message; ``opted_out`` covers the
    contact's flag and the number's place on the suppression list, and
    ``not_mobile`` is ``surely_not_mobile`` of the number. ``duplicate_number`` needs
    the other recipients, so the caller applies it last, to recipients that are
    not skipped for another reason (the lowest contact id keeps the number).
    """
    if opted_out:
        return SkipReason.OPTED_OUT
    if number.reason is not None:
        return number.reason
    if not_mobile:
        return SkipReason.NOT_MOBILE
    if chars > MAX_CHARS:
        return SkipReason.TOO_LONG
    return None


# --- Phone fields --------------------------------------------------------------------

DEFAULT_PHONE_FIELD = "mobile_phone"

PHONE_FIELDS: Mapping[str, Promise] = {
    "mobile_phone": _("Mobile phone"),
    "work_phone": _("Work phone"),
}
"""The contact phone fields a sendout may use, the default first. Never an
account's phone: a message goes to a person."""


def validate_phone_field(value: str) -> str:
    """Return ``value`` when it is one of ``PHONE_FIELDS``, else raise ``RuleError``."""
    if value in PHONE_FIELDS:
        return value
    raise RuleError(
        "invalid_phone_field",
        gettext("Choose a phone field: %(fields)s.")
        % {"fields": ", ".join(str(label) for label in PHONE_FIELDS.values())},
        field="phone_field",
    )

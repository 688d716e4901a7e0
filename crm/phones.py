"""Contact phone numbers normalised for texting: E.164, or the problem with them.

Pure functions (``phonenumbers``; no model, no database), so that the CRM can
store the result whenever a phone field is written (``Contact.save`` and the
services) and SMS previews read stored columns instead of parsing numbers
(20 to 30 µs each, seconds for a large target group).

The problems are the phone-number skip reasons of the SMS rules, with the same
values (``sms.rules.SkipReason``); ``crm`` may not import ``sms``, so the SMS
rules build on this module, not the other way round.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers


class PhoneProblem(StrEnum):
    """Why a phone field cannot be texted, in the SMS rules' precedence order."""

    MISSING_NUMBER = "missing_number"
    MISSING_COUNTRY_CODE = "missing_country_code"
    INVALID_NUMBER = "invalid_number"


@dataclass(frozen=True, slots=True)
class NormalisedPhone:
    """A phone field checked: ``e164`` ("+358401234567") or a ``problem``; the
    other one is the empty string (as stored in the contact's columns).
    ``not_mobile``: the number is surely not a mobile (``phone_not_mobile``)."""

    e164: str
    problem: str
    not_mobile: bool = False

    @property
    def ok(self) -> bool:
        return not self.problem


MISSING = NormalisedPhone("", PhoneProblem.MISSING_NUMBER)
NO_COUNTRY_CODE = NormalisedPhone("", PhoneProblem.MISSING_COUNTRY_CODE)
INVALID = NormalisedPhone("", PhoneProblem.INVALID_NUMBER)
_E164 = phonenumbers.PhoneNumberFormat.E164
_INVALID_COUNTRY_CODE = phonenumbers.NumberParseException.INVALID_COUNTRY_CODE

NUMBER_CACHE_SIZE = 1 << 17
"""Numbers remembered per process (about 131,000)."""


def normalise_phone(raw: str | None) -> NormalisedPhone:
    """Check a phone field and normalise it to E.164.

    - empty or blank (or ``None``): ``missing_number``;
    - no leading ``+`` and no leading ``00``: ``missing_country_code`` (parsed
      without a default region, so "040 123 4567" is not guessed to be Finnish).
      ``00`` is taken as the international prefix (Finland's and most of
      Europe's): "00358 40 123 4567" is "+358 40 123 4567";
    - letters (vanity numbers, "ext. 12", "(home)"), an extension, a string
      ``phonenumbers`` cannot parse, or a number that is not
      ``phonenumbers.is_valid_number``: ``invalid_number``;
    - otherwise the E.164 form, e.g. "+358401234567".

    Results are cached per process (``NUMBER_CACHE_SIZE`` entries).
    """
    if raw is None:
        return MISSING
    return _normalise_phone(raw)


@functools.lru_cache(maxsize=NUMBER_CACHE_SIZE)
def _normalise_phone(raw: str) -> NormalisedPhone:
    text = raw.strip()
    if not text:
        return MISSING
    if any(c.isalpha() for c in text):
        return INVALID
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        # phonenumbers ignores these separators after a "+" anyway, and parses a
        # compact string faster (a test pins that the answers are the same).
        text = text.replace(" ", "").replace("-", "")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as error:
        if error.error_type == _INVALID_COUNTRY_CODE and not text.startswith("+"):
            return NO_COUNTRY_CODE
        return INVALID
    if number.extension or not phonenumbers.is_valid_number(number):
        return INVALID
    return NormalisedPhone(
        phonenumbers.format_number(number, _E164),
        "",
        phonenumbers.number_type(number) in NOT_MOBILE_TYPES,
    )


NOT_MOBILE_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.UAN,
        phonenumbers.PhoneNumberType.VOICEMAIL,
    }
)
"""Number types that surely cannot receive a text. Not ``FIXED_LINE_OR_MOBILE``
(where the plan cannot tell, as in the United States), ``MOBILE``, ``PAGER``,
``VOIP``, ``PERSONAL_NUMBER`` or ``UNKNOWN``: those are texted."""


def phone_not_mobile(e164: str) -> bool:
    """Whether a valid E.164 number is surely not a mobile (a fixed line, a
    toll-free, premium-rate, shared-cost or corporate number): texting it is
    charged and then fails at the carrier. ``phonenumbers.number_type`` by the
    numbering plan. Stored beside the number (``<field>_not_mobile``) so that
    SMS recipients are decided in SQL."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(parsed) in NOT_MOBILE_TYPES


normalise_phone_uncached = _normalise_phone.__wrapped__
"""``normalise_phone`` without the cache (for measuring it)."""


def phone_display(e164: str) -> str:
    """A normalised number as people read it: the international form grouped the
    national way, "+358 40 123 4567" (Finnish numbers: the subscriber part in
    groups of three and the rest, as a Finnish phone book writes them), "+46 70
    123 45 67". Text that is not a valid number comes back unchanged."""
    if not e164:
        return e164
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if not phonenumbers.is_valid_number(number):
        return e164
    text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if number.country_code == 358:
        *head, last = text.split(" ")
        if len(last) > 5:
            text = " ".join([*head, last[:3], last[3:]])
    return text

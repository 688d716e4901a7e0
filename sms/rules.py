"""The message rules: counting, billing, encoding, numbers, senders, phone fields.

Pure functions and constants, no database access and no model import, so that
they are fast and can be tested with hypothesis. The tag language lives beside
this module in ``sms/tags.py``. Every rule a user can break raises ``RuleError``
(a stable ``code``, a message for people, and the ``field`` it concerns), which
the API layer turns into a 400 at that field.

The rules are the ones in DESIGN.md ("Message rules").
"""

from __future__ import annotations

import codecs
import functools
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm import phones

MAX_CHARS = 480
"""A template, and a rendered message, hold at most this many code points."""

CHARS_PER_MESSAGE = 160
"""Billing unit: each started block of 160 code points costs one message."""

OPERATOR_SENDER = "operator"
"""The sender value meaning "the organisation's operator number" (always allowed)."""

SENDER_NAME_MAX_CHARS = 11


class RuleError(Exception):
    """A message rule the user broke: a stable ``code``, a ``message`` for people.

    ``field`` names the input it concerns ("body", "sender", "phone_field"), so
    that the API can answer 400 at that field. ``extra`` holds details the
    answer may carry (e.g. ``tag`` for a template error).
    """

    def __init__(self, code: str, message: str, *, field: str | None = None, **extra: object):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, field={self.field!r})"


# --- Text and billing ---------------------------------------------------------


def normalise_text(text: str) -> str:
    """Return ``text`` with ``\\r\\n`` and lone ``\\r`` turned into ``\\n``."""
    if "\r" not in text:  # the common case, and the fast one
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def char_count(text: str) -> int:
    """Characters as users are billed for them: code points after normalisation."""
    return len(normalise_text(text))


def billed_messages(chars: int) -> int:
    """Messages billed for a text of ``chars`` code points: ``ceil(chars / 160)``.

    0 for an empty text; 1 to 3 for a text within ``MAX_CHARS``.
    """
    if chars < 0:
        raise ValueError("chars cannot be negative")
    return -(-chars // CHARS_PER_MESSAGE)


def validate_body(body: str) -> str:
    """Return the normalised template ``body``, or raise ``RuleError`` (field "body").

    A blank body is refused, and so is one over ``MAX_CHARS`` code points (the
    template itself; a rendered message over it is a per-recipient skip).
    """
    text = normalise_text(body)
    if not text.strip():
        raise RuleError("body_required", gettext("Write a message."), field="body")
    if len(text) > MAX_CHARS:
        raise RuleError(
            "body_too_long",
            gettext("The message holds at most %(max)d characters (now %(count)d).")
            % {"max": MAX_CHARS, "count": len(text)},
            field="body",
        )
    return text


# --- Carrier truth: GSM-7 or UCS-2 ---------------------------------------------


def _gsm_table() -> tuple[frozenset[str], frozenset[str]]:
    """The GSM 03.38 default alphabet and its extension table, read from the codec.

    Byte 0x1B is the escape to the extension table, not a character.
    """
    decode = codecs.getdecoder("gsm03.38")
    basic = frozenset(decode(bytes([i]))[0] for i in range(128) if i != 0x1B)
    extension = set()
    for i in range(128):
        try:
            extension.add(decode(bytes([0x1B, i]))[0])
        except UnicodeDecodeError:
            continue
    return basic, frozenset(extension)


GSM7_BASIC, GSM7_EXTENSION = _gsm_table()
"""Characters of the GSM 03.38 default alphabet (one septet each) and of its
extension table (two septets each: the escape and the character)."""

GSM7_CHARS = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE_SEGMENT, GSM7_SEGMENT = 160, 153
UCS2_SINGLE_SEGMENT, UCS2_SEGMENT = 70, 67

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class EncodingInfo:
    """How a carrier sees a text: encoding, units and segments (information only).

    ``units`` are septets for GSM-7 (an extension character counts two) and
    UTF-16 code units for UCS-2 (an emoji counts two). ``unicode_chars`` are the
    distinct characters that force UCS-2, in order of appearance.
    """

    encoding: Encoding
    units: int
    carrier_segments: int
    unicode_chars: tuple[str, ...]


def encoding_info(text: str) -> EncodingInfo:
    """GSM-7 when every character is in the GSM 03.38 tables, otherwise UCS-2.

    Segments: GSM-7 one up to 160 septets, else ``ceil(units / 153)``; UCS-2 one
    up to 70 units, else ``ceil(units / 67)``; none for an empty text.
    """
    text = normalise_text(text)
    chars = set(text)
    if chars <= GSM7_CHARS:
        units = len(text) + sum(text.count(c) for c in chars & GSM7_EXTENSION)
        single, multi = GSM7_SINGLE_SEGMENT, GSM7_SEGMENT
        encoding: Encoding = "GSM-7"
        unicode_chars: tuple[str, ...] = ()
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = UCS2_SINGLE_SEGMENT, UCS2_SEGMENT
        encoding = "UCS-2"
        unicode_chars = tuple(dict.fromkeys(c for c in text if c not in GSM7_CHARS))
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        segments = math.ceil(units / multi)
    return EncodingInfo(encoding, units, segments, unicode_chars)


# --- Skip reasons ----------------------------------------------------------------


class SkipReason(StrEnum):
    """Why a recipient is not texted. Declared in precedence order: a recipient
    gets the first reason that applies."""

    OPTED_OUT = "opted_out"
    MISSING_NUMBER = "missing_number"
    MISSING_COUNTRY_CODE = "missing_country_code"
    INVALID_NUMBER = "invalid_number"
    TOO_LONG = "too_long"
    DUPLICATE_NUMBER = "duplicate_number"

    @property
    def label(self) -> Promise:
        """The reason in the user's words (translated lazily)."""
        return SKIP_REASON_LABELS[self]

    @classmethod
    def choices(cls) -> list[tuple[str, Promise]]:
        """``(value, label)`` pairs for a model field's ``choices``."""
        return [(reason.value, reason.label) for reason in cls]


SKIP_REASON_LABELS: Mapping[SkipReason, Promise] = {
    SkipReason.OPTED_OUT: _("Opted out of SMS"),
    SkipReason.MISSING_NUMBER: _("No phone number"),
    SkipReason.MISSING_COUNTRY_CODE: _("Number without country code"),
    SkipReason.INVALID_NUMBER: _("Invalid number"),
    SkipReason.TOO_LONG: _("Message too long"),
    SkipReason.DUPLICATE_NUMBER: _("Same number as another recipient"),
}

SKIP_REASON_ORDER: tuple[SkipReason, ...] = tuple(SkipReason)
"""Skip reasons in precedence order (the first that applies wins)."""


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


def skip_reason(*, opted_out: bool, number: NumberResult, chars: int) -> SkipReason | None:
    """The first skip reason that applies to one recipient, duplicates aside.

    ``chars`` is the length of the rendered message. ``duplicate_number`` needs
    the other recipients, so the caller applies it last, to recipients that are
    not skipped for another reason (the lowest contact id keeps the number).
    """
    if opted_out:
        return SkipReason.OPTED_OUT
    if number.reason is not None:
        return number.reason
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


# --- Senders ---------------------------------------------------------------------------

_SENDER_EXTRA_CHARS = frozenset(" -+_&")


def _is_sender_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in _SENDER_EXTRA_CHARS)


def validate_sender_name(name: str) -> str:
    """Return a valid alphanumeric sender name, or raise ``RuleError`` (field "sender").

    Twilio's rules: 1 to 11 characters of A to Z, a to z, 0 to 9, space, ``-``, ``+``,
    ``_`` and ``&``, at least one letter. Leading and trailing spaces are
    stripped (a phone would not show them). "operator" in any case is refused:
    it is the value that means the operator number.
    """
    name = name.strip()
    if not name:
        raise RuleError("sender_required", gettext("Write a sender name."), field="sender")
    bad = list(dict.fromkeys(c for c in name if not _is_sender_char(c)))
    if bad:
        raise RuleError(
            "sender_bad_character",
            gettext(
                "A sender name cannot contain %(chars)s. "
                "Use only letters A to Z without accents, digits, spaces and - + _ &."
            )
            % {"chars": " ".join(f"“{c}”" for c in bad)},
            field="sender",
        )
    if len(name) > SENDER_NAME_MAX_CHARS:
        raise RuleError(
            "sender_too_long",
            gettext("A sender name holds at most %(max)d characters (now %(count)d).")
            % {"max": SENDER_NAME_MAX_CHARS, "count": len(name)},
            field="sender",
        )
    if not any(c.isalpha() for c in name):
        raise RuleError(
            "sender_needs_letter",
            gettext("A sender name needs at least one letter: it cannot be only digits."),
            field="sender",
        )
    if name.lower() == OPERATOR_SENDER:
        raise RuleError(
            "sender_reserved",
            gettext("“%(name)s” is reserved for the operator number. Choose another name.")
            % {"name": name},
            field="sender",
        )
    return name


def resolve_sender(
    value: str, *, named_senders_enabled: bool, approved_names: Collection[str]
) -> str:
    """Return the sender to use: ``OPERATOR_SENDER`` or an approved name.

    The operator is always allowed. A name only when the organisation has named
    senders active and the name is approved (exact match). Each refusal raises
    ``RuleError`` (field "sender") with its own code.
    """
    if value == OPERATOR_SENDER:
        return OPERATOR_SENDER
    if not value or not value.strip():
        raise RuleError("sender_required", gettext("Choose a sender."), field="sender")
    if not named_senders_enabled:
        raise RuleError(
            "named_senders_disabled",
            gettext(
                "Named senders are not active for your organisation. Send from the operator number."
            ),
            field="sender",
        )
    if value not in approved_names:
        raise RuleError(
            "sender_not_approved",
            gettext("“%(name)s” is not an approved sender name. Choose one from the list.")
            % {"name": value},
            field="sender",
        )
    return value

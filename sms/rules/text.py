"""Text rules: counting, billing, the template body, and how a carrier sees a
text (GSM-7 or UCS-2, segments)."""

from __future__ import annotations

import codecs
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Literal

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)
from django.utils.translation import gettext

from sms.rules import RuleError

MAX_CHARS = 480
"""A template, and a rendered message, hold at most this many code points."""

CHARS_PER_MESSAGE = 160
"""Billing unit: each started block of 160 code points costs one message."""


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

    Segments: GSM-7 one up to 160 septets, UCS-2 one up to 70 units; a longer
    text is split into segments of 153 septets (GSM-7) or 67 units (UCS-2) the
    way carriers fill them, character by character: an extension character's
    escape pair or an emoji's surrogate pair never splits across a boundary, so
    it may start the next segment early (``carrier_segments``). None for an
    empty text.
    """
    text = normalise_text(text)
    if _NOT_ONE_SEPTET.search(text) is None:  # the common case, and the fast one
        units = len(text)
        segments = (
            0 if not units else 1 if units <= GSM7_SINGLE_SEGMENT else -(-units // GSM7_SEGMENT)
        )
        return EncodingInfo("GSM-7", units, segments, ())
    chars = set(text)
    if chars <= GSM7_CHARS:
        wide = chars & GSM7_EXTENSION
        units = len(text) + sum(text.count(c) for c in wide)
        single, multi = GSM7_SINGLE_SEGMENT, GSM7_SEGMENT
        encoding: Encoding = "GSM-7"
        unicode_chars: tuple[str, ...] = ()
    else:
        wide = {c for c in chars if c > _BMP_LAST}
        units = len(text) + sum(text.count(c) for c in wide)
        single, multi = UCS2_SINGLE_SEGMENT, UCS2_SEGMENT
        encoding = "UCS-2"
        unicode_chars = tuple(dict.fromkeys(c for c in text if c not in GSM7_CHARS))
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    elif not wide:  # every character one unit: nothing can straddle a boundary
        segments = -(-units // multi)
    else:
        segments = _fill_segments(text, wide, multi)
    return EncodingInfo(encoding, units, segments, unicode_chars)


_NOT_ONE_SEPTET = re.compile("[^" + "".join(re.escape(c) for c in sorted(GSM7_BASIC)) + "]")
"""Any character that is not one septet of the GSM 03.38 default alphabet."""

_BMP_LAST = "\uffff"
"""Characters after this one take two UTF-16 units (a surrogate pair)."""


def _fill_segments(text: str, wide: AbstractSet[str], size: int) -> int:
    """Segments of ``size`` units filled character by character, where the
    characters in ``wide`` take two units that stay together."""
    segments, used = 1, 0
    for c in text:
        units = 2 if c in wide else 1
        if used + units > size:
            segments += 1
            used = 0
        used += units
    return segments

"""Counting, billing, the 480 limit and the carrier's view (GSM-7 or UCS-2)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sms.rules import RuleError
from sms.rules.text import (
    CHARS_PER_MESSAGE,
    GSM7_BASIC,
    GSM7_CHARS,
    GSM7_EXTENSION,
    MAX_CHARS,
    billed_messages,
    char_count,
    encoding_info,
    normalise_text,
    validate_body,
)

# The GSM 03.38 default alphabet, byte 0x00 to 0x7F, as printed in 3GPP TS 23.038
# section 6.2.1 (0x1B is the escape to the extension table, not a character).
STANDARD_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Section 6.2.1.1, the extension table: form feed ^ { } \ [ ~ ] | €.
STANDARD_EXTENSION = "\x0c^{}\\[~]|€"


def test_gsm_table_is_the_standard() -> None:
    assert len(STANDARD_BASIC) == 128
    assert set(STANDARD_BASIC) - {"\x1b"} == GSM7_BASIC
    assert set(STANDARD_EXTENSION) == GSM7_EXTENSION
    assert not GSM7_BASIC & GSM7_EXTENSION


def test_constants() -> None:
    assert (MAX_CHARS, CHARS_PER_MESSAGE) == (480, 160)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\r\nb", "a\nb"),
        ("a\rb", "a\nb"),
        ("a\n\rb", "a\n\nb"),
        ("a\r\n\r\nb\r", "a\n\nb\n"),
        ("no breaks", "no breaks"),
    ],
)
def test_normalise_text(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


@pytest.mark.parametrize(
    ("text", "chars"),
    [
        ("", 0),
        ("Hei", 3),
        ("a\r\nb", 3),  # \r\n counts one
        ("a\rb", 3),
        ("äö", 2),
        ("😀", 1),  # one code point, even if UCS-2 needs two units
        ("€", 1),
    ],
)
def test_char_count(text: str, chars: int) -> None:
    assert char_count(text) == chars


@pytest.mark.parametrize(
    ("chars", "messages"),
    [(0, 0), (1, 1), (159, 1), (160, 1), (161, 2), (320, 2), (321, 3), (480, 3), (481, 4)],
)
def test_billed_messages(chars: int, messages: int) -> None:
    assert billed_messages(chars) == messages


def test_billed_messages_refuses_negative() -> None:
    with pytest.raises(ValueError):
        billed_messages(-1)


@given(st.text())
def test_billed_messages_is_ceil_of_char_count(text: str) -> None:
    assert billed_messages(char_count(text)) == math.ceil(char_count(text) / 160)


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_billed_messages_is_monotonic(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert billed_messages(low) <= billed_messages(high)


# --- validate_body -----------------------------------------------------------------


def test_body_of_480_is_accepted() -> None:
    assert validate_body("a" * 480) == "a" * 480


def test_body_of_481_is_refused_with_its_length() -> None:
    with pytest.raises(RuleError) as caught:
        validate_body("a" * 481)
    assert caught.value.code == "body_too_long"
    assert caught.value.field == "body"
    assert caught.value.message == "The message holds at most 480 characters (now 481)."


def test_body_crlf_counts_one() -> None:
    body = "a" * 239 + "\r\n" + "b" * 240  # 481 with \r\n counted twice, 480 normalised
    assert validate_body(body) == "a" * 239 + "\n" + "b" * 240


def test_body_emoji_counts_one_code_point() -> None:
    assert validate_body("😀" * 480) == "😀" * 480
    with pytest.raises(RuleError):
        validate_body("😀" * 481)


@pytest.mark.parametrize("body", ["", "   ", "\r\n\t"])
def test_blank_body_is_refused(body: str) -> None:
    with pytest.raises(RuleError) as caught:
        validate_body(body)
    assert (caught.value.code, caught.value.message) == ("body_required", "Write a message.")
    assert caught.value.field == "body"


# --- encoding_info -------------------------------------------------------------------


def test_finnish_letters_stay_gsm7() -> None:
    info = encoding_info("Hyvää päivää, Åsa! ÄÖÅ äöå")
    assert info.encoding == "GSM-7"
    assert info.units == len("Hyvää päivää, Åsa! ÄÖÅ äöå")
    assert info.unicode_chars == ()


@pytest.mark.parametrize("char", list("€[]{}\\^~|"))
def test_extension_chars_count_two_units(char: str) -> None:
    info = encoding_info(f"ab{char}")
    assert (info.encoding, info.units, info.carrier_segments) == ("GSM-7", 4, 1)


def test_gsm7_segments() -> None:
    assert encoding_info("a" * 160).carrier_segments == 1
    assert encoding_info("a" * 161).carrier_segments == 2
    assert encoding_info("a" * 306).carrier_segments == 2
    assert encoding_info("a" * 307).carrier_segments == 3
    # 80 euro signs are 160 septets: one segment; one more character makes two.
    assert encoding_info("€" * 80).units == 160
    assert encoding_info("€" * 80).carrier_segments == 1
    assert encoding_info("€" * 80 + "a").carrier_segments == 2


def test_ucs2_segments() -> None:
    info = encoding_info("ж" * 70)
    assert (info.encoding, info.units, info.carrier_segments) == ("UCS-2", 70, 1)
    assert encoding_info("ж" * 71).carrier_segments == 2
    assert encoding_info("ж" * 134).carrier_segments == 2
    assert encoding_info("ж" * 135).carrier_segments == 3


def test_emoji_forces_ucs2_and_counts_two_units() -> None:
    info = encoding_info("Hei 😀 ja 😀 ja ✓")
    assert info.encoding == "UCS-2"
    assert info.units == len("Hei  ja  ja ✓") + 4
    assert info.unicode_chars == ("😀", "✓")


def test_extension_chars_count_one_unit_in_ucs2() -> None:
    assert encoding_info("€ж").units == 2


def test_empty_text_has_no_segments() -> None:
    info = encoding_info("")
    assert (info.encoding, info.units, info.carrier_segments) == ("GSM-7", 0, 0)


def test_crlf_is_one_septet() -> None:
    assert encoding_info("a\r\nb").units == 3


@given(st.text())
def test_gsm7_iff_every_char_in_table(text: str) -> None:
    normalised = normalise_text(text)
    info = encoding_info(text)
    assert (info.encoding == "GSM-7") == all(c in GSM7_CHARS for c in normalised)
    assert set(info.unicode_chars) == {c for c in normalised if c not in GSM7_CHARS}
    assert len(set(info.unicode_chars)) == len(info.unicode_chars)


@given(st.text())
def test_units_and_segments_are_consistent(text: str) -> None:
    normalised = normalise_text(text)
    info = encoding_info(text)
    if info.encoding == "GSM-7":
        extension = sum(c in GSM7_EXTENSION for c in normalised)
        assert info.units == len(normalised) + extension
        per_segment = 160 if info.units <= 160 else 153
    else:
        assert info.units == len(normalised) + sum(ord(c) > 0xFFFF for c in normalised)
        per_segment = 70 if info.units <= 70 else 67
    if normalised:
        assert info.carrier_segments >= 1
        # A pair that would straddle a boundary starts the next segment early
        # (exact counts: tests/sms/test_rules_segments.py).
        assert info.carrier_segments >= math.ceil(info.units / per_segment)
    else:
        assert info.carrier_segments == 0

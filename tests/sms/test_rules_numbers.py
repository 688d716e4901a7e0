"""Phone numbers, phone fields and skip reasons."""

import phonenumbers
import pytest
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from sms.rules import RuleError
from sms.rules.numbers import (
    DEFAULT_PHONE_FIELD,
    PHONE_FIELDS,
    NumberResult,
    SkipReason,
    normalise_number,
    normalise_number_uncached,
    skip_reason,
    surely_not_mobile,
    validate_phone_field,
)
from sms.rules.text import MAX_CHARS

MISSING = SkipReason.MISSING_NUMBER
NO_CC = SkipReason.MISSING_COUNTRY_CODE
INVALID = SkipReason.INVALID_NUMBER


@pytest.mark.parametrize(
    ("raw", "e164", "reason"),
    [
        (None, None, MISSING),
        ("", None, MISSING),
        ("   ", None, MISSING),
        ("\t\n", None, MISSING),
        ("040 123 4567", None, NO_CC),  # a Finnish mobile, but no country code
        ("0401234567", None, NO_CC),
        ("(09) 123 4567", None, NO_CC),
        ("+358 40 123 4567", "+358401234567", None),
        (" +358-40-123 4567 ", "+358401234567", None),
        ("+358401234567", "+358401234567", None),
        ("00358 40 123 4567", "+358401234567", None),  # 00 is the international prefix
        ("+358 9 1234 567", "+35891234567", None),  # a Helsinki landline is a valid number
        ("+46 70 123 45 67", "+46701234567", None),
        ("+1 202 555 0143", "+12025550143", None),
        ("+358 12 3", None, INVALID),  # too short
        ("+358 40 123 4567 890", None, INVALID),  # too long
        ("+999 123 456", None, INVALID),  # no such country code
        ("+", None, INVALID),
        ("+00358401234567", None, INVALID),
        ("abc", None, INVALID),
        ("+358 40 ABC DEFG", None, INVALID),  # letters: no vanity numbers
        ("+358 40 123 4567 (koti)", None, INVALID),
        ("+358 40 123 4567 ext. 12", None, INVALID),
        ("+358 40 123 4567;12", None, INVALID),  # an extension by another spelling
        ("040 ABC", None, INVALID),  # letters win over the missing country code
    ],
)
def test_normalise_number(raw: str | None, e164: str | None, reason: SkipReason | None) -> None:
    result = normalise_number(raw)
    assert result == NumberResult(e164, reason)
    assert result.ok == (e164 is not None)
    if raw is not None:
        assert normalise_number_uncached(raw) == result


def test_cached_answer_is_the_same() -> None:
    assert normalise_number("+358 40 765 4321") == normalise_number("+358 40 765 4321")
    assert normalise_number("+358 40 765 4321").e164 == "+358407654321"


def test_skip_reasons_in_precedence_order() -> None:
    assert [r.value for r in SkipReason] == [
        "opted_out",
        "missing_number",
        "missing_country_code",
        "invalid_number",
        "not_mobile",
        "too_long",
        "duplicate_number",
    ]


def test_skip_reason_labels() -> None:
    with translation.override("en"):
        assert {r.value: str(r.label) for r in SkipReason} == {
            "opted_out": "Opted out of SMS",
            "missing_number": "No phone number",
            "missing_country_code": "Number without country code",
            "invalid_number": "Invalid number",
            "not_mobile": "Not a mobile number",
            "too_long": "Message too long",
            "duplicate_number": "Same number as another recipient",
        }


VALID = normalise_number("+358 40 123 4567")


@pytest.mark.parametrize(
    ("opted_out", "number", "chars", "expected"),
    [
        (False, VALID, 160, None),
        (False, VALID, MAX_CHARS, None),
        (False, VALID, MAX_CHARS + 1, SkipReason.TOO_LONG),
        (True, VALID, 100, SkipReason.OPTED_OUT),
        # Each reason wins over every later one.
        (True, normalise_number(""), MAX_CHARS + 1, SkipReason.OPTED_OUT),
        (False, normalise_number(""), MAX_CHARS + 1, MISSING),
        (False, normalise_number("040 123 4567"), MAX_CHARS + 1, NO_CC),
        (False, normalise_number("+358 12 3"), MAX_CHARS + 1, INVALID),
    ],
)
def test_skip_reason_precedence(
    opted_out: bool, number: NumberResult, chars: int, expected: SkipReason | None
) -> None:
    assert skip_reason(opted_out=opted_out, number=number, chars=chars) == expected


@pytest.mark.parametrize(
    ("not_mobile", "number", "chars", "expected"),
    [
        (True, VALID, 100, SkipReason.NOT_MOBILE),
        (True, VALID, MAX_CHARS + 1, SkipReason.NOT_MOBILE),  # beats too long
        (True, normalise_number("+358 12 3"), 100, INVALID),  # an invalid number beats it
    ],
)
def test_not_mobile_precedence(
    not_mobile: bool, number: NumberResult, chars: int, expected: SkipReason
) -> None:
    assert (
        skip_reason(opted_out=False, number=number, chars=chars, not_mobile=not_mobile) == expected
    )
    assert skip_reason(opted_out=True, number=number, chars=chars, not_mobile=not_mobile) == (
        SkipReason.OPTED_OUT
    )


# Real Finnish numbers by the numbering plan (Traficom): 08 is the Oulu area,
# 09 Helsinki, 040/050 mobile, 020 a national corporate number, 0800 toll-free.
@pytest.mark.parametrize(
    ("e164", "not_mobile"),
    [
        ("+35882242000", True),  # fixed line, Oulu
        ("+358912345678", True),  # fixed line, Helsinki
        ("+358800123456", True),  # toll-free
        ("+358201234567", True),  # national corporate number (UAN)
        ("+358401234567", False),  # mobile
        ("+358501234567", False),  # mobile
        ("+12025550123", False),  # US: FIXED_LINE_OR_MOBILE, so it may be a mobile
        ("+447700900123", False),  # UK mobile
        ("+442079460000", True),  # UK fixed line (London)
        ("not a number", False),  # not a number at all: not for this check to say
    ],
)
def test_surely_not_mobile(e164: str, not_mobile: bool) -> None:
    assert surely_not_mobile(e164) is not_mobile


def test_phone_fields() -> None:
    assert list(PHONE_FIELDS) == ["mobile_phone", "work_phone"]
    assert DEFAULT_PHONE_FIELD == "mobile_phone"
    with translation.override("en"):
        assert [str(label) for label in PHONE_FIELDS.values()] == ["Mobile phone", "Work phone"]


@pytest.mark.parametrize("value", ["mobile_phone", "work_phone"])
def test_validate_phone_field_accepts_whitelist(value: str) -> None:
    assert validate_phone_field(value) == value


@pytest.mark.parametrize(
    "value", ["", "phone", "account__phone", "account.phone", "email", "MOBILE_PHONE", "id"]
)
def test_validate_phone_field_refuses_anything_else(value: str) -> None:
    with pytest.raises(RuleError) as caught:
        validate_phone_field(value)
    assert caught.value.code == "invalid_phone_field"
    assert caught.value.field == "phone_field"
    with translation.override("en"):
        assert "Mobile phone, Work phone" in validate_phone_field_message(value)


def validate_phone_field_message(value: str) -> str:
    try:
        validate_phone_field(value)
    except RuleError as error:
        return error.message
    raise AssertionError("no error")


def reference_number(raw: str) -> NumberResult:
    """normalise_number's rules applied to the raw text, without its speed-ups."""
    text = raw.strip()
    if not text:
        return NumberResult(None, MISSING)
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as error:
        no_cc = error.error_type == error.INVALID_COUNTRY_CODE and not text.startswith("+")
        return NumberResult(None, NO_CC if no_cc else INVALID)
    if number.extension or not phonenumbers.is_valid_number(number):
        return NumberResult(None, INVALID)
    return NumberResult(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None
    )


number_like = st.one_of(
    st.text(alphabet="+0123456789 -()./;#", max_size=25),
    st.builds(
        lambda prefix, parts, sep: prefix + sep.join(parts),
        st.sampled_from(["+358", "+358 ", "00358", "0", "+1 ", "+46", "+"]),
        st.lists(st.text(alphabet="0123456789", min_size=1, max_size=4), max_size=5),
        st.sampled_from([" ", "-", "", " - ", "  "]),
    ),
)


@settings(max_examples=1000)
@given(number_like)
def test_speed_ups_do_not_change_the_answer(raw: str) -> None:
    assert normalise_number_uncached(raw) == reference_number(raw)

"""Carrier segments as carriers fill them: a GSM-7 escape pair (an extension
character) and a UTF-16 surrogate pair (an emoji) never split across a segment
boundary. Checked against an independent model: the septets the ``gsm0338``
codec writes, and the UTF-16 code units Python writes, packed into segments."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sms.rules.text import encoding_info, normalise_text


def model_segments(text: str) -> tuple[str, int, int]:
    """(encoding, units, segments) from the encoded bytes, not from our tables.

    GSM 03.38: the codec's septets, where 0x1B and the septet after it form one
    indivisible pair; 160 in a single segment, else 153 per segment. Otherwise
    UTF-16: code units, where a high surrogate and the unit after it form one
    indivisible pair; 70 in a single segment, else 67 per segment.
    """
    text = normalise_text(text)
    try:
        if "\x1b" in text:
            # The codec passes U+001B through as the escape septet, which is no
            # character of the alphabet (3GPP TS 23.038 6.2.1): not GSM-7.
            raise UnicodeEncodeError("gsm03.38", text, 0, 1, "the escape is not a character")
        septets = text.encode("gsm03.38")
    except UnicodeEncodeError:
        data = text.encode("utf-16-be")
        units = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        groups, i = [], 0
        while i < len(units):
            size = 2 if 0xD800 <= units[i] <= 0xDBFF else 1
            groups.append(size)
            i += size
        encoding, single, multi = "UCS-2", 70, 67
    else:
        groups, i = [], 0
        while i < len(septets):
            size = 2 if septets[i] == 0x1B else 1
            groups.append(size)
            i += size
        encoding, single, multi = "GSM-7", 160, 153
    total = sum(groups)
    if total == 0:
        return encoding, 0, 0
    if total <= single:
        return encoding, total, 1
    segments, room = 1, multi
    for size in groups:
        if size > room:
            segments, room = segments + 1, multi
        room -= size
    return encoding, total, segments


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        # 152 + "€" would be 154 septets: the escape pair moves to segment two.
        ("a" * 152 + "€" + "b" * 152, 3),
        # 67 emoji are 134 units; a segment of 67 holds 33 pairs (66 units).
        ("😀" * 67, 3),
        ("a" * 153 + "€" * 76 + "b", 2),  # 153 + 153 septets exactly
        ("a" * 152 + "€" + "b" * 151, 2),  # 152 | "€" + 151 = 153
        ("😀" * 35, 1),  # 70 units: one segment
        ("😀" * 36, 2),  # 72 units: 66 + 6
        ("ж" * 66 + "😀" + "ж" * 66, 3),  # 66 | pair + 65 | 1
        ("€" * 80, 1),
        ("€" * 80 + "a", 2),
    ],
)
def test_pairs_never_split_across_segments(text: str, segments: int) -> None:
    assert encoding_info(text).carrier_segments == segments
    assert model_segments(text)[2] == segments


# Boundary-heavy texts: characters of one and two units around the segment sizes.
boundary_text = st.text(
    alphabet=st.sampled_from([*"ab€[~", "😀", "ж", "ç", "\r", "\n"]) | st.characters(codec="utf-8"),
    max_size=500,
)


@settings(max_examples=500)
@given(boundary_text)
@example("a" * 152 + "€" + "b" * 152)
@example("😀" * 67)
@example("\x1b")
def test_encoding_units_and_segments_match_the_model(text: str) -> None:
    info = encoding_info(text)
    assert (info.encoding, info.units, info.carrier_segments) == model_segments(text)


@given(st.text(alphabet=st.sampled_from(["a", "€"]), min_size=150, max_size=480))
def test_gsm7_escape_pairs_against_the_model(text: str) -> None:
    assert encoding_info(text).carrier_segments == model_segments(text)[2]


@given(st.text(alphabet=st.sampled_from(["ж", "😀"]), min_size=60, max_size=480))
def test_surrogate_pairs_against_the_model(text: str) -> None:
    assert encoding_info(text).carrier_segments == model_segments(text)[2]

"""``sms/rules/windows.py``: the default hours, Finnish public holidays, the next
opening, and wall-clock hours across the DST changes of Europe/Helsinki."""

from datetime import UTC, datetime

import pytest

from sms.rules import RuleError
from sms.rules.windows import DEFAULT_SEND_WINDOWS, SendWindows, parse_send_windows

HKI = "Europe/Helsinki"


def windows(days=DEFAULT_SEND_WINDOWS, holidays: bool = True) -> SendWindows:
    return SendWindows.of(list(days), zone_name=HKI, closed_on_holidays=holidays)


def hki(*args: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo(HKI))


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (hki(2026, 11, 25, 8, 59), False),  # Wednesday before nine
        (hki(2026, 11, 25, 9, 0), True),
        (hki(2026, 11, 25, 19, 59), True),
        (hki(2026, 11, 25, 20, 0), False),  # the end is not in the window
        (hki(2026, 11, 28, 9, 30), False),  # Saturday opens at ten
        (hki(2026, 11, 28, 15, 59), True),
        (hki(2026, 11, 28, 16, 0), False),
        (hki(2026, 11, 29, 12, 0), False),  # Sunday
        (hki(2026, 12, 24, 12, 0), False),  # Christmas Eve, a Thursday
        (hki(2026, 12, 7, 12, 0), True),  # the Monday after Independence Day
        (hki(2027, 6, 25, 12, 0), False),  # Midsummer Eve, a Friday
    ],
)
def test_the_default_windows(at: datetime, is_open: bool) -> None:
    assert windows().is_open(at) is is_open


def test_holidays_may_be_open_when_the_organisation_says_so() -> None:
    assert windows(holidays=False).is_open(hki(2026, 12, 24, 12, 0))


def test_the_next_opening_skips_sunday_and_holidays() -> None:
    # Saturday 5 December 2026 after 16:00; Sunday 6 December is Independence Day.
    assert windows().next_opening(hki(2026, 12, 5, 16, 0)) == hki(2026, 12, 7, 9, 0)
    # Wednesday 23 December after 20:00: 24-26 December are holidays, 27th a Sunday.
    assert windows().next_opening(hki(2026, 12, 23, 20, 0)) == hki(2026, 12, 28, 9, 0)
    open_now = hki(2026, 11, 25, 10, 0)
    assert windows().next_opening(open_now) == open_now


def test_nine_oclock_is_nine_on_both_sides_of_the_dst_changes() -> None:
    # Sunday 25 October 2026 is closed: the next opening is Monday 9:00 +02:00.
    opening = windows().next_opening(datetime(2026, 10, 24, 14, 0, tzinfo=UTC))
    assert opening == datetime(2026, 10, 26, 7, 0, tzinfo=UTC)
    # Saturday 27 March 2027 after 16:00 (+02:00); Sunday the 28th is Easter Day and
    # Monday the 29th Easter Monday: Tuesday 9:00, summer time (+03:00).
    opening = windows().next_opening(datetime(2027, 3, 27, 15, 0, tzinfo=UTC))
    assert opening == datetime(2027, 3, 30, 6, 0, tzinfo=UTC)
    # A window open on the Sunday of the change: 9:00 after the clocks went back.
    sundays = windows(["", "", "", "", "", "", "09:00-12:00"], holidays=False)
    assert sundays.next_opening(datetime(2026, 10, 25, 0, 0, tzinfo=UTC)) == datetime(
        2026, 10, 25, 7, 0, tzinfo=UTC
    )
    assert not sundays.is_open(datetime(2026, 10, 25, 6, 30, tzinfo=UTC))


def test_midnight_ends_a_window_with_24_00() -> None:
    late = windows(["18:00-24:00"] * 7, holidays=False)
    assert late.is_open(hki(2026, 11, 25, 23, 59))
    assert not late.is_open(hki(2026, 11, 26, 0, 0))


def test_windows_that_never_open_have_no_next_opening() -> None:
    assert windows([""] * 7).next_opening(hki(2026, 11, 25, 10, 0)) is None


@pytest.mark.parametrize(
    "value",
    [
        "09:00-20:00",
        ["09:00-20:00"] * 6,
        ["09:00-20:00"] * 8,
        ["9-20"] + [""] * 6,
        ["20:00-09:00"] + [""] * 6,
        ["09:00-09:00"] + [""] * 6,
        ["09:00-24:30"] + [""] * 6,
        ["25:00-26:00"] + [""] * 6,
        [9] + [""] * 6,
        None,
    ],
)
def test_bad_windows_are_refused_at_their_field(value) -> None:
    with pytest.raises(RuleError) as refused:
        parse_send_windows(value)
    assert refused.value.field == "send_windows"

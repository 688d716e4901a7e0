"""Send windows: the hours of each weekday when marketing texts may go out, in
the organisation's time zone, closed on Finnish public holidays (the
``holidays`` package's calendar). Pure: the caller passes the time.

Windows are kept as seven strings, Monday first: ``"09:00-20:00"`` or ``""``
(closed all day); ``24:00`` ends a window at midnight. Wall-clock hours follow
the zone across DST changes: 9:00 is 9:00 on the Sunday the clocks change.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays
from django.utils.translation import gettext as _

from sms.rules import RuleError

DEFAULT_SEND_WINDOWS: tuple[str, ...] = (
    "09:00-20:00",
    "09:00-20:00",
    "09:00-20:00",
    "09:00-20:00",
    "09:00-20:00",
    "10:00-16:00",
    "",
)
ALWAYS_OPEN: tuple[str, ...] = ("00:00-24:00",) * 7

_HOURS = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
# How far ahead a next opening is looked for: every day closed is a mistake, not a wait.
_SEARCH_DAYS = 400


def default_send_windows() -> list[str]:
    return list(DEFAULT_SEND_WINDOWS)


def parse_send_windows(value: object) -> tuple[tuple[time, time | None] | None, ...]:
    """Seven ``(start, end)`` pairs (``end`` None: midnight) or None for a closed
    day; a ``RuleError`` at ``send_windows`` for anything else."""
    if not isinstance(value, list | tuple) or len(value) != 7:
        raise RuleError(
            "invalid_send_windows",
            _("Give seven entries, Monday first, each like 09:00-20:00 or empty."),
            field="send_windows",
        )
    days: list[tuple[time, time | None] | None] = []
    for entry in value:
        if entry in ("", None):
            days.append(None)
            continue
        match = _HOURS.match(entry) if isinstance(entry, str) else None
        if match is None or (match[3] == "24" and match[4] != "00"):
            raise RuleError(
                "invalid_send_windows",
                _("Write each day's hours like 09:00-20:00 (or leave the day empty)."),
                field="send_windows",
            )
        start = time(int(match[1]), int(match[2]))
        end = None if match[3] == "24" else time(int(match[3]), int(match[4]))
        if end is not None and end <= start:
            raise RuleError(
                "invalid_send_windows",
                _("A window must end after it starts: %(entry)s.") % {"entry": entry},
                field="send_windows",
            )
        days.append((start, end))
    return tuple(days)


@lru_cache(maxsize=64)
def _finnish_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.Finland(years=year))


def is_public_holiday(day: date) -> bool:
    """A Finnish public holiday (including Midsummer Eve and Christmas Eve)."""
    return day in _finnish_holidays(day.year)


@dataclass(frozen=True)
class SendWindows:
    days: tuple[tuple[time, time | None] | None, ...]
    zone: zoneinfo.ZoneInfo
    closed_on_holidays: bool = True

    @classmethod
    def of(cls, windows: object, *, zone_name: str, closed_on_holidays: bool) -> SendWindows:
        return cls(parse_send_windows(windows), zoneinfo.ZoneInfo(zone_name), closed_on_holidays)

    def _window_on(self, day: date) -> tuple[datetime, datetime] | None:
        if self.closed_on_holidays and is_public_holiday(day):
            return None
        hours = self.days[day.weekday()]
        if hours is None:
            return None
        start = datetime.combine(day, hours[0], tzinfo=self.zone)
        end = (
            datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
            if hours[1] is None
            else datetime.combine(day, hours[1], tzinfo=self.zone)
        )
        return start, end

    def window_at(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The window ``at`` falls in (start, end), or None when closed."""
        window = self._window_on(at.astimezone(self.zone).date())
        if window and window[0] <= at < window[1]:
            return window
        return None

    def is_open(self, at: datetime) -> bool:
        return self.window_at(at) is not None

    def next_opening(self, at: datetime) -> datetime | None:
        """``at`` when open, else the start of the next window (None: no window
        within a year, every day closed)."""
        if self.is_open(at):
            return at
        day = at.astimezone(self.zone).date()
        for offset in range(_SEARCH_DAYS):
            window = self._window_on(day + timedelta(days=offset))
            if window and window[0] > at:
                return window[0]
        return None

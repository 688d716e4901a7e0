"""When a scheduled sendout may be due: reading ``send_at``, the earliest and
latest allowed times, and wall-clock times of the organisation's time zone.
Pure: the caller passes ``now``.

A time given with its UTC offset is one instant and needs nothing else. A wall
time of a zone (what a person picks in the modal) may not exist (the hour
skipped when clocks go forward, the last Sunday of March in Europe/Helsinki) or
may exist twice (the hour repeated the last Sunday of October); the first is
refused and the second takes the earlier instant (``fold=0``, what Python and
the zone database call the first), and the answer names the offset it chose.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from sms.rules import RuleError

SEND_AT_MIN_AHEAD = timedelta(minutes=1)
SEND_AT_MAX_AHEAD = timedelta(days=90)


def zone_or_none(name: str) -> zoneinfo.ZoneInfo | None:
    if not name or not isinstance(name, str) or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _parse(value: object) -> datetime:
    parsed = None
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        raise RuleError(
            "invalid_send_at",
            _("Enter the time in ISO 8601, e.g. 2026-03-31T09:00:00+03:00."),
            field="send_at",
        )
    return parsed


def send_at_parse(value: object) -> datetime:
    """An ISO 8601 time with its UTC offset (``Z`` or ``+03:00``) as an aware
    datetime; a time without an offset is refused (it would be a guess)."""
    parsed = _parse(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise RuleError(
            "send_at_without_offset",
            _("Give the time with its UTC offset, e.g. 2026-03-31T09:00:00+03:00."),
            field="send_at",
        )
    return parsed


def local_send_at(value: object, *, zone_name: str) -> datetime:
    """A wall-clock time of ``zone_name`` (no offset) as an aware datetime; a time
    that does not exist there (clocks go forward) is refused, a repeated one
    (clocks go back) is its first occurrence."""
    parsed = _parse(value)
    zone = zone_or_none(zone_name) or zoneinfo.ZoneInfo("Europe/Helsinki")
    if parsed.tzinfo is not None:
        return parsed
    aware = parsed.replace(tzinfo=zone, fold=0)
    round_trip = aware.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != parsed:
        raise RuleError(
            "send_at_does_not_exist",
            _(
                "%(time)s does not exist in %(zone)s: the clocks move forward an hour "
                "that night. Choose another time."
            )
            % {"time": parsed.strftime("%Y-%m-%d %H:%M"), "zone": zone.key},
            field="send_at",
        )
    return aware


def send_at_check(send_at: datetime, *, now: datetime) -> datetime:
    """``send_at`` in UTC if it is at least a minute and at most 90 days ahead of
    ``now``; else a ``RuleError`` at ``send_at``."""
    if send_at < now + SEND_AT_MIN_AHEAD:
        raise RuleError(
            "send_at_too_soon",
            _("Choose a time at least a minute from now."),
            field="send_at",
        )
    if send_at > now + SEND_AT_MAX_AHEAD:
        raise RuleError(
            "send_at_too_late",
            _("Choose a time at most 90 days from now."),
            field="send_at",
        )
    return send_at.astimezone(UTC)

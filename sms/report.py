"""A sendout's report: delivery rate, opt-outs it caused, its figures over time,
and the export of its recipients as CSV. Reads only.

The chart's series are ``TIMELINE_SERIES``: each names a key, a label and the
rows whose times it counts (messages delivered, sent; links clicked and replies
can join as entries of their own). ``recipients_csv`` streams the recipients in
constant memory (a server-side cursor on PostgreSQL, rows written as they come);
``EXPORT_COLUMNS`` is its one list of columns, with the value of each.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Min, OuterRef, QuerySet, Subquery
from django.db.models.functions import Trunc
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from sms.links import message_click_annotations, sendout_click_figures
from sms.models import (
    Click,
    OutboundMessage,
    Reply,
    Sendout,
    SuppressedNumber,
    SuppressionSource,
)
from sms.rules.purposes import Purpose
from sms.statuses import (
    MESSAGE_LEFT_STATUSES,
    MESSAGE_OPEN_STATUSES,
    MessageStatus,
    reason_label,
)

# Opt-outs a person asked for after a message: a STOP reply, or the opt-out page.
# (A carrier's 21610 says the person had opted out before this sendout.)
OPT_OUT_SOURCES = (SuppressionSource.REPLY, SuppressionSource.USER)


@dataclass(frozen=True)
class Series:
    """One line of the report's chart: ``rows(sendout)`` are the rows it counts,
    each at the time in its ``field``."""

    key: str
    label: Promise
    rows: Callable[[Sendout], QuerySet]
    field: str


TIMELINE_SERIES: list[Series] = [
    Series(
        "sent",
        _("Sent"),
        lambda sendout: OutboundMessage.objects.filter(
            sendout=sendout, status__in=MESSAGE_LEFT_STATUSES, sent_at__isnull=False
        ),
        "sent_at",
    ),
    Series(
        "delivered",
        _("Delivered"),
        lambda sendout: OutboundMessage.objects.filter(
            sendout=sendout, status=MessageStatus.DELIVERED, delivered_at__isnull=False
        ),
        "delivered_at",
    ),
    Series(
        "clicks",
        _("Clicks"),
        lambda sendout: Click.objects.filter(sendout=sendout, bot_reason=""),
        "clicked_at",
    ),
    Series(
        "replies",
        _("Replies"),
        lambda sendout: Reply.objects.filter(sendout=sendout),
        "received_at",
    ),
]

# Hourly up to a week of figures; daily beyond it (a chart of 168 bars at most).
HOURLY_UP_TO = datetime.timedelta(days=7)


def _left(counts: dict[str, int]) -> int:
    return sum(counts[status] for status in MESSAGE_LEFT_STATUSES)


def delivery_rate(counts: dict[str, int]) -> float | None:
    """Delivered messages of those that left (sent, delivered, undelivered,
    unknown), 0 to 1; None while none has left."""
    left = _left(counts)
    return round(counts[MessageStatus.DELIVERED] / left, 4) if left else None


def opt_outs_caused(*, sendout: Sendout) -> int:
    """Numbers the sendout texted that opted out afterwards (a STOP reply, the
    opt-out page) before any later sendout of the organisation texted them: the
    last message before an opt-out is the one it answers."""
    texted = dict(
        OutboundMessage.objects.filter(
            sendout=sendout, status__in=MESSAGE_LEFT_STATUSES, sent_at__isnull=False
        )
        .filter(
            to__in=SuppressedNumber.objects.filter(
                organisation_id=sendout.organisation_id, source__in=OPT_OUT_SOURCES
            ).values("number")
        )
        .values_list("to", "sent_at")
    )
    if not texted:
        return 0
    opted = {
        number: at
        for number, at in SuppressedNumber.objects.filter(
            organisation_id=sendout.organisation_id, number__in=texted
        ).values_list("number", "created_at")
        if at >= texted[number]
    }
    if not opted:
        return 0
    later = (
        OutboundMessage.objects.filter(
            sendout__organisation_id=sendout.organisation_id,
            to__in=opted,
            status__in=MESSAGE_LEFT_STATUSES,
            sent_at__gt=min(texted[n] for n in opted),
        )
        .exclude(sendout=sendout)
        .exclude(sendout__purpose=Purpose.TEST)
    )
    answered_later = {
        number
        for number, at in later.values_list("to", "sent_at")
        if texted[number] < at <= opted[number]
    }
    return len(set(opted) - answered_later)


def timeline(*, sendout: Sendout, series: Iterable[Series] = ()) -> dict[str, Any]:
    """Each series counted per hour (per day beyond a week) in the current time
    zone, every bucket from the first to the last one with a figure (zeros
    included), so that a chart draws them as they are."""
    chosen = list(series) or TIMELINE_SERIES
    zone = timezone.get_current_timezone()
    spans = [s.rows(sendout).aggregate(first=Min(s.field), last=Max(s.field)) for s in chosen]
    firsts = [span["first"] for span in spans if span["first"]]
    lasts = [span["last"] for span in spans if span["last"]]
    kind = "hour"
    if firsts and max(lasts) - min(firsts) > HOURLY_UP_TO:
        kind = "day"
    buckets: list[datetime.datetime] = []
    if firsts:
        at = _truncate(min(firsts), kind, zone)
        end = _truncate(max(lasts), kind, zone)
        while at <= end:
            buckets.append(at)
            at = _next(at, kind, zone)
    answer = []
    for s in chosen:
        counted = dict(
            s.rows(sendout)
            .annotate(bucket=Trunc(s.field, kind, tzinfo=zone))
            .values_list("bucket")
            .annotate(n=Count("pk"))
            .order_by()
        )
        found = {_truncate(k, kind, zone): v for k, v in counted.items()}
        answer.append(
            {
                "key": s.key,
                "label": str(s.label),
                "points": [{"at": b.isoformat(), "n": found.get(b, 0)} for b in buckets],
            }
        )
    return {"bucket": kind, "series": answer}


def _truncate(at: datetime.datetime, kind: str, zone: datetime.tzinfo) -> datetime.datetime:
    local = timezone.localtime(at, zone)
    if kind == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _next(at: datetime.datetime, kind: str, zone: datetime.tzinfo) -> datetime.datetime:
    """The next bucket: an hour later in absolute time (so the hour repeated or
    skipped at a daylight-saving change is counted as it is), or the next local
    midnight (a day of 23 or 25 hours)."""
    if kind == "hour":
        return timezone.localtime(at + datetime.timedelta(hours=1), zone)
    day = at.date() + datetime.timedelta(days=1)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()), zone)


def sendout_report(*, sendout: Sendout) -> dict[str, Any]:
    """The figures of the report (``counts`` from the selector's annotations)."""
    counts = sendout.counts
    return {
        "recipients": counts["recipients"],
        "left": _left(counts),
        "delivered": counts[MessageStatus.DELIVERED],
        "undelivered": counts[MessageStatus.UNDELIVERED],
        "delivery_rate": delivery_rate(counts),
        "opt_outs": opt_outs_caused(sendout=sendout),
        **_engagement(sendout),
        "timeline": timeline(sendout=sendout),
    }


def _engagement(sendout: Sendout) -> dict[str, Any]:
    clicks = sendout_click_figures(sendout=sendout)
    replies = getattr(sendout, "replies_total", None)
    return {
        "clicks_unique": clicks.unique,
        "clicks_total": clicks.total,
        "click_through_rate": clicks.click_through_rate,
        "replies": sendout.replies.count() if replies is None else replies,
    }


# --- CSV export --------------------------------------------------------------------------

# Characters that make a spreadsheet read a cell as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    """A cell of text people typed, never run as a formula (OWASP: CSV injection)."""
    value = value or ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _time(value: datetime.datetime | None) -> str:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else ""


def _charged(status: str, messages: int) -> str:
    if status in MESSAGE_LEFT_STATUSES:
        return str(messages)
    return "" if status in MESSAGE_OPEN_STATUSES else "0"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[dict[str, Any]], str]
    source: tuple[str, ...] = ()  # the message's fields it reads


def _reason_text(row: dict[str, Any]) -> str:
    return reason_label(row["reason"])


EXPORT_COLUMNS: list[Column] = [
    Column("contact_id", lambda r: str(r["contact_id"] or ""), ("contact_id",)),
    Column(
        "name",
        lambda r: _text(
            " ".join(p for p in (r["contact__first_name"], r["contact__last_name"]) if p)
        ),
        ("contact__first_name", "contact__last_name"),
    ),
    Column("number", lambda r: r["to"], ("to",)),
    Column("status", lambda r: r["status"], ("status",)),
    Column("reason", lambda r: r["reason"], ("reason",)),
    Column("reason_text", lambda r: _text(_reason_text(r)), ("reason",)),
    Column("error_code", lambda r: _text(r["error_code"]), ("error_code",)),
    Column(
        "messages_charged", lambda r: _charged(r["status"], r["messages"]), ("status", "messages")
    ),
    Column("sent_at", lambda r: _time(r["sent_at"]), ("sent_at",)),
    Column("delivered_at", lambda r: _time(r["delivered_at"]), ("delivered_at",)),
    Column("clicks", lambda r: str(r["click_count"]), ("click_count",)),
    Column("reply", lambda r: _text(r["last_reply"]), ("last_reply",)),
]

EXPORT_CHUNK = 2000


class _Line:
    """A file-like object that hands back what ``csv.writer`` writes."""

    def write(self, value: str) -> str:
        return value


def _annotations() -> dict[str, Any]:
    """Per-recipient figures a column may read: its clicks (a correlated count)
    and the text of its last reply."""
    last_reply = (
        Reply.objects.filter(message=OuterRef("pk")).order_by("-received_at", "-id").values("body")
    )
    return {
        "click_count": message_click_annotations()["click_count"],
        "last_reply": Subquery(last_reply[:1]),
    }


def recipients_csv(*, sendout: Sendout, columns: Iterable[Column] = ()) -> Iterator[str]:
    """The sendout's recipients as CSV text, a header and one line per message in
    creation order, yielded a chunk of lines at a time. Constant memory: rows
    come from the database ``EXPORT_CHUNK`` at a time (a server-side cursor on
    PostgreSQL) and nothing is kept."""
    chosen = list(columns) or EXPORT_COLUMNS
    fields = sorted({f for c in chosen for f in c.source})
    writer = csv.writer(_Line())
    yield writer.writerow([c.header for c in chosen])
    rows = (
        OutboundMessage.objects.filter(sendout=sendout)
        .annotate(**{k: v for k, v in _annotations().items() if k in fields})
        .order_by("id")
        .values(*fields)
        .iterator(chunk_size=EXPORT_CHUNK)
    )
    lines = []
    for row in rows:
        lines.append(writer.writerow([c.value(row) for c in chosen]))
        if len(lines) >= 500:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def export_filename(sendout: Sendout) -> str:
    return f"sendout-{sendout.pk}-recipients.csv"

"""Short links with click tracking: the links a sendout's texts carry and the
visits they get.

A tracked sendout (``Sendout.link_tracking``) sends each URL of its message
(``sms.rules.links``) as ``<SMS_SHORT_LINK_BASE_URL>/l/<code>``, the code derived
per recipient from the sendout's id, the contact's id and the link's place
(``sms.rules.links.link_code``). One ``Link`` row per URL of the template holds
where it leads; no row is written per recipient.

A visit of ``/l/<code>`` redirects to the URL and records a ``Click`` with its
time and recipient. Link previews and prefetchers are recorded apart
(``bot_reason``): a crawler's user agent (the ``crawler-user-agents`` list, and
no user agent at all), a request that says it prefetches, a ``HEAD``, and a
visit within ``PREFETCH_SECONDS`` of the message being sent or delivered (an
operator's or phone's link scanner). A code that names no recipient's link is
``None``: the page answers 404 and says nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import crawleruseragents
from django.conf import settings
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from sms.models import BotReason, Click, Link, OutboundMessage, Sendout
from sms.rules.links import CODE_LENGTH, link_code_read, link_coder
from sms.rules.purposes import Purpose
from sms.statuses import MESSAGE_LEFT_STATUSES
from sms.tags import LinkFor, MessageTemplate

LINK_PATH = "/l/"
PREFETCH_SECONDS = 1.0
PREVIEW_SENDOUT_ID = 0
"""The sendout id of the links a preview shows: no sendout has it, so a
preview's link leads nowhere; its length is the real one."""


def short_link_prefix() -> str:
    return settings.SMS_SHORT_LINK_BASE_URL.rstrip("/") + LINK_PATH


def short_link_chars() -> int:
    """The length of every short link: what a tracked URL costs in a text."""
    return len(short_link_prefix()) + CODE_LENGTH


def link_for(*, sendout_id: int) -> LinkFor:
    """``(contact_id, index) -> short link`` for the recipients of one sendout
    (``PREVIEW_SENDOUT_ID`` for a preview)."""
    code = link_coder(key=settings.SECRET_KEY, sendout_id=sendout_id)
    prefix = short_link_prefix()
    return lambda contact_id, index: prefix + code(contact_id, index)


def links_create(*, sendout: Sendout, template: MessageTemplate) -> None:
    """The ``Link`` rows of a tracked template (part of the sendout's creation)."""
    Link.objects.bulk_create(
        Link(sendout=sendout, index=link.index, url=_target(link.url)) for link in template.links
    )


def _target(url: str) -> str:
    # A "www." link opens on https.
    return "https://" + url if url[:4].lower() == "www." else url


@dataclass(frozen=True, slots=True)
class Visit:
    """What a request to a short link tells about itself."""

    method: str
    user_agent: str
    purpose: str  # the Sec-Purpose or Purpose header ("prefetch")


def bot_reason(visit: Visit) -> str:
    """Why ``visit`` is not a person's click by what it says ("" when it is one)."""
    if visit.method == "HEAD":
        return BotReason.HEAD
    if "prefetch" in visit.purpose.lower():
        return BotReason.PREFETCH
    if not visit.user_agent.strip() or crawleruseragents.is_crawler(visit.user_agent):
        return BotReason.USER_AGENT
    return ""


def _too_soon(message: OutboundMessage, now) -> bool:
    soon = timedelta(seconds=PREFETCH_SECONDS)
    moments = [message.sent_at, message.delivered_at]
    return any(at is not None and at <= now < at + soon for at in moments)


@transaction.atomic
def link_follow(*, code: str, visit: Visit) -> str | None:
    """Record a visit of short link ``code`` and answer where it leads, or None
    (nothing written) when the code names no recipient's link."""
    ids = link_code_read(key=settings.SECRET_KEY, code=code)
    if ids is None:
        return None
    sendout_id, contact_id, index = ids
    link = Link.objects.filter(sendout_id=sendout_id, index=index).first()
    if link is None:
        return None
    # A test message (``sms.sendouts.test_send``) goes to the user, not to the
    # member whose details it carries: it names no contact.
    recipient = Q(contact_id=contact_id) | Q(contact=None, sendout__purpose=Purpose.TEST)
    message = (
        OutboundMessage.objects.filter(
            recipient, sendout_id=sendout_id, status__in=MESSAGE_LEFT_STATUSES
        )
        .order_by("id")
        .first()
    )
    if message is None:
        return None
    now = timezone.now()
    reason = bot_reason(visit) or (BotReason.TOO_SOON if _too_soon(message, now) else "")
    Click.objects.create(sendout_id=sendout_id, link=link, message=message, bot_reason=reason)
    return link.url


@dataclass(frozen=True, slots=True)
class ClickFigures:
    unique: int  # recipients who clicked at least once
    total: int  # clicks in all
    bots: int  # visits of link previews and prefetchers
    click_through_rate: float | None  # unique / recipients whose message left; None: none left


def _click_count(outer: str, count: Count, **filters) -> Coalesce:
    rows = (
        Click.objects.filter(**{outer: OuterRef("pk")}, **filters)
        .order_by()
        .values(outer)
        .annotate(n=count)
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def click_annotations() -> dict:
    """Annotations of a sendout queryset with its clicks (``clicks_unique``,
    ``clicks_total``, ``clicks_bots``): one subquery each, no row per sendout read."""
    return {
        "clicks_unique": _click_count("sendout", Count("message", distinct=True), bot_reason=""),
        "clicks_total": _click_count("sendout", Count("id"), bot_reason=""),
        "clicks_bots": _click_count("sendout", Count("id"), bot_reason__gt=""),
    }


def message_click_annotations() -> dict:
    """Annotations of an outbound message queryset: ``clicks`` (a person's) and
    ``first_click_at``."""
    first = (
        Click.objects.filter(message=OuterRef("pk"), bot_reason="")
        .order_by("clicked_at")
        .values("clicked_at")[:1]
    )
    return {
        "click_count": _click_count("message", Count("id"), bot_reason=""),
        "first_click_at": Subquery(first),
    }


def sendout_click_figures(*, sendout: Sendout) -> ClickFigures:
    """The clicks of a sendout (from ``click_annotations`` when the queryset had
    them), with the click-through rate over the recipients whose message left
    (sent, delivered, undelivered or unknown)."""
    if hasattr(sendout, "clicks_unique"):
        unique, total, bots = sendout.clicks_unique, sendout.clicks_total, sendout.clicks_bots
    else:
        people = Q(bot_reason="")
        found = Click.objects.filter(sendout=sendout).aggregate(
            unique=Count("message", filter=people, distinct=True),
            total=Count("id", filter=people),
            bots=Count("id", filter=~people),
        )
        unique, total, bots = found["unique"], found["total"], found["bots"]
    counts = sendout.counts
    left = sum(counts[status] for status in MESSAGE_LEFT_STATUSES)
    rate = round(unique / left, 4) if left else None
    return ClickFigures(unique, total, bots, rate)

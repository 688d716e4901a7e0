"""Reconciliation with the provider: settling messages whose send was interrupted
(a worker that died holding the lease, a read timeout, a connection lost after
sending) by looking them up in the provider's own list of messages.

- Found: the message is ``sent`` with the provider's id (``recovered``); later
  status callbacks apply to it.
- Not found once the request could no longer arrive (its timeout) plus
  ``SMS_RECONCILE_GRACE`` (the provider's listing delay): it never left. In an
  open sendout it goes back to ``pending`` and is sent again (``resent``); in a
  finished one (an old ``unknown``) it fails and is refunded (``refunded``).
- The provider cannot be asked (no credentials, a backend that cannot list, or
  failing lookups for ``SMS_RECONCILE_GIVE_UP`` seconds): ``unknown``, charged
  (``unresolved``); the ``sms_reconcile`` command and the admin action try again.

Every change is a conditional update on the statuses that may move
(``allowed_previous(..., late_answer=True)``: the provider's list is its word),
so a worker's late answer and a reconciliation never apply twice.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from sms.backends import BaseSmsBackend, ErrorKind, LookupQuery, LookupResult, get_backend
from sms.models import OutboundMessage, Sendout
from sms.quota import quota_refund
from sms.rules.senders import sender_choice
from sms.sendouts.common import chunk_enqueue, lease_until, new_holder
from sms.statuses import (
    SENDOUT_UNFINISHED_STATUSES,
    MessageReason,
    MessageStatus,
    Recovery,
    allowed_previous,
)

logger = logging.getLogger(__name__)

# Messages looked up per sweep run at most: a crash strands one slice per worker
# thread, so this is many crashes' worth; the rest wait for the next run.
BATCH = 500


@dataclass
class Reconciled:
    """What one reconciliation run did, by outcome (``Recovery`` values, and
    ``waiting``: not found yet, within the grace period, or the provider busy)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    resend: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    """{sendout id: message ids} moved back to ``pending``, to hand to the workers."""
    sendouts: set[int] = field(default_factory=set)

    def __iadd__(self, other: Reconciled) -> Reconciled:
        self.outcomes.update(other.outcomes)
        for sendout_id, ids in other.resend.items():
            self.resend[sendout_id].extend(ids)
        self.sendouts |= other.sendouts
        return self


def take_over_expired_leases(*, stale_before: datetime | None = None) -> list[OutboundMessage]:
    """Messages in ``sending`` whose lease expired, now leased by the sweeper
    (so that two sweepers never look up the same message). ``stale_before``:
    messages claimed before leases existed (no ``claimed_until``) count as
    expired when unchanged since then."""
    now = timezone.now()
    expired = Q(claimed_until__lt=now)
    if stale_before is not None:
        expired |= Q(claimed_until__isnull=True, updated_at__lt=stale_before)
    holder = new_holder("sweeper")
    with transaction.atomic():
        ids = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(expired, status=MessageStatus.SENDING)
            .order_by("claimed_until", "id")
            .values_list("id", flat=True)[:BATCH]
        )
        if not ids:
            return []
        OutboundMessage.objects.filter(id__in=ids, status=MessageStatus.SENDING).update(
            claimed_by=holder, claimed_until=lease_until()
        )
    return list(
        OutboundMessage.objects.filter(id__in=ids, claimed_by=holder).select_related(
            "sendout__organisation__sms_settings"
        )
    )


def messages_reconcile(
    *, messages: Iterable[OutboundMessage], backend: BaseSmsBackend | None = None
) -> Reconciled:
    """Look ``messages`` (``sending`` or ``unknown``) up at the provider and settle
    each as the module docstring says. Messages to resend are only collected
    (``Reconciled.resend``): :func:`reconciled_resend` hands them to the workers."""
    messages = [m for m in messages if m.to]
    done = Reconciled()
    if not messages:
        return done
    if backend is None:
        try:
            opened = get_backend()
        except ImproperlyConfigured:  # no credentials: the provider cannot be asked
            logger.exception("sms reconciliation: the SMS backend is not configured")
            opened = BaseSmsBackend()  # answers every lookup with a permanent error
        with opened:
            return messages_reconcile(messages=messages, backend=opened)
    now = timezone.now()
    results = backend.lookup([_query(m, now) for m in messages])
    taken = set(
        OutboundMessage.objects.filter(
            provider_id__in={pid for r in results for pid in r.provider_ids}
        ).values_list("provider_id", flat=True)
    )
    grace = timedelta(seconds=settings.SMS_RECONCILE_GRACE + backend.max_request_seconds)
    give_up = timedelta(seconds=settings.SMS_RECONCILE_GIVE_UP)
    for message, result in zip(messages, results, strict=True):
        outcome = _settle(message, result, now=now, grace=grace, give_up=give_up, taken=taken)
        done.outcomes[outcome] += 1
        done.sendouts.add(message.sendout_id)
        if outcome == Recovery.RESENT:
            done.resend[message.sendout_id].append(message.pk)
    if done.outcomes:
        logger.info(
            "sms reconciliation: %s",
            ", ".join(f"{k} {v}" for k, v in sorted(done.outcomes.items())),
            extra={f"reconciled_{k}": v for k, v in done.outcomes.items()},
        )
    return done


def reconciled_resend(done: Reconciled) -> None:
    """Hand the messages moved back to ``pending`` to the workers. If the broker
    cannot be reached they stay pending, and the sweeper finds the lost work."""
    for sendout_id, ids in done.resend.items():
        try:
            chunk_enqueue(sendout_id=sendout_id, message_ids=ids)
        except Exception:
            logger.exception("sms sendout %s: could not enqueue the messages to resend", sendout_id)


def _attempt_start(message: OutboundMessage) -> datetime:
    return (
        message.attempt_started_at
        or message.sendout.started_at
        or message.sendout.created_at
        or message.created_at
    )


def _query(message: OutboundMessage, now: datetime) -> LookupQuery:
    sendout = message.sendout
    sms_settings = sendout.organisation.sms_settings
    choice = sender_choice(
        sendout.sender,
        operator_number=sms_settings.operator_number,
        messaging_service_sid=sms_settings.messaging_service_sid,
    )
    return LookupQuery(
        reference=message.pk,
        to=message.to,
        body=message.body,
        sender=choice.sender,
        messaging_service_sid=choice.messaging_service_sid,
        sent_after=_attempt_start(message),
        sent_before=now,
    )


def _settle(
    message: OutboundMessage,
    result: LookupResult,
    *,
    now: datetime,
    grace: timedelta,
    give_up: timedelta,
    taken: set[str],
) -> str:
    started = _attempt_start(message)
    if result.error is None:
        free = [pid for pid in result.provider_ids if pid not in taken]
        if free:
            taken.add(free[0])
            return _found(message, free[0], now=now)
        if now >= started + grace:
            return _never_sent(message, now=now)
        # Maybe not listed yet: look again once the grace period is over.
        _release(message, until=started + grace)
        return "waiting"
    if result.error.kind is ErrorKind.PERMANENT or now >= started + give_up:
        return _unresolved(message, now=now, code=result.error.code or "")
    _release(message, until=lease_until())
    return "waiting"


def _movable(message: OutboundMessage, new: str) -> QuerySet[OutboundMessage]:
    """The message, if it may still move to ``new``: ``unknown``, or ``sending``
    under the lease this reconciliation holds."""
    return OutboundMessage.objects.filter(
        Q(claimed_by=message.claimed_by) | ~Q(status=MessageStatus.SENDING),
        pk=message.pk,
        status__in=allowed_previous(new, late_answer=True),
    )


def _found(message: OutboundMessage, provider_id: str, *, now: datetime) -> str:
    try:
        with transaction.atomic():
            moved = _movable(message, MessageStatus.SENT).update(
                status=MessageStatus.SENT,
                provider_id=provider_id[:64],
                reason="",
                recovery=Recovery.RECOVERED,
                claimed_by="",
                claimed_until=None,
                sent_at=now,
                updated_at=now,
            )
    except IntegrityError:  # another message took that provider id meanwhile
        moved = 0
    return Recovery.RECOVERED if moved else "settled_elsewhere"


def _never_sent(message: OutboundMessage, *, now: datetime) -> str:
    with transaction.atomic():
        sendout = Sendout.objects.select_for_update().get(pk=message.sendout_id)
        # Paused (send window) is unfinished too: the message waits, pending, for the resume.
        if sendout.status in SENDOUT_UNFINISHED_STATUSES:
            moved = _movable(message, MessageStatus.PENDING).update(
                status=MessageStatus.PENDING,
                reason="",
                error_code="",
                recovery=Recovery.RESENT,
                claimed_by="",
                claimed_until=None,
                updated_at=now,
            )
            return Recovery.RESENT if moved else "settled_elsewhere"
        moved = _movable(message, MessageStatus.FAILED).update(
            status=MessageStatus.FAILED,
            reason=MessageReason.NEVER_SENT,
            recovery=Recovery.REFUNDED,
            claimed_by="",
            claimed_until=None,
            updated_at=now,
        )
        if moved and message.messages:
            quota_refund(
                organisation=sendout.organisation,
                amount=message.messages,
                sendout=sendout,
                reason=_("Messages not found at the provider"),
            )
    return Recovery.REFUNDED if moved else "settled_elsewhere"


def _unresolved(message: OutboundMessage, *, now: datetime, code: str) -> str:
    OutboundMessage.objects.filter(
        Q(status=MessageStatus.SENDING, claimed_by=message.claimed_by)
        | Q(status=MessageStatus.UNKNOWN),
        pk=message.pk,
    ).update(
        status=MessageStatus.UNKNOWN,
        reason=MessageReason.NOT_RECONCILED,
        error_code=code[:32],
        recovery=Recovery.UNRESOLVED,
        claimed_by="",
        claimed_until=None,
        updated_at=now,
    )
    return Recovery.UNRESOLVED


def _release(message: OutboundMessage, *, until: datetime) -> None:
    """Keep the message ``sending``, free for the sweeper again at ``until``."""
    OutboundMessage.objects.filter(
        pk=message.pk, status=MessageStatus.SENDING, claimed_by=message.claimed_by
    ).update(claimed_by="", claimed_until=until)


def reconciliation_summary(outcomes: Counter[str]) -> str:
    """What a reconciliation of stored ``unknown`` messages did, for people."""
    return _(
        "Unknown messages looked up: %(total)s. Found and sent: %(recovered)s. "
        "Not found, refunded: %(refunded)s. Not found, sent again: %(resent)s. "
        "Still unknown (the provider could not be asked): %(unresolved)s."
    ) % {
        "total": sum(outcomes.values()),
        "recovered": outcomes[Recovery.RECOVERED],
        "refunded": outcomes[Recovery.REFUNDED],
        "resent": outcomes[Recovery.RESENT],
        "unresolved": outcomes[Recovery.UNRESOLVED] + outcomes["waiting"],
    }

"""A sendout's life after it was created: finishing it, cancelling it, the
sweep that recovers from crashed workers and lost queued work, and the
reconciliation of stored ``unknown`` messages."""

import logging
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from sms import clock
from sms.models import OutboundMessage, Sendout
from sms.quota import quota_refund
from sms.sendouts.common import log_ids, sendout_enqueue, sendout_write_enqueue
from sms.sendouts.reconcile import BATCH as RECONCILE_BATCH
from sms.sendouts.reconcile import (
    Reconciled,
    messages_reconcile,
    reconciled_resend,
    take_over_expired_leases,
)
from sms.statuses import (
    MESSAGE_OPEN_STATUSES,
    SENDOUT_OPEN_STATUSES,
    MessageReason,
    MessageStatus,
    SendoutStatus,
    allowed_previous,
    sendout_can_move,
)

logger = logging.getLogger(__name__)


def sendout_finish_if_done(*, sendout_id: int) -> bool:
    """Complete the sendout once no message is pending or sending."""
    with transaction.atomic():
        sendout = Sendout.objects.select_for_update().get(pk=sendout_id)
        if not sendout_can_move(sendout.status, SendoutStatus.COMPLETED):
            return False
        if not sendout.messages_written:  # the worker writes them (sms.sendouts.write)
            return False
        if sendout.messages.filter(status__in=MESSAGE_OPEN_STATUSES).exists():
            return False
        sendout.status = SendoutStatus.COMPLETED
        sendout.finished_at = timezone.now()
        sendout.save(update_fields=["status", "finished_at"])
    logger.info("sms sendout %s completed", sendout_id, extra=log_ids(sendout))
    return True


@transaction.atomic
def sendout_cancel(*, sendout: Sendout, cancelled_by: AbstractBaseUser | None = None) -> Sendout:
    """Cancel what has not left yet and refund it; messages already sent stay charged."""
    sendout = Sendout.objects.select_for_update().get(pk=sendout.pk)
    if not sendout_can_move(sendout.status, SendoutStatus.CANCELLED):
        raise DomainError(
            "not_cancellable",
            _("This sendout has finished and cannot be cancelled."),
            status_code=409,
        )
    pending = sendout.messages.select_for_update().filter(
        status__in=allowed_previous(MessageStatus.CANCELLED)
    )
    refund = pending.aggregate(n=Sum("messages"))["n"] or 0
    if not sendout.messages_written:  # nothing written, nothing sent: all of it
        refund = sendout.messages_charged
    pending.update(
        status=MessageStatus.CANCELLED, reason=MessageReason.CANCELLED, updated_at=timezone.now()
    )
    if refund:
        quota_refund(
            organisation=sendout.organisation,
            amount=refund,
            sendout=sendout,
            reason=_("Sendout cancelled"),
        )
    sendout.status = SendoutStatus.CANCELLED
    sendout.finished_at = timezone.now()
    sendout.save(update_fields=["status", "finished_at"])
    logger.info(
        "sms sendout %s cancelled: %s messages refunded",
        sendout.pk,
        refund,
        extra=log_ids(sendout)
        | {"messages_refunded": refund, "user_id": getattr(cancelled_by, "pk", None)},
    )
    return sendout


def sweep_stuck_messages(
    *, older_than: timedelta | None = None, reconcile: bool = True
) -> list[int]:
    """Recover from crashes; answers the ids of sendouts whose work was lost.

    - Messages whose lease expired in ``sending`` (a worker died holding them, or
      its request ended ambiguously) are taken over and reconciled with the
      provider (``sms.sendouts.reconcile``): found, ``sent``; surely never sent,
      back to ``pending`` and handed to the workers again; the provider out of
      reach, ``unknown``. Messages claimed before leases existed count as expired
      once unchanged for ``older_than``.
    - An open sendout with ``pending`` messages and no message changed within
      ``older_than`` (default ``SMS_LOST_WORK_SECONDS``) lost its queued work: the
      caller enqueues it again (claims make a double harmless).
    - Sendouts with no open message left are completed.

    ``reconcile=False`` leaves expired leases alone, for a process that cannot
    reach the provider the workers send to (a test driving the sweep).
    """
    if older_than is None:  # not `or`: timedelta(0) is falsy and means "now"
        older_than = timedelta(seconds=settings.SMS_LOST_WORK_SECONDS)
    cutoff = timezone.now() - older_than
    done = Reconciled()
    while reconcile and (taken := take_over_expired_leases(stale_before=cutoff)):
        done += messages_reconcile(messages=taken)
        if len(taken) < RECONCILE_BATCH:
            break
    reconciled_resend(done)
    running = Sendout.objects.filter(status__in=SENDOUT_OPEN_STATUSES)
    messages = OutboundMessage.objects.filter(sendout=OuterRef("pk"))
    lost = list(
        running.filter(Exists(messages.filter(status=MessageStatus.PENDING)))
        .exclude(Exists(messages.filter(updated_at__gte=cutoff)))
        .exclude(resume_at__gt=clock.now())  # paced: the dispatcher's, at that time
        .exclude(id__in=done.resend.keys())
        .values_list("id", flat=True)
    )
    for sendout_id in running.filter(created_at__lt=cutoff).values_list("id", flat=True):
        sendout_finish_if_done(sendout_id=sendout_id)
    for sendout_id in done.sendouts:
        sendout_finish_if_done(sendout_id=sendout_id)
    if lost:
        logger.info(
            "sms sweep: %s sendouts lost their queued work", len(lost), extra={"sendout_ids": lost}
        )
    return lost


def sendouts_unwritten(*, older_than: timedelta | None = None) -> list[int]:
    """Open sendouts created more than ``older_than`` (default
    ``SMS_LOST_WORK_SECONDS``) ago whose messages are still not written: their
    writing task was lost (a broker out of reach, a worker that died). A
    scheduled one is left to the dispatch at its time, which writes first."""
    if older_than is None:
        older_than = timedelta(seconds=settings.SMS_LOST_WORK_SECONDS)
    return list(
        Sendout.objects.filter(
            messages_written=False,
            status__in=[SendoutStatus.QUEUED, SendoutStatus.SENDING],
            created_at__lt=timezone.now() - older_than,
        ).values_list("id", flat=True)
    )


def sendout_run_sweep() -> int:
    """Sweep, then hand every sendout that lost its queued work (or the writing
    of its messages) to the workers again; answers how many."""
    lost = sweep_stuck_messages()
    for sendout_id in lost:
        sendout_enqueue(sendout_id=sendout_id)
    unwritten = sendouts_unwritten()
    for sendout_id in unwritten:
        sendout_write_enqueue(sendout_id=sendout_id)
    return len(lost) + len(unwritten)


def messages_reconcile_unknown(*, messages: QuerySet[OutboundMessage]) -> Counter[str]:
    """Reconcile stored ``unknown`` messages (the command and the admin action):
    found, ``sent``; not found, refunded (``failed``) in a finished sendout, or
    sent again in an open one; the provider out of reach, still ``unknown``.
    Answers the count per outcome."""
    outcomes: Counter[str] = Counter()
    unknown = messages.filter(status=MessageStatus.UNKNOWN).select_related(
        "sendout__organisation__sms_settings"
    )
    last = 0
    while batch := list(unknown.filter(pk__gt=last).order_by("pk")[:RECONCILE_BATCH]):
        last = batch[-1].pk
        done = messages_reconcile(messages=batch)
        reconciled_resend(done)
        for sendout_id in done.sendouts:
            sendout_finish_if_done(sendout_id=sendout_id)
        outcomes.update(done.outcomes)
    return outcomes

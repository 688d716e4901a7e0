"""A sendout's life after it was created: finishing it, cancelling it, and the
sweep that recovers from crashed workers and lost queued work."""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from sms.models import OutboundMessage, Sendout
from sms.quota import quota_refund
from sms.sendouts.common import log_ids, sendout_enqueue
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


def sweep_stuck_messages(*, older_than: timedelta | None = None) -> list[int]:
    """Recover from crashes; answers the ids of sendouts whose work was lost.

    A message left in ``sending`` past the timeout may or may not have reached
    the provider: it becomes ``unknown`` (charged, never resent blindly). A
    sendout with ``pending`` messages nobody touched within the timeout lost its
    queued work: the caller enqueues it again (claims make a double harmless).
    Sendouts with no open message left are completed.
    """
    if older_than is None:  # not `or`: timedelta(0) is falsy and means "now"
        older_than = timedelta(seconds=settings.SMS_SENDING_TIMEOUT)
    cutoff = timezone.now() - older_than
    marked = OutboundMessage.objects.filter(
        status__in=allowed_previous(MessageStatus.UNKNOWN), updated_at__lt=cutoff
    ).update(
        status=MessageStatus.UNKNOWN,
        reason=MessageReason.LOST_IN_SENDING,
        updated_at=timezone.now(),
    )
    if marked:
        logger.warning(
            "sms sweep: %s messages left in sending became unknown",
            marked,
            extra={"messages_unknown": marked},
        )
    running = Sendout.objects.filter(status__in=SENDOUT_OPEN_STATUSES)
    lost = list(
        running.filter(messages__status=MessageStatus.PENDING, messages__updated_at__lt=cutoff)
        .values_list("id", flat=True)
        .distinct()
    )
    for sendout_id in running.filter(created_at__lt=cutoff).values_list("id", flat=True):
        sendout_finish_if_done(sendout_id=sendout_id)
    if lost:
        logger.info(
            "sms sweep: %s sendouts lost their queued work", len(lost), extra={"sendout_ids": lost}
        )
    return lost


def sendout_run_sweep() -> int:
    """Sweep, then hand every sendout that lost its queued work to the workers
    again; answers how many."""
    lost = sweep_stuck_messages()
    for sendout_id in lost:
        sendout_enqueue(sendout_id=sendout_id)
    return len(lost)

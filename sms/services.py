"""Sendouts: creating one (reserving the quota), sending it, cancelling it.

Invariants kept here:
- A recipient is texted at most once: a message is sent only after it was
  claimed by a conditional update from ``pending`` to ``sending``; a message seen
  in ``sending`` by anyone else is never sent again (it ends as ``unknown``).
- The quota is reserved for the whole sendout in the transaction that creates it,
  and refunded for every message that never left (skipped at send time,
  rejected, cancelled, out of retries). ``unknown`` and accepted messages stay charged.
- Statuses only move forward (``sms.models.can_move``).
"""

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.errors import DomainError
from crm.models import Contact, OptOutSource
from sms import rules, tags
from sms.backends import ErrorKind, SendResult, SmsMessage, get_backend
from sms.models import (
    MessageReason,
    MessageStatus,
    OutboundMessage,
    Sendout,
    SendoutStatus,
    SmsSettings,
    can_move,
)
from sms.quota import quota_refund, quota_reserve, sms_settings_for
from sms.recipients import recipients_resolve
from targetgroups.models import TargetGroup

logger = logging.getLogger(__name__)


OPEN_STATUSES = (MessageStatus.PENDING, MessageStatus.SENDING)


def sms_enabled_or_refuse(*, sms_settings: SmsSettings) -> None:
    if not sms_settings.sms_enabled:
        raise DomainError(
            "sms_not_enabled",
            _("SMS messages are not enabled for your organisation. Ask an administrator."),
            status_code=403,
        )


@dataclass(frozen=True)
class SendoutRequest:
    sender: str
    phone_field: str
    template: tags.MessageTemplate
    body: str


def sendout_validate(
    *, sms_settings: SmsSettings, sender: str, phone_field: str, body: str
) -> SendoutRequest:
    """Check what a user asked for; raises ``rules.RuleError`` naming the field."""
    sender = rules.resolve_sender(
        sender or rules.OPERATOR_SENDER,
        named_senders_enabled=sms_settings.named_senders_enabled,
        approved_names=sms_settings.approved_sender_names(),
    )
    phone_field = rules.validate_phone_field(phone_field or rules.DEFAULT_PHONE_FIELD)
    body = rules.validate_body(body)
    return SendoutRequest(sender, phone_field, tags.parse_template(body), body)


def sendout_create(
    *,
    target_group: TargetGroup,
    created_by: AbstractBaseUser,
    sender: str,
    phone_field: str,
    body: str,
    expected_messages: int | None = None,
    idempotency_key: str = "",
) -> tuple[Sendout, bool]:
    """Create a sendout and reserve its quota; answers (sendout, created).

    One transaction: re-resolves the recipients, checks the count the user
    confirmed, reserves the quota (or refuses and writes nothing), writes every
    outbound message (skipped ones with their reason) and enqueues the sending
    when the transaction commits. A repeated ``idempotency_key`` of the same user
    answers the first sendout and creates nothing.
    """
    if idempotency_key:
        existing = Sendout.objects.filter(
            created_by=created_by, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return existing, False
    try:
        sendout = _sendout_create(
            target_group=target_group,
            created_by=created_by,
            sender=sender,
            phone_field=phone_field,
            body=body,
            expected_messages=expected_messages,
            idempotency_key=idempotency_key,
        )
    except IntegrityError:
        # A concurrent request with the same key won the race: answer its sendout.
        existing = Sendout.objects.filter(
            created_by=created_by, idempotency_key=idempotency_key
        ).first()
        if not idempotency_key or existing is None:
            raise
        return existing, False
    return sendout, True


@transaction.atomic
def _sendout_create(
    *,
    target_group: TargetGroup,
    created_by: AbstractBaseUser,
    sender: str,
    phone_field: str,
    body: str,
    expected_messages: int | None,
    idempotency_key: str,
) -> Sendout:
    organisation = target_group.organisation
    sms_settings = sms_settings_for(organisation=organisation)
    sms_enabled_or_refuse(sms_settings=sms_settings)
    request = sendout_validate(
        sms_settings=sms_settings, sender=sender, phone_field=phone_field, body=body
    )
    sendout = Sendout.objects.create(
        organisation=organisation,
        target_group=target_group,
        sender=request.sender,
        phone_field=request.phone_field,
        body=request.body,
        created_by=created_by,
        idempotency_key=idempotency_key,
        status=SendoutStatus.QUEUED,
    )
    messages = []
    total = 0
    for recipient in recipients_resolve(
        target_group=target_group, phone_field=request.phone_field, template=request.template
    ):
        total += recipient.messages
        messages.append(
            OutboundMessage(
                sendout=sendout,
                contact_id=recipient.contact_id,
                to=recipient.to,
                body=recipient.body,
                messages=recipient.messages,
                status=MessageStatus.PENDING if recipient.sendable else MessageStatus.SKIPPED,
                reason=recipient.reason.value if recipient.reason else "",
            )
        )
    if expected_messages is not None and expected_messages != total:
        raise DomainError(
            "count_changed",
            _(
                "The target group changed: the sendout would now bill %(now)s messages, "
                "not %(expected)s. Check the numbers and confirm again."
            )
            % {"now": total, "expected": expected_messages},
            status_code=409,
            messages=total,
            expected_messages=expected_messages,
        )
    if total == 0:
        raise DomainError(
            "no_recipients",
            _("Nobody in this target group can receive the message."),
            status_code=400,
        )
    quota_reserve(organisation=organisation, amount=total, sendout=sendout, created_by=created_by)
    OutboundMessage.objects.bulk_create(messages, batch_size=2000)
    sendout.recipients_total = len(messages)
    sendout.save(update_fields=["recipients_total"])
    sendable = sum(1 for m in messages if m.status == MessageStatus.PENDING)
    logger.info(
        "sms sendout %s created: %s recipients, %s skipped, %s messages reserved",
        sendout.pk,
        sendable,
        len(messages) - sendable,
        total,
        extra=_ids(sendout)
        | {"recipients": sendable, "skipped": len(messages) - sendable}
        | {"messages_reserved": total, "user_id": created_by.pk},
    )
    transaction.on_commit(lambda: sendout_enqueue(sendout_id=sendout.pk))
    return sendout


def _ids(sendout: Sendout) -> dict[str, int | None]:
    """The ids every sendout log line carries (never a number or a message body)."""
    return {
        "sendout_id": sendout.pk,
        "organisation_id": sendout.organisation_id,
        "target_group_id": sendout.target_group_id,
    }


def sendout_enqueue(*, sendout_id: int) -> None:
    """Hand the sendout to the workers. If the broker cannot be reached, the
    sendout stays queued with its quota reserved, and the sweeper enqueues it
    again; the user's request still succeeds."""
    try:
        current_app.send_task("sms.tasks.sendout_dispatch", args=[sendout_id])
    except Exception:
        logger.exception(
            "sms sendout %s: could not enqueue; the sweeper will retry",
            sendout_id,
            extra={"sendout_id": sendout_id},
        )


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: up to 2, 4, 8, ... seconds, capped."""
    cap = min(settings.SMS_RETRY_BACKOFF_MAX, settings.SMS_RETRY_BACKOFF_BASE * 2**attempt)
    return random.uniform(cap / 2, cap)


def sendout_dispatch(*, sendout_id: int) -> list[list[int]]:
    """Mark the sendout started and split its pending messages into chunks to send."""
    with transaction.atomic():
        sendout = Sendout.objects.select_for_update().get(pk=sendout_id)
        if sendout.status in (SendoutStatus.CANCELLED, SendoutStatus.COMPLETED):
            return []
        if sendout.status == SendoutStatus.QUEUED:
            sendout.status = SendoutStatus.SENDING
            sendout.started_at = timezone.now()
            sendout.save(update_fields=["status", "started_at"])
    ids = list(
        sendout.messages.filter(status=MessageStatus.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )
    size = settings.SMS_CHUNK_SIZE
    chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
    logger.info(
        "sms sendout %s dispatched: %s pending messages in %s chunks",
        sendout_id,
        len(ids),
        len(chunks),
        extra=_ids(sendout) | {"pending": len(ids), "chunks": len(chunks)},
    )
    if not chunks:
        sendout_finish_if_done(sendout_id=sendout_id)
    return chunks


def _claim(*, sendout_id: int, message_ids: Sequence[int]) -> list[OutboundMessage]:
    """pending → sending by one conditional update; only what this call moved is ours."""
    now = timezone.now()
    with transaction.atomic():
        claimable = list(
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(sendout_id=sendout_id, id__in=message_ids, status=MessageStatus.PENDING)
            .values_list("id", flat=True)
        )
        if not claimable:
            return []
        OutboundMessage.objects.filter(id__in=claimable, status=MessageStatus.PENDING).update(
            status=MessageStatus.SENDING, updated_at=now
        )
    return list(
        OutboundMessage.objects.filter(id__in=claimable, status=MessageStatus.SENDING).only(
            "id", "to", "body", "messages", "attempts"
        )
    )


def sendout_send_chunk(*, sendout_id: int, message_ids: Sequence[int]) -> dict[int, float]:
    """Send the chunk's pending messages and record each outcome.

    Answers {message id: delay} for messages to retry later (transient errors).
    """
    sendout = Sendout.objects.select_related("organisation__sms_settings").get(pk=sendout_id)
    claimed = _claim(sendout_id=sendout_id, message_ids=message_ids)
    if not claimed:
        sendout_finish_if_done(sendout_id=sendout_id)
        return {}
    sms_settings = sendout.organisation.sms_settings
    named = sendout.sender if sendout.sender != rules.OPERATOR_SENDER else None
    callback = _status_callback_url()
    outbox = [
        SmsMessage(
            to=m.to,
            body=m.body,
            sender=named or sms_settings.operator_number or None,
            status_callback=callback,
            reference=m.pk,
        )
        for m in claimed
    ]
    with get_backend() as backend:
        results = backend.send_messages(outbox)
    retries = _record_results(sendout=sendout, claimed=claimed, results=results)
    outcome = {status: sum(1 for m in claimed if m.status == status) for status in MessageStatus}
    logger.info(
        "sms sendout %s chunk sent: %s ok, %s failed, %s to retry, %s unknown",
        sendout_id,
        outcome[MessageStatus.SENT],
        outcome[MessageStatus.FAILED],
        len(retries),
        outcome[MessageStatus.UNKNOWN],
        extra=_ids(sendout)
        | {"claimed": len(claimed), "ok": outcome[MessageStatus.SENT], "retry": len(retries)}
        | {"failed": outcome[MessageStatus.FAILED], "unknown": outcome[MessageStatus.UNKNOWN]},
    )
    sendout_finish_if_done(sendout_id=sendout_id)
    return retries


def _status_callback_url() -> str | None:
    base = settings.SMS_STATUS_CALLBACK_BASE_URL
    if not base:
        return None
    return base.rstrip("/") + "/sms/webhooks/twilio/status/"


def _record_results(
    *, sendout: Sendout, claimed: list[OutboundMessage], results: list[SendResult]
) -> dict[int, float]:
    by_id = {m.pk: m for m in claimed}
    now = timezone.now()
    sent: list[OutboundMessage] = []
    retries: dict[int, float] = {}
    refund = 0
    with transaction.atomic():
        for result in results:
            message = by_id[int(result.reference)]
            message.attempts += 1
            message.updated_at = now
            if result.ok:
                message.status = MessageStatus.SENT
                message.provider_id = result.provider_id or ""
                message.sent_at = now
                sent.append(message)
                continue
            error = result.error
            message.error_code = (error.code or str(error.http_status or ""))[:32]
            if error.kind == ErrorKind.AMBIGUOUS:
                message.status = MessageStatus.UNKNOWN
                message.reason = MessageReason.AMBIGUOUS_ERROR
            elif error.kind == ErrorKind.TRANSIENT and message.attempts < settings.SMS_MAX_ATTEMPTS:
                message.status = MessageStatus.PENDING
                message.reason = MessageReason.RETRYING
                retries[message.pk] = max(error.retry_after or 0, _backoff(message.attempts))
            else:
                message.status = MessageStatus.FAILED
                message.reason = (
                    MessageReason.PROVIDER_REJECTED
                    if error.kind == ErrorKind.PERMANENT
                    else MessageReason.OUT_OF_RETRIES
                )
                refund += message.messages
            sent.append(message)
        OutboundMessage.objects.bulk_update(
            sent,
            ["status", "provider_id", "sent_at", "attempts", "error_code", "reason", "updated_at"],
            batch_size=1000,
        )
        if refund:
            quota_refund(
                organisation=sendout.organisation,
                amount=refund,
                sendout=sendout,
                reason=_("Messages the provider did not accept"),
            )
    return retries


def sendout_finish_if_done(*, sendout_id: int) -> bool:
    """Complete the sendout once no message is pending or sending."""
    with transaction.atomic():
        sendout = Sendout.objects.select_for_update().get(pk=sendout_id)
        if sendout.status not in (SendoutStatus.QUEUED, SendoutStatus.SENDING):
            return False
        if sendout.messages.filter(status__in=OPEN_STATUSES).exists():
            return False
        sendout.status = SendoutStatus.COMPLETED
        sendout.finished_at = timezone.now()
        sendout.save(update_fields=["status", "finished_at"])
    logger.info("sms sendout %s completed", sendout_id, extra=_ids(sendout))
    return True


@transaction.atomic
def sendout_cancel(*, sendout: Sendout, cancelled_by: AbstractBaseUser | None = None) -> Sendout:
    """Cancel what has not left yet and refund it; messages already sent stay charged."""
    sendout = Sendout.objects.select_for_update().get(pk=sendout.pk)
    if sendout.status in (SendoutStatus.COMPLETED, SendoutStatus.CANCELLED):
        raise DomainError(
            "not_cancellable",
            _("This sendout has finished and cannot be cancelled."),
            status_code=409,
        )
    pending = sendout.messages.select_for_update().filter(status=MessageStatus.PENDING)
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
        extra=_ids(sendout)
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
    older_than = older_than or timedelta(seconds=settings.SMS_SENDING_TIMEOUT)
    cutoff = timezone.now() - older_than
    marked = OutboundMessage.objects.filter(
        status=MessageStatus.SENDING, updated_at__lt=cutoff
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
    running = Sendout.objects.filter(status__in=(SendoutStatus.QUEUED, SendoutStatus.SENDING))
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


# Twilio's MessageStatus → ours. queued/accepted/sending/sent all mean "accepted".
PROVIDER_STATUSES = {
    "accepted": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.UNDELIVERED,
}


def message_status_from_provider(
    *, provider_id: str, provider_status: str, error_code: str = ""
) -> bool:
    """Apply a delivery report. Idempotent: a replay or an older report changes
    nothing, because the update is conditional on a status that may move forward."""
    new = PROVIDER_STATUSES.get(provider_status.strip().lower())
    if not provider_id or new is None:
        return False
    movable = [old for old in MessageStatus if can_move(old, new)]
    updated = OutboundMessage.objects.filter(provider_id=provider_id, status__in=movable).update(
        status=new, error_code=(error_code or "")[:32], updated_at=timezone.now()
    )
    return bool(updated)


STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "LOPETA"}
START_WORDS = {"START", "UNSTOP"}


@transaction.atomic
def inbound_reply(*, from_number: str, body: str) -> int:
    """STOP-style replies opt out the contacts we texted at that number (START
    opts them back in). Answers how many contacts changed."""
    word = body.strip().strip(".!").upper()
    if word in STOP_WORDS:
        opted_out = True
    elif word in START_WORDS:
        opted_out = False
    else:
        return 0
    number = rules.normalise_number(from_number)
    if number.e164 is None:
        return 0
    contact_ids = (
        OutboundMessage.objects.filter(to=number.e164, contact__isnull=False)
        .values_list("contact_id", flat=True)
        .distinct()
    )
    return (
        Contact.objects.filter(id__in=contact_ids)
        .exclude(sms_opt_out=opted_out)
        .update(
            sms_opt_out=opted_out,
            sms_opt_out_at=timezone.now(),
            sms_opt_out_source=OptOutSource.SMS_REPLY,
        )
    )

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
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
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
from sms.ratelimit import SenderRateLimit
from sms.recipients import recipients_resolve
from targetgroups.models import TargetGroup

logger = logging.getLogger(__name__)


OPEN_STATUSES = (MessageStatus.PENDING, MessageStatus.SENDING)
# Messages that reached (or may have reached) the provider: the numbers we texted.
LEFT_STATUSES = (
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.UNKNOWN,
)


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
    """Exponential backoff with jitter: between half and all of 2, 4, 8, ... seconds
    (times SMS_RETRY_BACKOFF_BASE), capped at SMS_RETRY_BACKOFF_MAX."""
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


@transaction.atomic
def _drop_unsendable(*, sendout_id: int, message_ids: Sequence[int]) -> bool:
    """Before a claim: a cancelled sendout's pending messages become ``cancelled``
    (a retry may come back after the cancel), and messages to contacts who opted
    out since the sendout was created become ``skipped`` (``opted_out``); both are
    refunded. Answers whether the sendout may still send.

    Locks the sendout first, then the messages, then (refund) the SMS settings:
    the order ``sendout_cancel`` and ``sms/quota.py`` use."""
    sendout = Sendout.objects.select_for_update().get(pk=sendout_id)
    cancelled = sendout.status == SendoutStatus.CANCELLED
    candidates = OutboundMessage.objects.filter(
        sendout_id=sendout_id, id__in=message_ids, status=MessageStatus.PENDING
    )
    if not cancelled:
        candidates = candidates.filter(contact__sms_opt_out=True)
    dropped = list(
        candidates.select_for_update(skip_locked=True, of=("self",)).values_list("id", "messages")
    )
    if dropped:
        now = timezone.now()
        ids = [message_id for message_id, _billed in dropped]
        if cancelled:
            changes = {"status": MessageStatus.CANCELLED, "reason": MessageReason.CANCELLED}
            why = _("Sendout cancelled")
        else:
            changes = {
                "status": MessageStatus.SKIPPED,
                "reason": rules.SkipReason.OPTED_OUT.value,
                "messages": 0,
            }
            why = _("Recipients who opted out before sending")
        OutboundMessage.objects.filter(id__in=ids, status=MessageStatus.PENDING).update(
            updated_at=now, **changes
        )
        quota_refund(
            organisation=sendout.organisation,
            amount=sum(billed for _id, billed in dropped),
            sendout=sendout,
            reason=why,
        )
    return sendout.status in (SendoutStatus.QUEUED, SendoutStatus.SENDING)


def _claim(*, sendout_id: int, message_ids: Sequence[int]) -> list[OutboundMessage]:
    """pending → sending by one conditional update; only what this call moved is ours."""
    if not _drop_unsendable(sendout_id=sendout_id, message_ids=message_ids):
        return []
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

    With a messages-per-second cap, the chunk is claimed and sent in slices that
    fit the cap, so that no message waits long in ``sending``.
    Answers {message id: delay} for messages to retry later (transient errors).
    """
    sendout = Sendout.objects.select_related("organisation__sms_settings").get(pk=sendout_id)
    sms_settings = sendout.organisation.sms_settings
    cap = sms_settings.messages_per_second
    limit = (
        SenderRateLimit(key=f"{sendout.organisation_id}:{sendout.sender}", per_second=cap)
        if cap
        else None
    )
    size = cap or len(message_ids) or 1
    retries: dict[int, float] = {}
    with get_backend() as backend:
        for start in range(0, len(message_ids), size):
            claimed = _claim(sendout_id=sendout_id, message_ids=message_ids[start : start + size])
            if not claimed:
                continue
            if limit is not None:
                limit.take(len(claimed))
            results = backend.send_messages(_outbox(sendout, sms_settings, claimed))
            to_retry = _record_results(sendout=sendout, claimed=claimed, results=results)
            retries.update(to_retry)
            _log_chunk(sendout, results, to_retry)
    sendout_finish_if_done(sendout_id=sendout_id)
    return retries


def _log_chunk(sendout: Sendout, results: list[SendResult], to_retry: dict[int, float]) -> None:
    ok = sum(1 for r in results if r.ok)
    unknown = sum(1 for r in results if not r.ok and r.error.kind == ErrorKind.AMBIGUOUS)
    failed = len(results) - ok - unknown - len(to_retry)
    logger.info(
        "sms sendout %s chunk sent: %s ok, %s failed, %s to retry, %s unknown",
        sendout.pk,
        ok,
        failed,
        len(to_retry),
        unknown,
        extra=_ids(sendout)
        | {"claimed": len(results), "ok": ok, "retry": len(to_retry)}
        | {"failed": failed, "unknown": unknown},
    )


def _outbox(
    sendout: Sendout, sms_settings: SmsSettings, claimed: list[OutboundMessage]
) -> list[SmsMessage]:
    named = sendout.sender if sendout.sender != rules.OPERATOR_SENDER else None
    return [
        SmsMessage(
            to=m.to,
            body=m.body,
            sender=named or sms_settings.operator_number or None,
            status_callback=_status_callback_url(message_id=m.pk),
            reference=m.pk,
            messaging_service_sid=sms_settings.messaging_service_sid or None,
        )
        for m in claimed
    ]


STATUS_CALLBACK_PATH = "/sms/webhooks/twilio/status/"


def _status_callback_url(*, message_id: int) -> str | None:
    """The URL Twilio calls with the message's statuses. It names our message, so
    that a report for a message whose answer we never got (``unknown``: read
    timeout, crash) still finds it; Twilio signs the whole URL."""
    base = settings.SMS_STATUS_CALLBACK_BASE_URL
    if not base:
        return None
    return f"{base.rstrip('/')}{STATUS_CALLBACK_PATH}?message={message_id}"


def _record_results(
    *, sendout: Sendout, claimed: list[OutboundMessage], results: list[SendResult]
) -> dict[int, float]:
    """Write every outcome of a chunk (one statement per 1,000 messages) and refund
    what failed. Answers {message id: delay} for the messages to retry."""
    by_id = {m.pk: m for m in claimed}
    rows: list[tuple[int, str, str, str, str]] = []  # id, status, provider id, reason, code
    retry_delays: dict[int, float] = {}
    refundable: dict[int, int] = {}
    for result in results:
        message = by_id[int(result.reference)]
        attempts = message.attempts + 1
        if result.ok:
            rows.append((message.pk, MessageStatus.SENT, result.provider_id or "", "", ""))
            continue
        error = result.error
        code = (error.code or str(error.http_status or ""))[:32]
        if error.kind == ErrorKind.AMBIGUOUS:
            status, reason = MessageStatus.UNKNOWN, MessageReason.AMBIGUOUS_ERROR
        elif error.kind == ErrorKind.TRANSIENT and attempts < settings.SMS_MAX_ATTEMPTS:
            status, reason = MessageStatus.PENDING, MessageReason.RETRYING
            retry_delays[message.pk] = max(error.retry_after or 0, _backoff(attempts))
        else:
            status = MessageStatus.FAILED
            reason = (
                MessageReason.PROVIDER_REJECTED
                if error.kind == ErrorKind.PERMANENT
                else MessageReason.OUT_OF_RETRIES
            )
            refundable[message.pk] = message.messages
        rows.append((message.pk, status, "", reason, code))
    # The provider has answered: losing the database connection now must not turn
    # accepted messages into `unknown`. The write is conditional on the status, so
    # a second try on a fresh connection cannot apply anything twice.
    for attempt in (1, 2):
        try:
            written = _write_outcomes_and_refund(sendout, rows, refundable)
            break
        except OperationalError:
            if attempt == 2 or connection.in_atomic_block:
                raise
            logger.warning("sms sendout %s: database lost while recording; retrying", sendout.pk)
            connection.close()
    return {pk: delay for pk, delay in retry_delays.items() if pk in written}


@transaction.atomic
def _write_outcomes_and_refund(
    sendout: Sendout, rows: list[tuple[int, str, str, str, str]], refundable: dict[int, int]
) -> set[int]:
    written: set[int] = set()
    for start in range(0, len(rows), 1000):
        written |= _write_outcomes(rows[start : start + 1000])
    refund = sum(billed for pk, billed in refundable.items() if pk in written)
    if refund:
        quota_refund(
            organisation=sendout.organisation,
            amount=refund,
            sendout=sendout,
            reason=_("Messages the provider did not accept"),
        )
    return written


def _write_outcomes(rows: Sequence[tuple[int, str, str, str, str]]) -> set[int]:
    """``UPDATE ... FROM (VALUES ...)``: one statement for many messages, each with
    its own outcome (PostgreSQL, and SQLite 3.33+). ``bulk_update`` builds a CASE
    per field and row, which costs seconds of CPU for a chunk of a few hundred.

    Only messages still ``sending`` (or made ``unknown`` by the sweeper while this
    chunk was slow: the answer we got is better than a guess) are written; answers
    the ids written. Only placeholders and our own table name go into the SQL."""
    if not rows:
        return set()
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    sql = f"""
        UPDATE {table} SET
            status = v.column2,
            provider_id = v.column3,
            reason = v.column4,
            error_code = v.column5,
            attempts = attempts + 1,
            updated_at = %s,
            sent_at = CASE WHEN v.column2 = %s THEN %s ELSE sent_at END
        FROM (VALUES {values}) AS v
        WHERE {table}.id = CAST(v.column1 AS bigint) AND {table}.status IN (%s, %s)
        RETURNING {table}.id
    """
    now = timezone.now()
    # Placeholders in the order they appear: SET, then VALUES, then WHERE.
    params: list[object] = [now, MessageStatus.SENT, now]
    for row in rows:
        params.extend(row)
    params += [MessageStatus.SENDING, MessageStatus.UNKNOWN]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


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
    if older_than is None:  # not `or`: timedelta(0) is falsy and means "now"
        older_than = timedelta(seconds=settings.SMS_SENDING_TIMEOUT)
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
    *, provider_id: str, provider_status: str, error_code: str = "", message_id: int | None = None
) -> bool:
    """Apply a delivery report; answers whether a message changed.

    Idempotent: a replay or an older report changes nothing, because the update
    is conditional on a status that may move forward (``can_move``). The message
    is found by its provider id; failing that, an ``unknown`` message without a
    provider id is found by ``message_id`` (from the callback URL) and learns its
    provider id: the report is then the only truth about whether it left.
    """
    new = PROVIDER_STATUSES.get(provider_status.strip().lower())
    if not provider_id or new is None:
        return False
    movable = [old for old in MessageStatus if can_move(old, new)]
    changes = {"status": new, "error_code": (error_code or "")[:32], "updated_at": timezone.now()}
    with transaction.atomic():
        known = OutboundMessage.objects.filter(provider_id=provider_id)
        if known.exists() or message_id is None:
            return bool(known.filter(status__in=movable).update(**changes))
        return bool(
            OutboundMessage.objects.filter(
                pk=message_id, provider_id="", status=MessageStatus.UNKNOWN, status__in=movable
            ).update(provider_id=provider_id[:64], **changes)
        )


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
        OutboundMessage.objects.filter(
            to=number.e164, contact__isnull=False, status__in=LEFT_STATUSES
        )
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

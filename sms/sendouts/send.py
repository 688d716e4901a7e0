"""Sending a sendout: dispatch it into chunks, then per chunk claim the messages
(pending → sending), send them through the backend, record each outcome and
refund what failed (``sms.sendouts.record``), and schedule the retries.

A claim is a lease: the messages carry who holds them (``claimed_by``) and until
when (``claimed_until``). The holder renews the lease while it works
(``sms.sendouts.common.LeaseKeeper``); a holder that died stops renewing, and the sweeper takes
its messages over and reconciles them with the provider
(``sms.sendouts.reconcile``). A chunk is sent through the backend's pipeline
(``BaseSmsBackend.pipeline``): a small backlog of claimed messages waits there
and goes out as answers make room, so that the window of requests in flight
stays full and yet no more than a window and a quarter are ever claimed and
unanswered: a crash strands at most that.

Before every claim the chunk asks ``sms.pacing.sendout_allowance``: the send
window (closed: the sendout pauses until the next opening) and the sendout's
pace (its hour's allowance, taken under the sendout's row lock, so that every
worker together keeps it). Refused, the chunk claims nothing more and records
the requests still in flight. When the window closed, it also takes back from
the pipeline what has not started (``SendPipeline.withdraw``: back to
``pending``, given back to the hour); refused by the pace, what waits there was
granted from the hour's allowance, and it goes.

``sendout_run_dispatch`` and ``sendout_run_chunk`` are what the Celery tasks
call: they do the step and hand the follow-up work to the workers themselves.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Contact
from sms.backends import ErrorKind, SendPipeline, SendResult, SmsMessage, get_backend
from sms.models import OutboundMessage, Sendout, SmsSettings, SuppressedNumber
from sms.pacing import sendout_allowance, sendout_allowance_return
from sms.quota import quota_refund
from sms.ratelimit import SenderRateLimit
from sms.rules.numbers import SkipReason
from sms.rules.senders import sender_choice
from sms.sendouts.common import (
    Claimed,
    LeaseKeeper,
    chunk_enqueue,
    lease_until,
    log_ids,
    new_holder,
)
from sms.sendouts.lifecycle import sendout_finish_if_done
from sms.sendouts.record import record_results
from sms.sendouts.write import sendout_messages_write
from sms.statuses import (
    SENDOUT_OPEN_STATUSES,
    MessageReason,
    MessageStatus,
    SendoutStatus,
    allowed_previous,
    sendout_can_move,
)
from sms.windows import sendout_pause_if_closed, window_gate

logger = logging.getLogger(__name__)


def sendout_dispatch(*, sendout_id: int) -> list[list[int]]:
    """Mark the sendout started and split its pending messages into chunks to send."""
    return list(sendout_dispatch_chunks(sendout_id=sendout_id))


def sendout_dispatch_chunks(*, sendout_id: int) -> Iterator[list[int]]:
    """Mark the sendout started (now, not when iterated) and answer its pending
    messages' ids in chunks of ``SMS_CHUNK_SIZE``, read as they are handed on:
    the worker holds a chunk, not the ids of a million messages (#21). A
    sendout whose messages the Yes only tallied has them written first."""
    sendout_messages_write(sendout_id=sendout_id)
    with transaction.atomic():
        sendout = Sendout.objects.select_for_update().get(pk=sendout_id)
        if not sendout.messages_written:  # another task writes them, then dispatches
            return iter(())
        if sendout_can_move(sendout.status, SendoutStatus.SENDING):
            sendout.status = SendoutStatus.SENDING
            sendout.started_at = sendout.started_at or timezone.now()  # resumed: kept
            sendout.save(update_fields=["status", "started_at"])
        elif sendout.status != SendoutStatus.SENDING:  # finished: nothing to send
            return iter(())
    return _pending_chunks(sendout)


def _pending_chunks(sendout: Sendout) -> Iterator[list[int]]:
    """The pending ids in id order from one query, read ``SMS_CHUNK_SIZE`` at a
    time (a server-side cursor on PostgreSQL). A page per chunk (``id > last
    ORDER BY id LIMIT n``) was planned as a scan of every message at 1,000,000:
    the dispatch then took longer than the send."""
    size = settings.SMS_CHUNK_SIZE
    ids = (
        sendout.messages.filter(status=MessageStatus.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
        .iterator(chunk_size=size)
    )
    messages, chunks = 0, 0
    while chunk := list(itertools.islice(ids, size)):
        messages, chunks = messages + len(chunk), chunks + 1
        yield chunk
    logger.info(
        "sms sendout %s dispatched: %s pending messages in %s chunks",
        sendout.pk,
        messages,
        chunks,
        extra=log_ids(sendout) | {"pending": messages, "chunks": chunks},
    )
    if not chunks:
        sendout_finish_if_done(sendout_id=sendout.pk)


def sendout_run_write(*, sendout_id: int) -> int:
    """Write a large sendout's messages (``sms.sendouts.write``), then dispatch
    it unless it waits for its time (scheduled) or its user (paused); answers
    the number of chunks handed on."""
    sendout_messages_write(sendout_id=sendout_id)
    sendout = Sendout.objects.filter(pk=sendout_id).only("status", "messages_written").first()
    # Still unwritten: another task holds it, and dispatches it when written.
    if sendout is None or not sendout.messages_written:
        return 0
    if sendout.status not in (SendoutStatus.QUEUED, SendoutStatus.SENDING):
        return 0
    return sendout_run_dispatch(sendout_id=sendout_id)


def sendout_run_dispatch(*, sendout_id: int) -> int:
    """Dispatch the sendout and hand each chunk to the workers as it is read;
    answers the number of chunks."""
    count = 0
    for chunk in sendout_dispatch_chunks(sendout_id=sendout_id):
        chunk_enqueue(sendout_id=sendout_id, message_ids=chunk)
        count += 1
    return count


def _of_sendout(messages: QuerySet[OutboundMessage], sendout_id: int) -> QuerySet[OutboundMessage]:
    """``messages`` of the sendout, compared as ``sendout_id + 0``, which no index
    serves, so that PostgreSQL walks the primary key: right after the Yes wrote
    its rows the table has no statistics, and PostgreSQL then chose the (sendout,
    status) index for ``sendout_id = X AND status IN (...)`` and read every
    pending message of the sendout for each slice (28 ms at 100,000 instead of
    0.05 ms; the send ran at a fifth of the raw SDK's rate)."""
    return messages.alias(of_sendout=F("sendout_id") + 0).filter(of_sendout=sendout_id)


def _by_ids(sendout_id: int, message_ids: Sequence[int]) -> QuerySet[OutboundMessage]:
    """The sendout's messages of these ids, found by the primary key."""
    return _of_sendout(OutboundMessage.objects.filter(id__in=message_ids), sendout_id)


@transaction.atomic
def _drop_unsendable(*, sendout_id: int, message_ids: Sequence[int]) -> bool:
    """Before a claim: a cancelled sendout's pending messages become ``cancelled``
    (a retry may come back after the cancel), and messages to contacts who opted
    out since the sendout was created, or whose number went on the organisation's
    suppression list since, become ``skipped`` (``opted_out``); both are
    refunded. Answers whether the sendout may still send.

    Locks the sendout first, then the messages, then (refund) the SMS settings:
    the order ``sendout_cancel`` and ``sms/quota.py`` use."""
    sendout = Sendout.objects.select_for_update().get(pk=sendout_id)
    cancelled = sendout.status == SendoutStatus.CANCELLED
    if cancelled:
        changes = {"status": MessageStatus.CANCELLED, "reason": MessageReason.CANCELLED}
        why = _("Sendout cancelled")
    else:
        changes = {
            "status": MessageStatus.SKIPPED,
            "reason": SkipReason.OPTED_OUT.value,
            "messages": 0,
        }
        why = _("Recipients who opted out before sending")
    movable = allowed_previous(changes["status"])
    candidates = _by_ids(sendout_id, message_ids).filter(status__in=movable)
    if not cancelled:
        suppressed = SuppressedNumber.objects.filter(
            organisation_id=sendout.organisation_id, number=OuterRef("to")
        )
        candidates = candidates.filter(Q(contact__sms_opt_out=True) | Exists(suppressed))
    dropped = list(
        candidates.select_for_update(skip_locked=True, of=("self",)).values_list("id", "messages")
    )
    if dropped:
        ids = [message_id for message_id, _billed in dropped]
        OutboundMessage.objects.filter(id__in=ids, status__in=movable).update(
            updated_at=timezone.now(), **changes
        )
        quota_refund(
            organisation=sendout.organisation,
            amount=sum(billed for _id, billed in dropped),
            sendout=sendout,
            reason=why,
        )
    return sendout.status in SENDOUT_OPEN_STATUSES


def _claim(*, sendout_id: int, message_ids: Sequence[int], holder: str) -> list[Claimed]:
    """pending → sending as a lease of ``holder``; only what this call moved is ours.

    One statement in the common case (``_claim_sendable``): it claims the
    slice's messages that may go out now (the sendout queued or sending, the
    contact not opted out, the number not suppressed) and answers what the
    send needs. Only when it claims fewer than the slice (messages another
    holder has or already done, opted out or suppressed since the Yes, the
    sendout cancelled or paused) does ``_drop_unsendable`` look at the rest:
    it settles those to drop (skipped or cancelled, refunded) under the
    sendout's lock, as before."""
    claimed = _claim_sendable(sendout_id=sendout_id, message_ids=message_ids, holder=holder)
    if len(claimed) < len(message_ids):
        mine = {m.pk for m in claimed}
        rest = [message_id for message_id in message_ids if message_id not in mine]
        _drop_unsendable(sendout_id=sendout_id, message_ids=rest)
    return claimed


def _claim_sendable(*, sendout_id: int, message_ids: Sequence[int], holder: str) -> list[Claimed]:
    """The claim itself: one ``UPDATE ... RETURNING`` (one round trip, one
    transaction). On PostgreSQL the rows are first locked in id order with
    ``FOR UPDATE SKIP LOCKED`` (two claims of the same slice neither wait for
    nor deadlock with each other; what another holds is skipped, as before);
    SQLite serialises writers by itself. The slice is found by the primary key
    (see ``_of_sendout`` for why the sendout is compared as ``sendout_id + 0``)."""
    if not message_ids:
        return []
    now = timezone.now()
    sql, ids_param = _claim_sql(len(message_ids))
    lease = [MessageStatus.SENDING, now, holder, lease_until(), now]
    # Placeholders in the order they appear: PostgreSQL's slice comes before
    # its SET, SQLite's SET before its WHERE.
    if ids_param:
        params = [list(message_ids), sendout_id, *lease]
    else:
        params = [*lease, *message_ids, sendout_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [Claimed(*row) for row in cursor.fetchall()]


@functools.cache
def _claim_sql_parts(vendor: str) -> tuple[str, str, str]:
    """The claim's SQL around the slice's ids (the ids' placeholder goes in
    between): built once per process from the models' names and the status
    tables; only placeholders and our own names and statuses go in."""
    quote = connection.ops.quote_name
    message = quote(OutboundMessage._meta.db_table)
    contact = quote(Contact._meta.db_table)
    suppressed = quote(SuppressedNumber._meta.db_table)
    sendout = quote(Sendout._meta.db_table)

    def statuses(values: Sequence[str]) -> str:
        return ", ".join(f"'{value}'" for value in values)

    movable = statuses(allowed_previous(MessageStatus.SENDING))
    sendable = f"""
        m.status IN ({movable})
        AND NOT EXISTS (
            SELECT 1 FROM {contact} c WHERE c.id = m.contact_id AND c.sms_opt_out
        )
        AND EXISTS (
            -- "+ 0" here too: through o.id = m.sendout_id PostgreSQL could
            -- reach the slice by the (sendout, status) index, every pending
            -- message of the sendout (230 ms a claim at 1,000,000).
            SELECT 1 FROM {sendout} o
            WHERE o.id = m.sendout_id + 0 AND o.status IN ({statuses(SENDOUT_OPEN_STATUSES)})
            AND NOT EXISTS (
                SELECT 1 FROM {suppressed} s
                WHERE s.organisation_id = o.organisation_id AND s.number = m.{quote("to")}
            )
        )"""
    columns = f"id, {quote('to')}, body, messages, attempts"
    set_lease = (
        "status = %s, updated_at = %s, claimed_by = %s, claimed_until = %s, attempt_started_at = %s"
    )
    if vendor == "postgresql":
        head = f"""
            WITH slice AS (
                SELECT m.id FROM {message} m
                WHERE m.id = ANY("""
        tail = f"""::bigint[])
                AND m.sendout_id + 0 = %s AND {sendable}
                ORDER BY m.id
                FOR UPDATE OF m SKIP LOCKED
            )
            UPDATE {message} SET {set_lease}
            FROM slice WHERE {message}.id = slice.id AND {message}.status IN ({movable})
            RETURNING {", ".join(f"{message}.{c.strip()}" for c in columns.split(","))}"""
        return head, tail, "array"
    head = f"""
        UPDATE {message} AS m SET {set_lease}
        WHERE m.id IN ("""
    tail = f""") AND m.sendout_id + 0 = %s AND {sendable}
        RETURNING {columns}"""
    return head, tail, "list"


def _claim_sql(count: int) -> tuple[str, bool]:
    """The claim's SQL for ``count`` ids, and whether they go as one array."""
    head, tail, kind = _claim_sql_parts(connection.vendor)
    if kind == "array":
        return f"{head}%s{tail}", True
    return head + ", ".join(["%s"] * count) + tail, False


def sendout_send_chunk(*, sendout_id: int, message_ids: Sequence[int]) -> dict[int, float]:
    """Send the chunk's pending messages and record each outcome.

    Without barriers: the backend's window (its concurrency, or with a
    messages-per-second cap the cap) is kept full. Claimed messages wait in the
    backend's pipeline (``SendPipeline.background``) and go out the moment a
    request ends, whatever this call is doing (claiming, recording); it claims a
    window and a quarter at the start and then tops that up as answers come,
    recording them as they come. So no more than a window and a quarter are ever claimed
    and unanswered: what a crash can strand. Every claim is a lease, renewed
    while this call works, and is first allowed by the send window and the pace;
    once refused, nothing more is claimed (and when the window closed, what
    waits in the pipeline is taken back, pending). Answers {message id: delay}
    for messages to retry later (transient errors).
    """
    sendout = Sendout.objects.select_related("organisation__sms_settings").get(pk=sendout_id)
    sms_settings = sendout.organisation.sms_settings
    cap = sms_settings.messages_per_second
    limit = (
        SenderRateLimit(key=f"{sendout.organisation_id}:{sendout.sender}", per_second=cap)
        if cap
        else None
    )
    retries: dict[int, float] = {}
    sent: list[SendResult] = []
    holder = new_holder()
    with get_backend() as backend, LeaseKeeper(holder):
        window = min(cap, backend.concurrency) if cap else backend.concurrency
        window_open = window_gate(sendout=sendout)
        pipeline = backend.pipeline(window=window, may_start=window_open)
        outbox = _outbox(sendout, sms_settings)
        # A backend sending in the background gets a backlog of a quarter window
        # beyond the window, topped up as answers come; one that sends as it is
        # handed the messages gets a whole window at a time.
        size = max(1, window // 4) if pipeline.background else window
        backlog = size if pipeline.background else 0
        in_flight: dict[int, Claimed] = {}
        position = 0
        claiming = True
        with pipeline:
            while (claiming and position < len(message_ids)) or pipeline.in_flight:
                if claiming and pipeline.stopped:
                    # The send window closed as a request was about to start.
                    claiming = False
                    sendout_pause_if_closed(sendout=sendout)
                    _withdraw(sendout, pipeline, in_flight, holder)
                    continue
                if claiming and position < len(message_ids) and pipeline.in_flight <= window:
                    # Top up to the window and the backlog: a whole one at the start.
                    wanted = window + backlog - pipeline.in_flight
                    if limit is not None:  # before the claim: the lease starts when sending does
                        limit.take(min(wanted, len(message_ids) - position))
                    # The send window and the pace, asked before every claim:
                    # the rest waits, pending, while paused or until the next hour.
                    allowed = sendout_allowance(
                        sendout=sendout, wanted=min(wanted, len(message_ids) - position)
                    )
                    if not allowed:
                        claiming = False
                        if window_open is not None and not window_open():
                            # The send window closed: what has not started waits.
                            # (Refused by the pace, what waits in the pipeline
                            # was granted from the hour's allowance: it goes.)
                            _withdraw(sendout, pipeline, in_flight, holder)
                        results = pipeline.collect()
                    else:
                        piece = message_ids[position : position + allowed]
                        position += len(piece)
                        claimed = _claim(sendout_id=sendout_id, message_ids=piece, holder=holder)
                        if sendout.messages_per_hour:
                            sendout_allowance_return(
                                sendout_id=sendout_id, unused=allowed - len(claimed)
                            )
                        in_flight |= {m.pk: m for m in claimed}
                        pipeline.submit(outbox(claimed))
                        results = pipeline.collect()
                else:  # the window and the backlog are full, or all is claimed: wait
                    results = pipeline.collect(size)
                if results:
                    retries |= _record(sendout, results, in_flight)
                    sent += results
            # Refused by the send window while the last answers came.
            _withdraw(sendout, pipeline, in_flight, holder)
    if sent:
        _log_chunk(sendout, sent, retries)
    sendout_finish_if_done(sendout_id=sendout_id)
    return retries


def _record(
    sendout: Sendout, results: list[SendResult], in_flight: dict[int, Claimed]
) -> dict[int, float]:
    claimed = [in_flight.pop(int(result.reference)) for result in results]
    return record_results(sendout=sendout, claimed=claimed, results=results)


def _withdraw(
    sendout: Sendout, pipeline: SendPipeline, in_flight: dict[int, Claimed], holder: str
) -> None:
    """The window closed or the hour's pace is used up: the claimed messages
    whose request has not started are taken back from the pipeline and go back
    to ``pending`` (they surely never left), released from ``holder``'s lease and
    given back to the hour's allowance; the requests already started are
    answered and recorded as usual."""
    withdrawn = pipeline.withdraw()
    if not withdrawn:
        return
    ids = [int(m.reference) for m in withdrawn]
    for message_id in ids:
        in_flight.pop(message_id, None)
    released = OutboundMessage.objects.filter(
        id__in=ids,
        status__in=allowed_previous(MessageStatus.PENDING),
        claimed_by=holder,
    ).update(
        status=MessageStatus.PENDING,
        claimed_by="",
        claimed_until=None,
        updated_at=timezone.now(),
    )
    sendout_allowance_return(sendout_id=sendout.pk, unused=released)
    logger.info(
        "sms sendout %s: %s claimed messages taken back before they left",
        sendout.pk,
        released,
        extra=log_ids(sendout) | {"released": released},
    )


def sendout_run_chunk(*, sendout_id: int, message_ids: Sequence[int]) -> int:
    """Send the chunk, then schedule its retries, grouped by their delay (in whole
    seconds) so that a burst of 429s becomes a few tasks, not one per message.
    Answers the number of messages to retry."""
    retries = sendout_send_chunk(sendout_id=sendout_id, message_ids=message_ids)
    by_delay: dict[int, list[int]] = defaultdict(list)
    for message_id, delay in retries.items():
        by_delay[round(delay)].append(message_id)
    for delay, ids in by_delay.items():
        chunk_enqueue(sendout_id=sendout_id, message_ids=ids, countdown=delay)
    return len(retries)


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
        extra=log_ids(sendout)
        | {"claimed": len(results), "ok": ok, "retry": len(to_retry)}
        | {"failed": failed, "unknown": unknown},
    )


def _outbox(
    sendout: Sendout, sms_settings: SmsSettings
) -> Callable[[list[Claimed]], list[SmsMessage]]:
    """What turns claimed messages into the backend's: the sender and the
    status callback's URL are the chunk's, worked out once."""
    choice = sender_choice(
        sendout.sender,
        operator_number=sms_settings.operator_number,
        messaging_service_sid=sms_settings.messaging_service_sid,
    )
    callback = _status_callback_url()
    sender, service = choice.sender, choice.messaging_service_sid

    def outbox(claimed: list[Claimed]) -> list[SmsMessage]:
        return [
            SmsMessage(
                to=m.to,
                body=m.body,
                sender=sender,
                status_callback=f"{callback}?message={m.pk}" if callback else None,
                reference=m.pk,
                messaging_service_sid=service,
            )
            for m in claimed
        ]

    return outbox


def _status_callback_url() -> str | None:
    """The URL Twilio calls with a message's statuses, without its query. Each
    message's URL names the message (``?message=<id>``), so that a report for a
    message whose answer we never got (``unknown``: read timeout, crash) still
    finds it; Twilio signs the whole URL."""
    base = settings.SMS_STATUS_CALLBACK_BASE_URL
    if not base:
        return None
    return base.rstrip("/") + reverse("sms-webhook-status")

"""Recording what the provider answered for a chunk: one statement per 1,000
messages, the refund of what failed, and the delay of each retry. Recording an
outcome ends the message's lease.

An ambiguous answer (read timeout, connection lost after sending) is not an
outcome: the message stays ``sending`` with its lease ended at once, and the
sweeper reconciles it with the provider (``sms.sendouts.reconcile``)."""

import logging
import random
from collections import defaultdict
from collections.abc import Sequence

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from sms.backends import ErrorKind, SendResult
from sms.models import OutboundMessage, Sendout, SmsSettings, SuppressionSource
from sms.quota import quota_refund
from sms.rules.senders import sender_choice
from sms.sendouts.common import Claimed
from sms.statuses import MessageReason, MessageStatus, allowed_previous
from sms.suppression import number_suppress

logger = logging.getLogger(__name__)

Row = tuple[int, str, str, str, str]
"""An outcome to write: message id, status, provider id, reason, error code."""


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter: between half and all of 2, 4, 8, ... seconds
    (times SMS_RETRY_BACKOFF_BASE), capped at SMS_RETRY_BACKOFF_MAX."""
    cap = min(settings.SMS_RETRY_BACKOFF_MAX, settings.SMS_RETRY_BACKOFF_BASE * 2**attempt)
    return random.uniform(cap / 2, cap)


def record_results(
    *, sendout: Sendout, claimed: list[Claimed], results: list[SendResult]
) -> dict[int, float]:
    """Write every outcome of a chunk (one statement per 1,000 messages) and refund
    what failed. Answers {message id: delay} for the messages to retry."""
    by_id = {m.pk: m for m in claimed}
    rows: list[Row] = []
    ambiguous: dict[str, list[int]] = defaultdict(list)  # code: ids
    retry_delays: dict[int, float] = {}
    refundable: dict[int, int] = {}
    unsubscribed: dict[int, str] = {}  # message id: number, to suppress
    for result in results:
        message = by_id[int(result.reference)]
        attempts = message.attempts + 1
        if result.ok:
            rows.append((message.pk, MessageStatus.SENT, result.provider_id or "", "", ""))
            continue
        error = result.error
        code = (error.code or str(error.http_status or ""))[:32]
        if error.kind == ErrorKind.AMBIGUOUS:
            ambiguous[code].append(message.pk)
            continue
        if error.kind == ErrorKind.TRANSIENT and attempts < settings.SMS_MAX_ATTEMPTS:
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
            if error.recipient_unsubscribed:
                unsubscribed[message.pk] = message.to
        rows.append((message.pk, status, "", reason, code))
    # The provider has answered: losing the database connection now must not turn
    # accepted messages into `unknown`. The write is conditional on the status, so
    # a second try on a fresh connection cannot apply anything twice.
    # One statement needs no transaction of its own: the common case, every
    # answer an acceptance, costs one round trip.
    alone = not refundable and not unsubscribed and len(_statements(rows)) <= 1
    for attempt in (1, 2):
        try:
            if alone:
                written = _write_all(rows)
            else:
                with transaction.atomic():
                    written = _write_outcomes_and_refund(sendout, rows, refundable, unsubscribed)
            break
        except OperationalError:
            if attempt == 2 or connection.in_atomic_block:
                raise
            logger.warning("sms sendout %s: database lost while recording; retrying", sendout.pk)
            connection.close()
    try:
        _hand_to_reconciliation(ambiguous)
    except OperationalError:  # their leases run out by themselves: reconciled all the same
        logger.warning("sms sendout %s: database lost while handing over", sendout.pk)
    return {pk: delay for pk, delay in retry_delays.items() if pk in written}


def _hand_to_reconciliation(ambiguous: dict[str, list[int]]) -> None:
    """The message may or may not have reached the provider: it stays ``sending``,
    its lease ends now, and the sweeper's next run looks it up."""
    now = timezone.now()
    for code, ids in ambiguous.items():
        OutboundMessage.objects.filter(id__in=ids, status=MessageStatus.SENDING).update(
            reason=MessageReason.AMBIGUOUS_ERROR,
            error_code=code,
            attempts=F("attempts") + 1,
            claimed_by="",
            claimed_until=now,
            updated_at=now,
        )


def _statements(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    """One statement per new status (and 1,000 rows), each filtered on the
    statuses the table lets move to it."""
    by_status: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_status[row[1]].append(row)
    return [
        (status, same[start : start + 1000])
        for status, same in by_status.items()
        for start in range(0, len(same), 1000)
    ]


def _write_all(rows: list[Row]) -> set[int]:
    written: set[int] = set()
    for status, some in _statements(rows):
        written |= _write_outcomes(status, some)
    return written


def _write_outcomes_and_refund(
    sendout: Sendout,
    rows: list[Row],
    refundable: dict[int, int],
    unsubscribed: dict[int, str],
) -> set[int]:
    """Inside the caller's transaction: the outcomes, the refund of what
    failed and the numbers to suppress, all or nothing."""
    written = _write_all(rows)
    refund = sum(billed for pk, billed in refundable.items() if pk in written)
    if refund:
        quota_refund(
            organisation=sendout.organisation,
            amount=refund,
            sendout=sendout,
            reason=_("Messages the provider did not accept"),
        )
    # The carrier says the person unsubscribed (21610): the number goes on the
    # suppression list, so that no later sendout is charged for it again.
    numbers = {to for pk, to in unsubscribed.items() if pk in written}
    if numbers:
        sender = _sender_of(sendout)
        for number in sorted(numbers):
            number_suppress(
                organisation=sendout.organisation,
                number=number,
                source=SuppressionSource.CARRIER,
                sender=sender,
            )
    return written


def _sender_of(sendout: Sendout) -> str:
    """The sender the sendout's messages went out through, as a suppression
    entry names it: the name, the operator number or the messaging service."""
    sms_settings = SmsSettings.objects.filter(organisation_id=sendout.organisation_id).first()
    if sms_settings is None:
        return ""
    choice = sender_choice(
        sendout.sender,
        operator_number=sms_settings.operator_number,
        messaging_service_sid=sms_settings.messaging_service_sid,
    )
    return choice.sender or choice.messaging_service_sid or ""


def _write_outcomes(status: str, rows: Sequence[Row]) -> set[int]:
    """``UPDATE ... FROM (VALUES ...)``: one statement for many messages, each with
    its own outcome (PostgreSQL, and SQLite 3.33+). ``bulk_update`` builds a CASE
    per field and row, which costs seconds of CPU for a chunk of a few hundred.

    Every row moves to ``status``. Only messages the table lets move there as a
    late answer are written: still ``sending``, or made ``unknown`` by the sweeper
    while this chunk was slow (the answer we got is better than a guess). Answers
    the ids written. Only placeholders and our own table name go into the SQL."""
    if not rows:
        return set()
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    movable = allowed_previous(status, late_answer=True)
    among = ", ".join(["%s"] * len(movable))
    sql = f"""
        UPDATE {table} SET
            status = v.column2,
            provider_id = v.column3,
            reason = v.column4,
            error_code = v.column5,
            attempts = attempts + 1,
            claimed_by = '',
            claimed_until = NULL,
            updated_at = %s,
            sent_at = CASE WHEN v.column2 = %s THEN %s ELSE sent_at END
        FROM (VALUES {values}) AS v
        WHERE {table}.id = CAST(v.column1 AS bigint) AND {table}.status IN ({among})
        RETURNING {table}.id
    """
    now = timezone.now()
    # Placeholders in the order they appear: SET, then VALUES, then WHERE.
    params: list[object] = [now, MessageStatus.SENT, now]
    for row in rows:
        params.extend(row)
    params += movable
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}

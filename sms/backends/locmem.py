"""SMS backend for tests: keeps accepted messages in :data:`outbox`.

Like ``django.core.mail.outbox``, :data:`outbox` is a module-level list; it
collects every message the backend accepted. Tests script failures through
:data:`failures`, keyed by the recipient's number::

    from sms.backends import locmem
    locmem.failures["+358401234567"] = SendError(kind=ErrorKind.PERMANENT, code="21211")
    # or a list, used one per attempt, after which the number succeeds:
    locmem.failures["+358401234568"] = [SendError(kind=ErrorKind.TRANSIENT, http_status=429)]

A failed attempt is recorded in :data:`attempts` but not in :data:`outbox`
(an ``ambiguous`` failure too: the test decides what it means; to play "taken,
then the connection dropped", script ``taken_then_lost``). :meth:`SmsBackend.lookup`
finds what :data:`accepted` holds; :data:`lookup_failures` scripts a provider
that cannot be asked, by number.
Call :func:`reset` between tests (the ``sms_outbox`` fixture does).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .base import BaseSmsBackend, LookupQuery, LookupResult, SendError, SendResult, SmsMessage


@dataclass(frozen=True)
class Accepted:
    provider_id: str
    message: SmsMessage
    at: datetime


outbox: list[SmsMessage] = []
"""Every message accepted, in order."""
attempts: list[SmsMessage] = []
"""Every message the backend was asked to send, accepted or not."""
failures: dict[str, SendError | list[SendError]] = {}
"""Scripted failures by recipient: one error for every attempt, or a list used up in order."""
taken_then_lost: dict[str, SendError] = {}
"""By recipient, once: the message is taken (in :data:`outbox` and :data:`accepted`),
and the caller gets this error (an ambiguous one) instead of the answer."""
accepted: list[Accepted] = []
"""Every message taken, with its provider id and time: what :meth:`SmsBackend.lookup` lists."""
lookup_failures: dict[str, SendError] = {}
"""Scripted failures of :meth:`SmsBackend.lookup` by recipient."""

_lock = threading.Lock()


def reset() -> None:
    """Empty the outbox, the attempts and the scripted failures (in place)."""
    with _lock:
        outbox.clear()
        attempts.clear()
        failures.clear()
        taken_then_lost.clear()
        accepted.clear()
        lookup_failures.clear()


def _scripted_failure(to: str) -> SendError | None:
    scripted = failures.get(to)
    if isinstance(scripted, list):
        if not scripted:
            return None
        return scripted.pop(0)
    return scripted


class SmsBackend(BaseSmsBackend):
    def send_messages(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        results = []
        with _lock:
            for message in messages:
                attempts.append(message)
                error = _scripted_failure(message.to)
                if error is not None:
                    results.append(SendResult.failed(message, error))
                    continue
                outbox.append(message)
                provider_id = "SMlocmem" + uuid.uuid4().hex[:24]
                accepted.append(Accepted(provider_id, message, datetime.now(UTC)))
                lost = taken_then_lost.pop(message.to, None)
                if lost is not None:
                    results.append(SendResult.failed(message, lost))
                    continue
                results.append(SendResult.accepted(message, provider_id, "queued"))
        return results

    def lookup(self, queries: Sequence[LookupQuery]) -> list[LookupResult]:
        results = []
        with _lock:
            for query in queries:
                error = lookup_failures.get(query.to)
                if error is not None:
                    results.append(LookupResult(query.reference, error=error))
                    continue
                found = tuple(
                    record.provider_id
                    for record in accepted
                    if _matches(record.message, query)
                    and query.sent_after <= record.at <= query.sent_before
                )
                results.append(LookupResult(query.reference, provider_ids=found))
        return results


def _matches(message: SmsMessage, query: LookupQuery) -> bool:
    same_service = message.messaging_service_sid == query.messaging_service_sid
    return (
        message.to == query.to
        and message.body == query.body
        and message.sender == query.sender
        and (query.sender is not None or same_service)
    )

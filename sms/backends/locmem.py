"""SMS backend for tests: keeps accepted messages in :data:`outbox`.

Like ``django.core.mail.outbox``, :data:`outbox` is a module-level list; it
collects every message the backend accepted. Tests script failures through
:data:`failures`, keyed by the recipient's number::

    from sms.backends import locmem
    locmem.failures["+358401234567"] = SendError(kind=ErrorKind.PERMANENT, code="21211")
    # or a list, used one per attempt, after which the number succeeds:
    locmem.failures["+358401234568"] = [SendError(kind=ErrorKind.TRANSIENT, http_status=429)]

A failed attempt is recorded in :data:`attempts` but not in :data:`outbox`
(an ``ambiguous`` failure too: the test decides what it means).
Call :func:`reset` between tests (the ``sms_outbox`` fixture does).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence

from .base import BaseSmsBackend, SendError, SendResult, SmsMessage

outbox: list[SmsMessage] = []
"""Every message accepted, in order."""
attempts: list[SmsMessage] = []
"""Every message the backend was asked to send, accepted or not."""
failures: dict[str, SendError | list[SendError]] = {}
"""Scripted failures by recipient: one error for every attempt, or a list used up in order."""

_lock = threading.Lock()


def reset() -> None:
    """Empty the outbox, the attempts and the scripted failures (in place)."""
    with _lock:
        outbox.clear()
        attempts.clear()
        failures.clear()


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
                results.append(SendResult.accepted(message, provider_id, "queued"))
        return results

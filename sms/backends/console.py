"""SMS backend that writes messages to a stream (stdout) and sends nothing.

The default backend for development: ``make run`` needs no Twilio account.
It remembers what it printed in this process, so that :meth:`SmsBackend.lookup`
finds it (a message printed by a process that died is not found: sent again).
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO

from .base import BaseSmsBackend, LookupQuery, LookupResult, SendResult, SmsMessage

# (to, body, sender, messaging service) → [(provider id, when)], for lookups.
_printed: dict[tuple[str, str, str | None, str | None], list[tuple[str, datetime]]] = {}
_printed_lock = threading.Lock()


class SmsBackend(BaseSmsBackend):
    def __init__(self, *args: object, stream: IO[str] | None = None, **kwargs: object) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()
        super().__init__(*args, **kwargs)

    def write_message(self, message: SmsMessage, provider_id: str) -> None:
        sender = message.sender or "(default sender)"
        self.stream.write(
            f"SMS {provider_id} to {message.to} from {sender} (reference {message.reference})\n"
        )
        if message.status_callback:
            self.stream.write(f"Status callback: {message.status_callback}\n")
        self.stream.write(message.body)
        self.stream.write("\n" + "-" * 79 + "\n")

    def send_messages(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        results = []
        with self._lock:
            for message in messages:
                provider_id = "SMconsole" + uuid.uuid4().hex[:23]
                self.write_message(message, provider_id)
                with _printed_lock:
                    _printed.setdefault(_key(message), []).append((provider_id, datetime.now(UTC)))
                results.append(SendResult.accepted(message, provider_id, "queued"))
            self.stream.flush()
        return results

    def lookup(self, queries: Sequence[LookupQuery]) -> list[LookupResult]:
        results = []
        with _printed_lock:
            for query in queries:
                key = (query.to, query.body, query.sender, query.messaging_service_sid)
                if query.sender is not None:
                    key = (query.to, query.body, query.sender, None)
                found = tuple(
                    provider_id
                    for provider_id, at in _printed.get(key, ())
                    if query.sent_after <= at <= query.sent_before
                )
                results.append(LookupResult(query.reference, provider_ids=found))
        return results


def _key(message: SmsMessage) -> tuple[str, str, str | None, str | None]:
    service = None if message.sender is not None else message.messaging_service_sid
    return (message.to, message.body, message.sender, service)

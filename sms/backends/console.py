"""SMS backend that writes messages to a stream (stdout) and sends nothing.

The default backend for development: ``make run`` needs no Twilio account.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Sequence
from typing import IO

from .base import BaseSmsBackend, SendResult, SmsMessage


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
                results.append(SendResult.accepted(message, provider_id, "queued"))
            self.stream.flush()
        return results

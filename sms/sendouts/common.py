"""What the sendout use cases share: the ids every log line carries, handing
work to the workers by task name (``current_app.send_task``), which keeps the
services free of a ``sms.tasks`` import, and the leases of claims."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import NamedTuple

from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone

from sms.models import OutboundMessage, Sendout
from sms.statuses import MessageStatus

logger = logging.getLogger(__name__)

DISPATCH_TASK = "sms.tasks.sendout_dispatch"
CHUNK_TASK = "sms.tasks.sendout_send_chunk"
WRITE_TASK = "sms.tasks.sendout_write"


class Claimed(NamedTuple):
    """A message claimed for sending: what the send and its record need, read
    by the claim's own statement (no model instance per message)."""

    pk: int
    to: str
    body: str
    messages: int
    attempts: int


def log_ids(sendout: Sendout) -> dict[str, int | None]:
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
    _enqueue_or_log(DISPATCH_TASK, sendout_id, "could not enqueue")


def sendout_write_enqueue(*, sendout_id: int) -> None:
    """Hand the writing of a large sendout's messages to the workers (then its
    sending, unless it is scheduled). If the broker cannot be reached, the
    sweeper enqueues it again, or the dispatch writes them at the scheduled time."""
    _enqueue_or_log(WRITE_TASK, sendout_id, "could not enqueue its writing")


def _enqueue_or_log(task: str, sendout_id: int, failure: str) -> None:
    try:
        current_app.send_task(task, args=[sendout_id])
    except Exception:
        logger.exception(
            "sms sendout %s: %s; the sweeper will retry",
            sendout_id,
            failure,
            extra={"sendout_id": sendout_id},
        )


def chunk_enqueue(
    *, sendout_id: int, message_ids: Sequence[int], countdown: int | None = None
) -> None:
    """Hand one chunk of a sendout's messages to the workers, after ``countdown``
    seconds. Raises when the broker cannot be reached: the calling task fails and
    (``acks_late``) runs again; claims make a double harmless."""
    current_app.send_task(CHUNK_TASK, args=[sendout_id, list(message_ids)], countdown=countdown)


def new_holder(role: str = "worker") -> str:
    """A name for one holder of leases: the role, host, process and a random part."""
    return f"{role}:{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:64]


def lease_until() -> datetime:
    return timezone.now() + timedelta(seconds=settings.SMS_LEASE_SECONDS)


class LeaseKeeper:
    """Renews the leases of ``holder`` (its messages still ``sending``) every third
    of the lease, on a thread of its own, until the ``with`` block ends. A failed
    renewal (the database lost) is logged and tried again on the next tick."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sms-lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=settings.SMS_LEASE_SECONDS)

    def _run(self) -> None:
        tick = max(0.05, settings.SMS_LEASE_SECONDS / 3)
        try:
            while not self._stop.wait(tick):
                try:
                    OutboundMessage.objects.filter(
                        claimed_by=self.holder, status=MessageStatus.SENDING
                    ).update(claimed_until=lease_until())
                except Exception:
                    logger.warning("sms lease %s: renewal failed", self.holder, exc_info=True)
                    connection.close()
        finally:
            connection.close()

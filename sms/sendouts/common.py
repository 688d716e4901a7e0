"""What the sendout use cases share: the ids every log line carries, and handing
work to the workers by task name (``current_app.send_task``), which keeps the
services free of a ``sms.tasks`` import."""

import logging
from collections.abc import Sequence

from celery import current_app

from sms.models import Sendout

logger = logging.getLogger(__name__)

DISPATCH_TASK = "sms.tasks.sendout_dispatch"
CHUNK_TASK = "sms.tasks.sendout_send_chunk"


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
    try:
        current_app.send_task(DISPATCH_TASK, args=[sendout_id])
    except Exception:
        logger.exception(
            "sms sendout %s: could not enqueue; the sweeper will retry",
            sendout_id,
            extra={"sendout_id": sendout_id},
        )


def chunk_enqueue(
    *, sendout_id: int, message_ids: Sequence[int], countdown: int | None = None
) -> None:
    """Hand one chunk of a sendout's messages to the workers, after ``countdown``
    seconds. Raises when the broker cannot be reached: the calling task fails and
    (``acks_late``) runs again; claims make a double harmless."""
    current_app.send_task(CHUNK_TASK, args=[sendout_id, list(message_ids)], countdown=countdown)

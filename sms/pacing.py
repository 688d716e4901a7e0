"""What a worker may send now: the send window (``sms.windows``) and the
sendout's pace, "at most N messages per hour" (so that sales can answer the
replies), honoured by every worker together.

The pace counts recipients per hour of the clock (``sms.clock``, 10:00-11:00):
before each slice a worker takes up to that many from the hour's allowance under
the sendout's row lock, so two workers never take the same room. An hour used up
leaves the sendout ``sending`` with ``resume_at`` the next hour, when the
dispatcher hands it to the workers again (it is not ``paused``: a worker may
still claim what it was granted).
"""

import logging
import math
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import F

from sms import clock
from sms.models import Sendout
from sms.sendouts.common import log_ids
from sms.statuses import SendoutStatus
from sms.windows import sendout_pause_if_closed

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def sendout_allowance(*, sendout: Sendout, wanted: int) -> int:
    """How many of ``wanted`` messages the caller may claim now: 0 when the
    window is closed or the hour's pace is used up (the sendout is then paused
    until it may go on), else up to ``wanted``. ``sendout`` comes with its
    ``organisation.sms_settings`` (its window and pace are read from it, fixed
    at creation); an unpaced sendout in its window costs no query."""
    if sendout_pause_if_closed(sendout=sendout):
        return 0
    if not sendout.messages_per_hour:
        return wanted
    sendout_id = sendout.pk
    with transaction.atomic():
        sendout = (
            Sendout.objects.select_for_update()
            .only(
                "id",
                "organisation_id",
                "target_group_id",
                "status",
                "messages_per_hour",
                "pace_hour",
                "pace_used",
            )
            .get(pk=sendout_id)
        )
        hour = hour_of(clock.now())
        used = sendout.pace_used if sendout.pace_hour == hour else 0
        granted = max(0, min(wanted, sendout.messages_per_hour - used))
        if granted:
            Sendout.objects.filter(pk=sendout_id).update(pace_hour=hour, pace_used=used + granted)
            return granted
        # The hour is used up: the sendout goes on sending (a grant another worker
        # holds is still claimed), and the dispatcher hands it to the workers
        # again when the next hour starts.
        waiting = Sendout.objects.filter(
            pk=sendout_id, status=SendoutStatus.SENDING, resume_at__isnull=True
        ).update(resume_at=hour + HOUR)
    if waiting:
        logger.info(
            "sms sendout %s waits for the next hour: %s messages sent this hour, its pace",
            sendout_id,
            sendout.messages_per_hour,
            extra=log_ids(sendout),
        )
    return 0


def sendout_allowance_return(*, sendout_id: int, unused: int) -> None:
    """Give back what a worker took but did not claim (messages another worker
    had claimed, or that were skipped), within the same hour."""
    if unused <= 0:
        return
    hour = hour_of(clock.now())
    Sendout.objects.filter(
        pk=sendout_id, messages_per_hour__isnull=False, pace_hour=hour, pace_used__gte=unused
    ).update(pace_used=F("pace_used") - unused)


def expected_finish(
    *, sendout: Sendout, pending: int, now: datetime | None = None
) -> datetime | None:
    """When a paced sendout with ``pending`` messages left should finish, at its
    pace (None: not paced or nothing left). Send windows may add to it."""
    if not sendout.messages_per_hour or not pending:
        return None
    now = now or clock.now()
    hour = hour_of(now)
    used = sendout.pace_used if sendout.pace_hour == hour else 0
    start = max(now, sendout.resume_at or now, sendout.send_at or now)
    room_now = max(0, sendout.messages_per_hour - used) if start < hour + HOUR else 0
    if pending <= room_now:
        return start
    hours = math.ceil((pending - room_now) / sendout.messages_per_hour)
    return hour_of(start) + hours * HOUR

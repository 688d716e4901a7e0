"""Scheduled sendouts: reading the time a user asked for, moving a scheduled
sendout to another time, and the dispatcher that queues the sendouts that are
due (beat runs it every ``SMS_SCHEDULE_INTERVAL`` seconds).

A scheduled sendout is created like one sent now (``sms.sendouts.create``):
recipients resolved and frozen, quota reserved, messages written, all at
confirmation; only the hand-over to the workers waits. Contacts who opt out
meanwhile are skipped and refunded when the workers claim their messages, and
cancelling (``sms.sendouts.lifecycle.sendout_cancel``) refunds everything.
"""

import logging
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from core.errors import DomainError
from sms import clock
from sms.models import Sendout, SmsSettings
from sms.rules.schedule import local_send_at, send_at_check, send_at_parse
from sms.sendouts.common import log_ids, sendout_enqueue
from sms.statuses import SendoutStatus, allowed_sendout_previous

logger = logging.getLogger(__name__)

# Sendouts queued per dispatcher run at most; the rest wait for the next run.
START_BATCH = 200


def send_at_read(
    *, send_at: str | None, send_at_local: str | None, sms_settings: SmsSettings
) -> datetime | None:
    """The time asked for: ``send_at`` (ISO 8601 with its offset) or
    ``send_at_local`` (a wall time of the organisation's time zone, what the
    modal sends); neither: now. Raises a ``RuleError`` at ``send_at``."""
    if send_at and send_at_local:
        raise DomainError(
            "send_at_twice",
            _("Give either send_at or send_at_local, not both."),
        )
    if send_at:
        return send_at_parse(send_at)
    if send_at_local:
        return local_send_at(send_at_local, zone_name=sms_settings.time_zone)
    return None


def send_at_validate(send_at: datetime) -> datetime:
    """``send_at`` in UTC when it is a minute to 90 days ahead (by ``sms.clock``)."""
    return send_at_check(send_at, now=clock.now())


@transaction.atomic
def sendout_reschedule(
    *, sendout: Sendout, send_at: datetime, rescheduled_by: AbstractBaseUser | None = None
) -> Sendout:
    """Move a scheduled sendout to ``send_at``; refused (409) once it started or
    ended. The recipients and the reserved quota stay as they are."""
    send_at = send_at_validate(send_at)
    sendout = Sendout.objects.select_for_update().get(pk=sendout.pk)
    if sendout.status != SendoutStatus.SCHEDULED:
        raise DomainError(
            "not_reschedulable",
            _("Only a scheduled sendout can be moved: this one has started or ended."),
            status_code=409,
        )
    previous = sendout.send_at
    sendout.send_at = send_at
    sendout.save(update_fields=["send_at"])
    logger.info(
        "sms sendout %s rescheduled from %s to %s",
        sendout.pk,
        previous.isoformat() if previous else None,
        send_at.isoformat(),
        extra=log_ids(sendout) | {"user_id": getattr(rescheduled_by, "pk", None)},
    )
    return sendout


def sendouts_start_due(*, now: datetime | None = None) -> list[int]:
    """Hand to the workers the sendouts whose time has come: scheduled ones at
    ``send_at``, paused ones (send window) and paced ones (the next hour) at
    ``resume_at``. Scheduled and paused ones move to ``queued`` by a conditional
    update under a row lock, so that two dispatchers never queue one twice; a
    paced one stays ``sending`` and only loses its ``resume_at``. Answers the ids."""
    now = now or clock.now()
    with transaction.atomic():
        due = list(
            Sendout.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=SendoutStatus.SCHEDULED, send_at__lte=now)
                | Q(
                    status__in=[SendoutStatus.PAUSED, SendoutStatus.SENDING],
                    resume_at__lte=now,
                )
            )
            .order_by("id")
            .values_list("id", flat=True)[:START_BATCH]
        )
        Sendout.objects.filter(
            id__in=due, status__in=allowed_sendout_previous(SendoutStatus.QUEUED)
        ).update(status=SendoutStatus.QUEUED, resume_at=None)
        Sendout.objects.filter(id__in=due, status=SendoutStatus.SENDING).update(resume_at=None)
    for sendout_id in due:
        logger.info("sms sendout %s is due: queued", sendout_id, extra={"sendout_id": sendout_id})
        sendout_enqueue(sendout_id=sendout_id)
    return due

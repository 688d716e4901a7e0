"""Send windows at work: whether a sendout may send now, pausing it at the
window's end, and when a "send now" outside the window starts
(``sms.rules.windows`` holds the calendar itself).

The workers ask ``sendout_pause_if_closed`` before each claim: a
closed window moves the sendout to ``paused`` with ``resume_at`` the next
opening, and its remaining messages stay ``pending``; the dispatcher
(``sms.schedule.sendouts_start_due``) queues it again at that time. A sendout
marked ``ignore_send_window`` (a service message, by an administrator) never
pauses.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext as _

from core.errors import DomainError
from crm.models import Membership, Organisation, Role
from sms import clock
from sms.models import Sendout, SmsSettings
from sms.rules.windows import SendWindows
from sms.sendouts.common import log_ids
from sms.statuses import SendoutStatus, allowed_sendout_previous

logger = logging.getLogger(__name__)


def windows_for(*, sms_settings: SmsSettings) -> SendWindows:
    return SendWindows.of(
        sms_settings.send_windows,
        zone_name=sms_settings.time_zone,
        closed_on_holidays=sms_settings.closed_on_public_holidays,
    )


def next_opening(*, sms_settings: SmsSettings, at: datetime | None = None) -> datetime | None:
    """When a sendout confirmed at ``at`` (default now) may start: ``at`` inside
    the window, else the next opening (None: the windows never open)."""
    return windows_for(sms_settings=sms_settings).next_opening(at or clock.now())


def window_override_allowed_or_refuse(
    *, user: AbstractBaseUser, organisation: Organisation
) -> None:
    """Only the organisation's administrators may send regardless of the window."""
    if not Membership.objects.filter(
        user=user, organisation=organisation, role=Role.ADMIN
    ).exists():
        raise DomainError(
            "window_override_not_allowed",
            _("Only administrators may send outside the send window."),
            status_code=403,
        )


def start_time_outside_window(*, sms_settings: SmsSettings) -> datetime | None:
    """For a "send now": None inside the window, else the next opening (a
    ``DomainError`` when the windows never open)."""
    now = clock.now()
    opening = next_opening(sms_settings=sms_settings, at=now)
    if opening is None:
        raise DomainError(
            "send_window_never_opens",
            _("The send windows in the SMS settings never open. Ask an administrator."),
            status_code=409,
        )
    return None if opening == now else opening


def sendout_pause_if_closed(*, sendout: Sendout) -> bool:
    """Pause the sendout when its organisation's send window is closed now;
    answers whether it is paused (the caller stops claiming). ``sendout`` comes
    with its ``organisation.sms_settings``: an open window costs no query."""
    if sendout.ignore_send_window:
        return False
    now = clock.now()
    windows = windows_for(sms_settings=sendout.organisation.sms_settings)
    if windows.is_open(now):
        return False
    resume_at = windows.next_opening(now)
    paused = Sendout.objects.filter(
        pk=sendout.pk, status__in=allowed_sendout_previous(SendoutStatus.PAUSED)
    ).update(status=SendoutStatus.PAUSED, resume_at=resume_at)
    if paused:
        logger.info(
            "sms sendout %s paused outside the send window until %s",
            sendout.pk,
            resume_at.isoformat() if resume_at else None,
            extra=log_ids(sendout),
        )
    return True


def window_gate(*, sendout: Sendout) -> Callable[[], bool] | None:
    """For the backend's pipeline: whether the sendout's window is open now,
    asked right before each request starts (no query: ``sendout`` comes with its
    ``organisation.sms_settings``). None for a sendout that ignores the window."""
    if sendout.ignore_send_window:
        return None
    windows = windows_for(sms_settings=sendout.organisation.sms_settings)
    return lambda: windows.is_open(clock.now())


def send_window_state(*, sms_settings: SmsSettings, user: AbstractBaseUser) -> dict:
    """For the modal: the zone, whether the window is open now, its next opening,
    and whether ``user`` may send regardless."""
    now = clock.now()
    opening = next_opening(sms_settings=sms_settings, at=now)
    organisation = sms_settings.organisation
    return {
        "time_zone": sms_settings.time_zone,
        "open_now": opening == now,
        "next_opening": opening,
        "may_override": Membership.objects.filter(
            user=user, organisation=organisation, role=Role.ADMIN
        ).exists(),
    }

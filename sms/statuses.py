"""The statuses of sendouts and messages, the reasons beside them, and the one
table of the moves each status may make.

Model-free (only Django's choices enums), so that models, backends, rules and
services can all import it. Every status change is a conditional update that
filters on the statuses the table lets move to the new one
(``filter(status__in=allowed_previous(new)).update(status=new)``), so no change
bypasses the table, and a replayed or late change finds nothing to move.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from sms.rules.numbers import SkipReason


class SendoutStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class MessageStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    UNDELIVERED = "undelivered", _("Undelivered")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")
    CANCELLED = "cancelled", _("Cancelled")
    UNKNOWN = "unknown", _("Unknown")


class MessageReason(models.TextChoices):
    """Why a message did not (or may not have) reached its recipient, beyond the
    skip reasons of ``sms.rules.numbers.SkipReason``."""

    CANCELLED = "cancelled", _("Sendout cancelled")
    RETRYING = "retrying", _("Provider busy; retrying")
    PROVIDER_REJECTED = "provider_rejected", _("Rejected by the provider")
    OUT_OF_RETRIES = "out_of_retries", _("Provider unreachable; gave up")
    AMBIGUOUS_ERROR = "ambiguous_error", _("Connection lost while sending; checking")
    LOST_IN_SENDING = "lost_in_sending", _("Interrupted while sending; checking")
    NOT_RECONCILED = "not_reconciled", _("The provider could not be asked whether it was sent")
    NEVER_SENT = "never_sent", _("Not found at the provider; refunded")


class Recovery(models.TextChoices):
    """What reconciliation with the provider made of a message whose send was
    interrupted (a crashed worker, a read timeout, a dropped connection)."""

    RECOVERED = "recovered", _("Found at the provider: sent")
    RESENT = "resent", _("Not found at the provider: sent again")
    REFUNDED = "refunded", _("Not found at the provider: refunded")
    UNRESOLVED = "unresolved", _("The provider could not be asked: still unknown")


def reason_label(reason: str) -> str:
    """A message's reason (a skip reason or a ``MessageReason``) in the user's words;
    an unknown code as it is, the empty string for none."""
    if not reason:
        return ""
    if reason in {r.value for r in SkipReason}:
        return str(SkipReason(reason).label)
    if reason in MessageReason.values:
        return str(MessageReason(reason).label)
    return reason


# Statuses only move forward. `sending -> pending` is allowed only for a retry of
# a request that surely took no effect (429, 5xx, connection refused), or one the
# provider's own list shows it never took (reconciliation), or one taken back from
# the backend's pipeline before its request started (window closed, pace used
# up); `sending` and `unknown` may become delivered or undelivered because a
# callback is the truth (a worker that died before recording the answer leaves
# its message in `sending`).
MESSAGE_TRANSITIONS: dict[str, frozenset[str]] = {
    MessageStatus.PENDING: frozenset(
        {
            MessageStatus.SENDING,
            MessageStatus.CANCELLED,
            MessageStatus.SKIPPED,
            MessageStatus.FAILED,
        }
    ),
    MessageStatus.SENDING: frozenset(
        {
            MessageStatus.SENT,
            MessageStatus.DELIVERED,
            MessageStatus.UNDELIVERED,
            MessageStatus.FAILED,
            MessageStatus.UNKNOWN,
            MessageStatus.PENDING,
        }
    ),
    MessageStatus.SENT: frozenset(
        {MessageStatus.DELIVERED, MessageStatus.UNDELIVERED, MessageStatus.FAILED}
    ),
    MessageStatus.UNKNOWN: frozenset({MessageStatus.DELIVERED, MessageStatus.UNDELIVERED}),
    MessageStatus.DELIVERED: frozenset(),
    MessageStatus.UNDELIVERED: frozenset(),
    MessageStatus.FAILED: frozenset(),
    MessageStatus.SKIPPED: frozenset(),
    MessageStatus.CANCELLED: frozenset(),
}


# Messages a sendout is still working on: it is not finished while any is here.
MESSAGE_OPEN_STATUSES: tuple[str, ...] = (MessageStatus.PENDING, MessageStatus.SENDING)

# Messages that reached (or may have reached) the provider: the numbers we texted,
# charged and never refunded.
MESSAGE_LEFT_STATUSES: tuple[str, ...] = (
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.UNKNOWN,
)


def can_move(old: str, new: str) -> bool:
    """Whether a message may move from status ``old`` to ``new`` (never backwards)."""
    return new in MESSAGE_TRANSITIONS.get(old, frozenset())


def allowed_previous(new: str, *, late_answer: bool = False) -> list[str]:
    """The statuses a message may move to ``new`` from: for conditional updates
    (``filter(status__in=allowed_previous(new)).update(status=new)``).

    ``late_answer``: the provider's word on a message: the answer to the worker
    that claimed it, recorded as its outcome, or what reconciliation found in the
    provider's list of messages. The message may have been marked ``unknown``
    meanwhile (its worker looked lost, or the provider could not be asked); that
    mark is a guess, and the provider's word is the truth, so it may replace it.
    """
    previous = {old for old, moves in MESSAGE_TRANSITIONS.items() if new in moves}
    if late_answer and MessageStatus.SENDING in previous:
        previous.add(MessageStatus.UNKNOWN)
    return sorted(previous)


# A sendout starts queued (or scheduled: recipients frozen and quota reserved,
# waiting for its time, when the dispatcher queues it), is sending once
# dispatched (paused while the send window is closed, then queued again), and
# ends completed (no message left pending or sending) or cancelled.
SENDOUT_TRANSITIONS: dict[str, frozenset[str]] = {
    SendoutStatus.SCHEDULED: frozenset({SendoutStatus.QUEUED, SendoutStatus.CANCELLED}),
    SendoutStatus.QUEUED: frozenset(
        {
            SendoutStatus.SENDING,
            SendoutStatus.PAUSED,
            SendoutStatus.COMPLETED,
            SendoutStatus.CANCELLED,
        }
    ),
    SendoutStatus.SENDING: frozenset(
        {SendoutStatus.PAUSED, SendoutStatus.COMPLETED, SendoutStatus.CANCELLED}
    ),
    # Outside the send window: the dispatcher queues it again when the window opens.
    SendoutStatus.PAUSED: frozenset({SendoutStatus.QUEUED, SendoutStatus.CANCELLED}),
    SendoutStatus.COMPLETED: frozenset(),
    SendoutStatus.CANCELLED: frozenset(),
}

SENDOUT_OPEN_STATUSES: tuple[str, ...] = (SendoutStatus.QUEUED, SendoutStatus.SENDING)
"""Sendouts that may send now: queued or sending. A scheduled sendout is not
finished either, but nothing of it may leave before the dispatcher queues it."""

SENDOUT_UNFINISHED_STATUSES: tuple[str, ...] = tuple(
    status for status, moves in SENDOUT_TRANSITIONS.items() if moves
)
"""Sendouts not finished yet: scheduled, queued, sending or paused."""


def sendout_can_move(old: str, new: str) -> bool:
    """Whether a sendout may move from status ``old`` to ``new``."""
    return new in SENDOUT_TRANSITIONS.get(old, frozenset())


def allowed_sendout_previous(new: str) -> list[str]:
    """The statuses a sendout may move to ``new`` from (for conditional updates)."""
    return sorted(old for old, moves in SENDOUT_TRANSITIONS.items() if new in moves)

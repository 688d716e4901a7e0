"""What comes back from the provider: delivery reports (status callbacks) and
inbound replies. ``sms/webhooks.py`` is the HTTP edge that calls these."""

from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Contact, OptOutSource
from crm.services import contacts_opt_out_set
from sms.models import OutboundMessage
from sms.rules.numbers import normalise_number
from sms.statuses import MESSAGE_LEFT_STATUSES, MessageStatus, allowed_previous


def message_status_from_provider(
    *,
    provider_id: str,
    status: MessageStatus | None,
    error_code: str = "",
    message_id: int | None = None,
) -> bool:
    """Apply a delivery report; answers whether a message changed.

    ``status`` is the report in our words (the backend translated the provider's;
    None when it says nothing we record).

    Idempotent: a replay or an older report changes nothing, because the update
    is conditional on a status that may move to ``status`` (``allowed_previous``). The message
    is found by its provider id; failing that, a ``sending`` or ``unknown`` message
    without a provider id is found by ``message_id`` (from the callback URL) and
    learns its provider id: its worker died (or lost the connection) before it
    recorded the answer, and the report is the truth about whether it left.
    """
    new = status
    if not provider_id or new is None:
        return False
    movable = allowed_previous(new)
    changes = {"status": new, "error_code": (error_code or "")[:32], "updated_at": timezone.now()}
    with transaction.atomic():
        known = OutboundMessage.objects.filter(provider_id=provider_id)
        if known.exists() or message_id is None:
            return bool(known.filter(status__in=movable).update(**changes))
        unanswered = (MessageStatus.SENDING, MessageStatus.UNKNOWN)
        return bool(
            OutboundMessage.objects.filter(pk=message_id, provider_id="", status__in=unanswered)
            .filter(status__in=movable)
            .update(
                provider_id=provider_id[:64],
                claimed_by="",
                claimed_until=None,
                sent_at=Coalesce("sent_at", Value(changes["updated_at"])),
                **changes,
            )
        )


STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "LOPETA"}
START_WORDS = {"START", "UNSTOP"}


@transaction.atomic
def inbound_reply(*, from_number: str, body: str) -> int:
    """STOP-style replies opt out the contacts we texted at that number (START
    opts them back in). Answers how many contacts changed."""
    word = body.strip().strip(".!").upper()
    if word in STOP_WORDS:
        opted_out = True
    elif word in START_WORDS:
        opted_out = False
    else:
        return 0
    number = normalise_number(from_number)
    if number.e164 is None:
        return 0
    contact_ids = (
        OutboundMessage.objects.filter(
            to=number.e164, contact__isnull=False, status__in=MESSAGE_LEFT_STATUSES
        )
        .values_list("contact_id", flat=True)
        .distinct()
    )
    return contacts_opt_out_set(
        contacts=Contact.objects.filter(id__in=contact_ids),
        opted_out=opted_out,
        source=OptOutSource.SMS_REPLY,
    )

"""What comes back from the provider: delivery reports (status callbacks) and
inbound replies. ``sms/webhooks.py`` is the HTTP edge that calls these."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext

from crm.models import Contact, OptOutSource, Organisation
from crm.services import contacts_opt_out_set
from sms.models import OutboundMessage, SuppressionSource
from sms.rules.keywords import keyword_of
from sms.rules.numbers import normalise_number
from sms.rules.senders import OPERATOR_SENDER
from sms.statuses import MESSAGE_LEFT_STATUSES, MessageStatus, allowed_previous
from sms.suppression import number_suppress, number_unsuppress


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
    now = timezone.now()
    changes = {"status": new, "error_code": (error_code or "")[:32], "updated_at": now}
    if new == MessageStatus.DELIVERED:
        changes["delivered_at"] = now
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
                sent_at=Coalesce("sent_at", Value(now)),
                **changes,
            )
        )


REPLY_LANGUAGES = {"fi": "fi", "sv": "sv", "en": "en"}
"""A contact's language (``crm.models.Language``) to the language of the
confirmation we answer a keyword with; others get the keyword's language."""


@dataclass(frozen=True, slots=True)
class InboundOutcome:
    """What an inbound reply did: the organisations whose suppression list
    changed, and the confirmation to answer with ("" for none)."""

    changed: int = 0
    confirmation: str = ""


def _confirmation(action: str, language: str) -> str:
    with translation.override(language):
        if action == "stop":
            return gettext(
                "You have unsubscribed and will get no more text messages from us. "
                "Reply START to subscribe again."
            )
        return gettext("You will get our text messages again. Reply STOP to unsubscribe.")


def is_keyword(body: str) -> bool:
    """Is an inbound text an opt-out or opt-in keyword (``inbound_reply``'s to
    handle), rather than a reply to keep?"""
    return keyword_of(body) is not None


def _sent_through(*, to: str, messaging_service_sid: str) -> Q:
    """Outbound messages that went out through the sender an inbound message was
    sent to: ``to`` (Twilio's ``To``: the number, or a sender name) or the
    messaging service it arrived through. As ``sms.rules.senders.sender_choice``
    decides by the organisation's current settings: a named sender goes out as
    itself; the operator sender from the organisation's operator number, else
    its messaging service, else the project's default (``TWILIO_MESSAGING_SERVICE_SID``,
    then ``TWILIO_FROM_NUMBER``)."""
    operator = Q(sendout__sender=OPERATOR_SENDER)
    settings_of = "sendout__organisation__sms_settings__"
    through = Q(pk__in=[])  # nothing, unless a sender below matches
    if to:
        through |= Q(sendout__sender=to) & ~operator
        through |= operator & Q(**{f"{settings_of}operator_number": to})
    own_default = Q(**{f"{settings_of}isnull": True}) | Q(
        **{f"{settings_of}operator_number": "", f"{settings_of}messaging_service_sid": ""}
    )
    if messaging_service_sid:
        through |= operator & Q(
            **{
                f"{settings_of}operator_number": "",
                f"{settings_of}messaging_service_sid": messaging_service_sid,
            }
        )
    project_default = (to and to == settings.TWILIO_FROM_NUMBER) or (
        messaging_service_sid and messaging_service_sid == settings.TWILIO_MESSAGING_SERVICE_SID
    )
    if project_default:
        through |= operator & own_default
    return through


def texted_through(*, number: str, to: str, messaging_service_sid: str):
    """The messages that left for ``number`` (E.164) through the sender an
    inbound text was sent to (``_sent_through``)."""
    return OutboundMessage.objects.filter(to=number, status__in=MESSAGE_LEFT_STATUSES).filter(
        _sent_through(to=to, messaging_service_sid=messaging_service_sid)
    )


@transaction.atomic
def inbound_reply(
    *, from_number: str, body: str, to: str = "", messaging_service_sid: str = ""
) -> InboundOutcome:
    """A STOP-style reply (``sms.rules.keywords``: Finnish, Swedish and English,
    matched loosely) puts the number on the suppression list of every
    organisation that texted it through the sender it was sent to (``to``, or
    ``messaging_service_sid``), and opts out the contacts those organisations
    texted at that number; START (or ALOITA, STARTA, UNSTOP) lifts both. Another
    organisation that texted the same number from another sender is not touched:
    the person answered one sender. Answers how many organisations' lists
    changed and a confirmation in the contact's language (else the keyword's);
    no confirmation to a number we never texted from that sender."""
    keyword = keyword_of(body)
    if keyword is None:
        return InboundOutcome()
    opted_out = keyword.action == "stop"
    number = normalise_number(from_number)
    if number.e164 is None:
        return InboundOutcome()
    texted = OutboundMessage.objects.filter(
        to=number.e164, status__in=MESSAGE_LEFT_STATUSES
    ).filter(_sent_through(to=to, messaging_service_sid=messaging_service_sid))
    organisation_ids = set(texted.values_list("sendout__organisation_id", flat=True))
    changed = 0
    for organisation in Organisation.objects.filter(id__in=organisation_ids).order_by("id"):
        if opted_out:
            changed += number_suppress(
                organisation=organisation,
                number=number.e164,
                source=SuppressionSource.REPLY,
                sender=to or messaging_service_sid,
            )
        else:
            changed += number_unsuppress(organisation=organisation, number=number.e164)
    contact_ids = texted.filter(contact__isnull=False).values_list("contact_id", flat=True)
    contacts = Contact.objects.filter(id__in=contact_ids)
    contacts_opt_out_set(contacts=contacts, opted_out=opted_out, source=OptOutSource.SMS_REPLY)
    if not organisation_ids:
        return InboundOutcome(changed)
    spoken = [
        REPLY_LANGUAGES[lang]
        for lang in contacts.order_by("id").values_list("language", flat=True)
        if lang in REPLY_LANGUAGES
    ]
    language = spoken[0] if spoken else keyword.language
    return InboundOutcome(changed, _confirmation(keyword.action, language))

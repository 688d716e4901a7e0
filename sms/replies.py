"""Replies: inbound texts that are not opt-out keywords.

An inbound text comes to one of our senders (Twilio's ``To``, or the messaging
service it arrived through). Each organisation that texted the sender's number
through that sender (a message that left) gets the reply once, matched to the
last message it sent there: its contact and its sendout. The reply's owner is
the user who sent that sendout (the project has no owner per contact: the person
who texted is the one waiting for the answer); they see it in their Replies list,
unread until they mark it read. A text from a number that no organisation texted
through that sender is kept nowhere (there is nobody to show it to).

``sms.delivery.inbound_reply`` handles the keywords; ``sms/webhooks.py`` calls
``reply_receive`` only for a text that is not one.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Organisation
from sms.delivery import texted_through
from sms.models import OutboundMessage, Reply
from sms.rules.numbers import normalise_number

logger = logging.getLogger(__name__)

MAX_REPLY_CHARS = 1600
"""Twilio's longest inbound text; a longer body is cut, never refused."""


@transaction.atomic
def reply_receive(
    *,
    from_number: str,
    body: str,
    to: str = "",
    messaging_service_sid: str = "",
    provider_id: str = "",
) -> list[Reply]:
    """Keep an inbound text as a reply of every organisation that texted
    ``from_number`` through the sender it answered; answers the replies written
    (none for a repeat of the same ``provider_id``, or when nobody texted it)."""
    number = normalise_number(from_number)
    if number.e164 is None:
        return []
    text = body.replace("\x00", "")[:MAX_REPLY_CHARS]
    latest = (
        texted_through(number=number.e164, to=to, messaging_service_sid=messaging_service_sid)
        .select_related("sendout")
        .order_by("sendout__organisation_id", "-sent_at", "-id")
    )
    by_organisation: dict[int, OutboundMessage] = {}
    for message in latest.only(
        "id", "contact_id", "sendout_id", "sendout__organisation_id", "sendout__created_by_id"
    ):
        by_organisation.setdefault(message.sendout.organisation_id, message)
    written = []
    for organisation_id, message in sorted(by_organisation.items()):
        reply = Reply(
            organisation_id=organisation_id,
            contact_id=message.contact_id,
            sendout_id=message.sendout_id,
            message=message,
            owner_id=message.sendout.created_by_id,
            from_number=number.e164,
            to=(to or messaging_service_sid)[:34],
            body=text,
            provider_id=provider_id[:64],
        )
        try:
            with transaction.atomic():
                reply.save()
        except IntegrityError:
            continue  # the same inbound message again (Twilio retried the webhook)
        written.append(reply)
    if not by_organisation:
        logger.info("sms reply from a number nobody texted through %s", to or messaging_service_sid)
    return written


def replies_mark_read(*, user: AbstractBaseUser, organisation: Organisation, ids=None) -> int:
    """Mark the user's unread replies read (only ``ids`` when given); answers how many."""
    unread = Reply.objects.filter(organisation=organisation, owner=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


# --- reads --------------------------------------------------------------------------------


def reply_list(*, organisation: Organisation) -> QuerySet[Reply]:
    return (
        Reply.objects.filter(organisation=organisation)
        .select_related("contact", "sendout__target_group", "owner")
        .order_by("-received_at", "-id")
    )


def replies_of_owner(*, organisation: Organisation, user: AbstractBaseUser) -> QuerySet[Reply]:
    """The user's replies: unread first, newest first."""
    unread_first = Case(When(read_at__isnull=True, then=Value(0)), default=Value(1))
    return (
        reply_list(organisation=organisation)
        .filter(owner=user)
        .order_by(unread_first, "-received_at", "-id")
    )


def unread_count(*, organisation: Organisation, user: AbstractBaseUser) -> int:
    return Reply.objects.filter(organisation=organisation, owner=user, read_at__isnull=True).count()


def sendout_replies(*, sendout) -> QuerySet[Reply]:
    """The replies a sendout caused, newest first."""
    return (
        Reply.objects.filter(sendout=sendout)
        .select_related("contact")
        .order_by("-received_at", "-id")
    )


def reply_annotations() -> dict:
    """Annotations of a sendout queryset: ``replies_total``."""
    rows = (
        Reply.objects.filter(sendout=OuterRef("pk"))
        .order_by()
        .values("sendout")
        .annotate(n=Count("id"))
        .values("n")
    )
    return {"replies_total": Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))}

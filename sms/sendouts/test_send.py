"""A test message: the modal's "Send a test". The message as one member of the group
would get it, texted to the user's own number, so that the user sees it on a phone
before pressing Send.

A test is a sendout of purpose ``test`` with one message: its quota is reserved
and charged like any other (one ledger row naming the sendout, refunded if it
never leaves) and it is sent by the same worker path. It is never part of the
group's campaign figures (the SMS tab, "the last message", the opt-outs a sendout
caused). A user may send ``SMS_TEST_SENDS_PER_HOUR`` tests an hour.
"""

import datetime
import logging

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from sms.checks import sendout_validate, sms_enabled_or_refuse
from sms.links import link_for, links_create
from sms.models import OutboundMessage, Sendout, SmsProfile
from sms.optout import optout_for
from sms.quota import quota_reserve, sms_settings_for
from sms.recipients import member_text
from sms.rules import RuleError
from sms.rules.numbers import normalise_number, surely_not_mobile
from sms.rules.purposes import DEFAULT_PURPOSE, Purpose
from sms.rules.text import MAX_CHARS, billed_messages, encoding_info
from sms.sendouts.common import log_ids, sendout_enqueue
from sms.statuses import MessageStatus, SendoutStatus
from sms.suppression import suppressed_numbers
from targetgroups.models import TargetGroup
from targetgroups.selectors import target_group_members

logger = logging.getLogger(__name__)


def own_number(*, user: AbstractBaseUser) -> str:
    """The number on the user's profile that tests go to ("" when none)."""
    return SmsProfile.objects.filter(user=user).values_list("own_number", flat=True).first() or ""


def _number(to: str, user: AbstractBaseUser) -> str:
    """The user's number: ``to`` as typed (then stored on the profile), else the
    profile's. Raises ``RuleError`` at "to"."""
    if not to.strip():
        stored = own_number(user=user)
        if stored:
            return stored
        raise RuleError(
            "own_number_required",
            _("Enter your own mobile number: the test message goes to it."),
            field="to",
        )
    number = normalise_number(to)
    if number.e164 is None or surely_not_mobile(number.e164):
        raise RuleError(
            "invalid_own_number",
            _("Enter your mobile number with its country code, such as +358 40 123 4567."),
            field="to",
        )
    SmsProfile.objects.update_or_create(user=user, defaults={"own_number": number.e164})
    return number.e164


@transaction.atomic
def sendout_test_send(
    *,
    target_group: TargetGroup,
    created_by: AbstractBaseUser,
    sender: str,
    phone_field: str,
    body: str,
    purpose: str = DEFAULT_PURPOSE,
    contact: int | None = None,
    to: str = "",
    link_tracking: bool = True,
) -> Sendout:
    """Text ``body`` as ``contact`` (a member of the group; the first member when
    None) would get it in a sendout of ``purpose`` (its opt-out included, its URLs
    as the test's own short links with ``link_tracking``) to the user's own number.
    One transaction: checks the input as a sendout does, the hourly limit, reserves
    the quota (or refuses and writes nothing), writes the sendout of purpose
    ``test`` and its one message, and enqueues the sending when it commits. A
    number typed in ``to`` is stored on the user's profile for the next test."""
    organisation = target_group.organisation
    sms_settings = sms_settings_for(organisation=organisation)
    sms_enabled_or_refuse(sms_settings=sms_settings)
    asked = sendout_validate(
        sms_settings=sms_settings,
        sender=sender,
        phone_field=phone_field,
        body=body,
        purpose=purpose,
        user=created_by,
        link_tracking=link_tracking,
    )
    number = _number(to, created_by)
    if number in suppressed_numbers(organisation_id=organisation.pk):
        raise RuleError(
            "own_number_opted_out",
            _("Your number is on the organisation's opt-out list: it gets no messages."),
            field="to",
        )
    limit = settings.SMS_TEST_SENDS_PER_HOUR
    since = timezone.now() - datetime.timedelta(hours=1)
    sent = Sendout.objects.filter(
        created_by=created_by, purpose=Purpose.TEST, created_at__gte=since
    ).order_by("created_at")
    if sent.count() >= limit:
        oldest = sent.first()
        wait = int(
            (oldest.created_at + datetime.timedelta(hours=1) - timezone.now()).total_seconds()
        )
        raise DomainError(
            "test_limit",
            _(
                "You have sent %(n)s test messages in the last hour, the most allowed. "
                "Try again later."
            )
            % {"n": limit},
            status_code=429,
            retry_after=max(wait, 1),
        )
    if contact is None:
        contact = (
            target_group_members(target_group=target_group)
            .order_by("id")
            .values_list("id", flat=True)
            .first()
        )
    sendout = Sendout.objects.create(
        organisation=organisation,
        target_group=target_group,
        sender=asked.sender,
        phone_field=asked.phone_field,
        body=asked.body,
        created_by=created_by,
        purpose=Purpose.TEST,
        status=SendoutStatus.QUEUED,
        recipients_total=1,
        link_tracking=asked.link_tracking,
    )
    # The short links are the test sendout's own (a click on one leads where the
    # member's would, recorded on the test); the opt-out is a preview's: following
    # it opts nobody out.
    tracked = bool(asked.template.links)
    if tracked:
        links_create(sendout=sendout, template=asked.template)
    optout = optout_for(sms_settings=sms_settings, sender=asked.sender, purpose=asked.purpose)
    # None: nobody in the group, or ``contact`` is not a member (the transaction
    # then writes nothing).
    rendered = contact and member_text(
        target_group=target_group,
        phone_field=asked.phone_field,
        template=asked.template,
        contact_id=contact,
        suffix=optout.suffix if optout.chars else None,
        link=link_for(sendout_id=sendout.pk) if tracked else None,
    )
    if not rendered:
        raise RuleError(
            "not_a_member",
            _("Choose a member of this target group to render the message for."),
            field="contact",
        )
    _name, text = rendered
    if len(text) > MAX_CHARS:
        raise RuleError(
            "body_too_long",
            _("With this member's details the message has %(n)s characters, more than %(max)s.")
            % {"n": len(text), "max": MAX_CHARS},
            field="body",
        )
    messages = billed_messages(len(text))
    info = encoding_info(text)
    quota_reserve(
        organisation=organisation, amount=messages, sendout=sendout, created_by=created_by
    )
    OutboundMessage.objects.create(
        sendout=sendout,
        contact=None,  # the text is the member's; the number is the user's
        to=number,
        body=text,
        messages=messages,
        encoding=info.encoding,
        carrier_segments=info.carrier_segments,
        status=MessageStatus.PENDING,
    )
    logger.info(
        "sms test sendout %s created: %s messages reserved",
        sendout.pk,
        messages,
        extra=log_ids(sendout) | {"messages_reserved": messages, "user_id": created_by.pk},
    )
    transaction.on_commit(lambda: sendout_enqueue(sendout_id=sendout.pk))
    return sendout

"""Creating a sendout: validate, resolve the recipients, reserve the quota, write
the messages, enqueue the sending when the transaction commits."""

import logging
from collections import Counter
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from sms.checks import (
    FINNISH_PREFIX,
    sender_authorised_or_refuse,
    sendout_validate,
    sms_enabled_or_refuse,
)
from sms.links import link_for, links_create
from sms.models import OutboundMessage, Sendout
from sms.optout import optout_for
from sms.quota import quota_reserve, sms_settings_for
from sms.recipients import recipients_resolve
from sms.rules.purposes import DEFAULT_PURPOSE, Purpose
from sms.schedule import send_at_validate
from sms.sendouts.common import log_ids, sendout_enqueue
from sms.statuses import MessageStatus, SendoutStatus
from sms.windows import start_time_outside_window, window_override_allowed_or_refuse
from targetgroups.models import TargetGroup


def sendout_record(*, messages: list[OutboundMessage], messages_reserved: int) -> dict:
    """The accountability record of a sendout, written once at creation: what
    the confirmation showed (recipients, skips by reason, messages) and the
    sendable recipients per legal basis."""
    skipped = Counter(m.reason for m in messages if m.status == MessageStatus.SKIPPED)
    bases = Counter(m.legal_basis for m in messages if m.status == MessageStatus.PENDING)
    return {
        "recipients": {
            "total": len(messages),
            "sendable": sum(bases.values()),
            "skipped": dict(sorted(skipped.items())),
        },
        "messages": messages_reserved,
        "legal_basis": dict(sorted(bases.items())),
    }


logger = logging.getLogger(__name__)


def sendout_create(
    *,
    target_group: TargetGroup,
    created_by: AbstractBaseUser,
    sender: str,
    phone_field: str,
    body: str,
    expected_messages: int | None = None,
    idempotency_key: str = "",
    purpose: str = DEFAULT_PURPOSE,
    send_at: datetime | None = None,
    ignore_send_window: bool = False,
    messages_per_hour: int | None = None,
    link_tracking: bool = True,
) -> tuple[Sendout, bool]:
    """Create a sendout and reserve its quota; answers (sendout, created).

    One transaction: re-resolves the recipients, checks the count the user
    confirmed, reserves the quota (or refuses and writes nothing), writes every
    outbound message (skipped ones with their reason) and enqueues the sending
    when the transaction commits. A repeated ``idempotency_key`` of the same user
    answers the first sendout and creates nothing.

    With ``send_at`` (a minute to 90 days ahead) the sendout is ``scheduled``:
    everything above happens now, and the dispatcher (``sms.schedule``) hands it
    to the workers at that time. A "send now" while the organisation's send
    window is closed is scheduled for its next opening (the answer's
    ``send_at`` says when) unless ``ignore_send_window`` (administrators only,
    kept on the sendout) sends it regardless. ``messages_per_hour`` paces it
    (``sms.pacing``).
    answers the first sendout and creates nothing. With ``link_tracking`` the
    message's URLs go out as each recipient's short link (``sms.links``), and
    the lengths and billing count those.
    """
    if idempotency_key:
        existing = Sendout.objects.filter(
            created_by=created_by, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return existing, False
    try:
        sendout = _sendout_create(
            target_group=target_group,
            created_by=created_by,
            sender=sender,
            phone_field=phone_field,
            body=body,
            expected_messages=expected_messages,
            idempotency_key=idempotency_key,
            purpose=purpose,
            send_at=send_at,
            ignore_send_window=ignore_send_window,
            messages_per_hour=messages_per_hour,
            link_tracking=link_tracking,
        )
    except IntegrityError:
        # A concurrent request with the same key won the race: answer its sendout.
        existing = Sendout.objects.filter(
            created_by=created_by, idempotency_key=idempotency_key
        ).first()
        if not idempotency_key or existing is None:
            raise
        return existing, False
    return sendout, True


@transaction.atomic
def _sendout_create(
    *,
    target_group: TargetGroup,
    created_by: AbstractBaseUser,
    sender: str,
    phone_field: str,
    body: str,
    expected_messages: int | None,
    idempotency_key: str,
    purpose: str,
    send_at: datetime | None,
    ignore_send_window: bool,
    messages_per_hour: int | None,
    link_tracking: bool,
) -> Sendout:
    organisation = target_group.organisation
    sms_settings = sms_settings_for(organisation=organisation)
    sms_enabled_or_refuse(sms_settings=sms_settings)
    request = sendout_validate(
        sms_settings=sms_settings,
        sender=sender,
        phone_field=phone_field,
        body=body,
        purpose=purpose,
        user=created_by,
        link_tracking=link_tracking,
    )
    if ignore_send_window:
        window_override_allowed_or_refuse(user=created_by, organisation=organisation)
    # The send window holds marketing texts; a service notice (whose purpose
    # sendout_validate allowed only to the roles that may send one) goes regardless.
    if request.purpose == Purpose.SERVICE:
        ignore_send_window = True
    if send_at is not None:
        send_at = send_at_validate(send_at)
    elif not ignore_send_window:
        send_at = start_time_outside_window(sms_settings=sms_settings)
    sendout = Sendout.objects.create(
        organisation=organisation,
        target_group=target_group,
        sender=request.sender,
        phone_field=request.phone_field,
        body=request.body,
        created_by=created_by,
        idempotency_key=idempotency_key,
        purpose=request.purpose,
        status=SendoutStatus.SCHEDULED if send_at else SendoutStatus.QUEUED,
        send_at=send_at,
        ignore_send_window=ignore_send_window,
        messages_per_hour=messages_per_hour or None,
        link_tracking=request.link_tracking,
    )
    tracked = bool(request.template.links)
    if tracked:
        links_create(sendout=sendout, template=request.template)
    messages = []
    total = 0
    optout = optout_for(
        sms_settings=sms_settings,
        sender=request.sender,
        purpose=request.purpose,
        sendout_id=sendout.pk,
    )
    for recipient in recipients_resolve(
        target_group=target_group,
        phone_field=request.phone_field,
        template=request.template,
        purpose=request.purpose,
        suffix=optout.suffix if optout.chars else None,
        link=link_for(sendout_id=sendout.pk) if tracked else None,
    ):
        total += recipient.messages
        messages.append(
            OutboundMessage(
                sendout=sendout,
                contact_id=recipient.contact_id,
                to=recipient.to,
                body=recipient.body,
                messages=recipient.messages,
                encoding=recipient.encoding,
                carrier_segments=recipient.carrier_segments,
                status=MessageStatus.PENDING if recipient.sendable else MessageStatus.SKIPPED,
                reason=recipient.reason.value if recipient.reason else "",
                legal_basis=recipient.legal_basis,
            )
        )
    sender_authorised_or_refuse(
        sms_settings=sms_settings,
        sender=request.sender,
        finnish_recipients=sum(
            1
            for m in messages
            if m.status == MessageStatus.PENDING and m.to.startswith(FINNISH_PREFIX)
        ),
    )
    if expected_messages is not None and expected_messages != total:
        raise DomainError(
            "count_changed",
            _(
                "The target group changed: the sendout would now bill %(now)s messages, "
                "not %(expected)s. Check the numbers and confirm again."
            )
            % {"now": total, "expected": expected_messages},
            status_code=409,
            messages=total,
            expected_messages=expected_messages,
        )
    if total == 0:
        raise DomainError(
            "no_recipients",
            _("Nobody in this target group can receive the message."),
            status_code=400,
        )
    quota_reserve(organisation=organisation, amount=total, sendout=sendout, created_by=created_by)
    OutboundMessage.objects.bulk_create(messages, batch_size=2000)
    sendout.recipients_total = len(messages)
    sendout.record = sendout_record(messages=messages, messages_reserved=total) | {
        "optout": optout.style
    }
    sendout.save(update_fields=["recipients_total", "record"])
    sendable = sum(1 for m in messages if m.status == MessageStatus.PENDING)
    logger.info(
        "sms sendout %s created: %s recipients, %s skipped, %s messages reserved",
        sendout.pk,
        sendable,
        len(messages) - sendable,
        total,
        extra=log_ids(sendout)
        | {"recipients": sendable, "skipped": len(messages) - sendable}
        | {"messages_reserved": total, "user_id": created_by.pk},
    )
    if send_at is None:
        transaction.on_commit(lambda: sendout_enqueue(sendout_id=sendout.pk))
    return sendout

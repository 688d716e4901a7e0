"""Creating a sendout: validate, write every recipient's message in one
``INSERT ... SELECT`` (``sms.sendouts.insert``: rendered and decided by the
database; for a large group only tallied, and written by the worker right after:
``sms.sendouts.write``), check the totals, reserve the quota, enqueue the
sending when the transaction commits. A refusal rolls it all back: nothing
written."""

import logging
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from sms.checks import (
    sender_authorised_or_refuse,
    sendout_validate,
    sms_enabled_or_refuse,
)
from sms.links import links_create
from sms.models import Sendout
from sms.optout import optout_for
from sms.quota import quota_reserve, sms_settings_for
from sms.rules.purposes import DEFAULT_PURPOSE, Purpose
from sms.schedule import send_at_validate
from sms.sendouts.common import log_ids, sendout_enqueue, sendout_write_enqueue
from sms.sendouts.write import messages_decide, sendout_record, write_inline
from sms.statuses import SendoutStatus
from sms.windows import start_time_outside_window, window_override_allowed_or_refuse
from targetgroups.models import TargetGroup

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

    One transaction: writes every outbound message (skipped ones with their
    reason) by one INSERT ... SELECT, checks the count the user confirmed on the
    totals of the rows written, reserves the quota (or refuses, and the rollback
    leaves nothing written) and enqueues the sending when the transaction
    commits. A group of more than ``SMS_WRITE_INLINE_MAX`` members is only
    tallied (the same decision, the same totals), and the worker writes its
    messages right after (``sms.sendouts.write``). A repeated
    ``idempotency_key`` of the same user answers the first sendout and creates
    nothing.

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
    if request.template.links:
        links_create(sendout=sendout, template=request.template)
    optout = optout_for(
        sms_settings=sms_settings,
        sender=request.sender,
        purpose=request.purpose,
        sendout_id=sendout.pk,
    )
    # A large group's messages are written by the worker (sms.sendouts.write).
    sendout.messages_written = write_inline(target_group=target_group)
    written = messages_decide(
        sendout=sendout,
        target_group=target_group,
        template=request.template,
        optout=optout,
        write=sendout.messages_written,
    )
    total = written.messages
    sender_authorised_or_refuse(
        sms_settings=sms_settings, sender=request.sender, finnish_recipients=written.finnish
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
    sendout.recipients_total = written.total
    sendout.record = sendout_record(written=written) | {"optout": optout.style}
    sendout.save(update_fields=["recipients_total", "record", "messages_written"])
    sendable = written.sendable
    skipped = written.total - sendable
    logger.info(
        "sms sendout %s created: %s recipients, %s skipped, %s messages reserved",
        sendout.pk,
        sendable,
        skipped,
        total,
        extra=log_ids(sendout)
        | {"recipients": sendable, "skipped": skipped}
        | {"messages_reserved": total, "user_id": created_by.pk},
    )
    if not sendout.messages_written:
        # Written now, whenever it is to be sent; the dispatch writes first too.
        transaction.on_commit(lambda: sendout_write_enqueue(sendout_id=sendout.pk))
    elif send_at is None:
        transaction.on_commit(lambda: sendout_enqueue(sendout_id=sendout.pk))
    return sendout

"""``sms/sendouts/lifecycle.py``: cancelling a sendout while it is being sent, and
the sweeper that finds messages lost in sending and work nobody picked up."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sms.backends import ErrorKind, SendError, locmem
from sms.models import OutboundMessage
from sms.sendouts.lifecycle import sendout_cancel, sweep_stuck_messages
from sms.sendouts.send import sendout_dispatch, sendout_send_chunk
from sms.statuses import MessageReason, MessageStatus, SendoutStatus
from tests.factories import SmsSettingsFactory, create_sendout, number, sendable_contacts
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db


def test_a_retry_after_cancel_sends_nothing_and_refunds(org, user, town_group, sms_outbox):
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 2)
    locmem.failures[number(0)] = [SendError(kind=ErrorKind.TRANSIENT, http_status=429)]
    sendout = create_sendout(target_group=town_group, created_by=user)
    chunks = sendout_dispatch(sendout_id=sendout.pk)
    retries = sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunks[0])
    assert list(retries) == [OutboundMessage.objects.get(sendout=sendout, to=number(0)).pk]
    sendout_cancel(sendout=sendout)
    sendout_send_chunk(sendout_id=sendout.pk, message_ids=list(retries))
    assert [m.to for m in sms_outbox] == [number(1)]
    message = OutboundMessage.objects.get(sendout=sendout, to=number(0))
    assert message.status in (MessageStatus.CANCELLED,)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.CANCELLED
    assert_books_balance(org, sendout, topped_up=100)


def test_sweep_with_zero_timeout_marks_sending_unknown_and_finds_lost_work(org, user, town_group):
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 3)
    sendout = create_sendout(target_group=town_group, created_by=user)
    sendout_dispatch(sendout_id=sendout.pk)
    stuck = OutboundMessage.objects.filter(sendout=sendout).order_by("id").first()
    OutboundMessage.objects.filter(pk=stuck.pk).update(status=MessageStatus.SENDING)
    lost = sweep_stuck_messages(older_than=timedelta(0))
    assert lost == [sendout.pk]
    stuck.refresh_from_db()
    assert (stuck.status, stuck.reason) == (MessageStatus.UNKNOWN, MessageReason.LOST_IN_SENDING)


def test_sweep_leaves_recent_work_alone(org, user, town_group):
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 3)
    sendout = create_sendout(target_group=town_group, created_by=user)
    OutboundMessage.objects.filter(sendout=sendout).update(
        status=MessageStatus.SENDING, updated_at=timezone.now()
    )
    assert sweep_stuck_messages() == []
    assert not OutboundMessage.objects.filter(status=MessageStatus.UNKNOWN).exists()

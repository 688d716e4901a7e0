"""``sms/sendouts/lifecycle.py``: cancelling a sendout while it is being sent, and
the sweeper that takes over expired leases (reconciling them with the provider)
and finds work nobody picked up."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sms.backends import ErrorKind, SendError, locmem
from sms.models import OutboundMessage, Sendout
from sms.sendouts.lifecycle import sendout_cancel, sweep_stuck_messages
from sms.sendouts.send import sendout_dispatch, sendout_send_chunk
from sms.statuses import MessageStatus, SendoutStatus
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


def test_sweep_reconciles_an_expired_lease_and_finds_lost_work(
    org, user, town_group, settings, sms_outbox
):
    """Issue #16: a message left in ``sending`` by a dead worker used to become
    ``unknown`` for good; now the provider is asked, and one it never took is sent
    again. Pending work nobody touched is handed back."""
    settings.SMS_RECONCILE_GRACE = 0
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 3)
    sendout = create_sendout(target_group=town_group, created_by=user)
    sendout_dispatch(sendout_id=sendout.pk)
    stuck, other, _third = OutboundMessage.objects.filter(sendout=sendout).order_by("id")
    expired = timezone.now() - timedelta(seconds=1)
    OutboundMessage.objects.filter(pk=stuck.pk).update(
        status=MessageStatus.SENDING, claimed_by="worker:dead", claimed_until=expired
    )
    lost = sweep_stuck_messages(older_than=timedelta(0))
    stuck.refresh_from_db()
    assert (stuck.status, stuck.recovery, stuck.claimed_by) == ("pending", "resent", "")
    assert lost == []  # the resent message was handed back by itself
    OutboundMessage.objects.filter(sendout=sendout).update(updated_at=expired)
    assert sweep_stuck_messages(older_than=timedelta(0)) == [sendout.pk]
    other.refresh_from_db()
    assert other.status == MessageStatus.PENDING


def test_sweep_finds_in_the_providers_list_what_a_dead_worker_sent(
    org, user, town_group, sms_outbox, send_to_the_end
):
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 2)
    sendout = create_sendout(target_group=town_group, created_by=user)
    send_to_the_end(sendout)
    sent = OutboundMessage.objects.filter(sendout=sendout).order_by("id").first()
    # As if the worker died after the provider took it, before it recorded the answer.
    OutboundMessage.objects.filter(pk=sent.pk).update(
        status=MessageStatus.SENDING,
        provider_id="",
        claimed_by="worker:dead",
        claimed_until=timezone.now() - timedelta(seconds=1),
        attempt_started_at=timezone.now() - timedelta(seconds=5),
    )
    Sendout.objects.filter(pk=sendout.pk).update(status=SendoutStatus.SENDING)
    assert sweep_stuck_messages() == []
    sent.refresh_from_db()
    assert (sent.status, sent.recovery) == (MessageStatus.SENT, "recovered")
    assert sent.provider_id == locmem.accepted[0].provider_id
    assert len(sms_outbox) == 2
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert_books_balance(org, sendout, topped_up=100)


def test_sweep_leaves_a_live_lease_alone(org, user, town_group, sms_outbox):
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 1)
    sendout = create_sendout(target_group=town_group, created_by=user)
    OutboundMessage.objects.filter(sendout=sendout).update(
        status=MessageStatus.SENDING,
        claimed_by="worker:alive",
        claimed_until=timezone.now() + timedelta(seconds=30),
        updated_at=timezone.now() - timedelta(hours=1),
    )
    assert sweep_stuck_messages(older_than=timedelta(0)) == []
    message = OutboundMessage.objects.get(sendout=sendout)
    assert (message.status, message.claimed_by) == (MessageStatus.SENDING, "worker:alive")
    assert locmem.attempts == []


def test_sweep_leaves_recent_work_alone(org, user, town_group):
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 3)
    sendout = create_sendout(target_group=town_group, created_by=user)
    OutboundMessage.objects.filter(sendout=sendout).update(
        status=MessageStatus.SENDING, updated_at=timezone.now()
    )
    assert sweep_stuck_messages() == []
    assert not OutboundMessage.objects.filter(status=MessageStatus.UNKNOWN).exists()

"""``sms/delivery.py``: a status report for a message still in ``sending`` (its
worker died, or lost the connection, before it recorded Twilio's answer) is
applied, not dropped (issue #16)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sms.delivery import message_status_from_provider
from sms.statuses import MessageStatus
from tests.factories import OutboundMessageFactory, SendoutFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_sending(org):
    return OutboundMessageFactory(
        sendout=SendoutFactory(organisation=org),
        status=MessageStatus.SENDING,
        claimed_by="worker:dead",
        claimed_until=timezone.now() - timedelta(seconds=5),
    )


@pytest.mark.parametrize(
    "status", [MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.UNDELIVERED]
)
def test_a_report_for_a_message_in_sending_is_applied(in_sending, status):
    assert message_status_from_provider(
        provider_id="SMabc", status=status, message_id=in_sending.pk
    )
    in_sending.refresh_from_db()
    assert (in_sending.status, in_sending.provider_id) == (status, "SMabc")
    assert (in_sending.claimed_by, in_sending.claimed_until) == ("", None)
    assert in_sending.sent_at is not None


def test_a_later_report_moves_it_on_by_its_provider_id(in_sending):
    message_status_from_provider(
        provider_id="SMabc", status=MessageStatus.SENT, message_id=in_sending.pk
    )
    assert message_status_from_provider(provider_id="SMabc", status=MessageStatus.DELIVERED)
    in_sending.refresh_from_db()
    assert in_sending.status == MessageStatus.DELIVERED


def test_a_report_naming_another_message_id_changes_nothing(in_sending, org):
    pending = OutboundMessageFactory(
        sendout=in_sending.sendout, status=MessageStatus.PENDING, to="+358401234599"
    )
    assert not message_status_from_provider(
        provider_id="SMother", status=MessageStatus.DELIVERED, message_id=pending.pk
    )
    pending.refresh_from_db()
    assert (pending.status, pending.provider_id) == (MessageStatus.PENDING, "")

"""Reconciliation through the twilio backend and the real SDK, against the
stand-in's Messages list resource (issue #16): ambiguous errors (a read timeout,
a connection reset after sending) are looked up, found or sent again, and left
``unknown`` only when Twilio cannot be asked."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from sms.backends import ErrorKind, LookupQuery, SmsMessage, get_backend
from sms.models import OutboundMessage
from sms.statuses import MessageStatus, SendoutStatus
from tests.factories import SmsSettingsFactory, create_sendout, number, sendable_contacts
from tests.sms.books import assert_books_balance
from tests.sms.twilio_standin import TwilioStandin

FROM_NUMBER = "+15005550006"


def backend_for(standin: TwilioStandin, **kwargs):
    options = {
        "base_url": standin.base_url,
        "account_sid": standin.account_sid,
        "auth_token": standin.auth_token,
        "from_number": FROM_NUMBER,
        "messaging_service_sid": "",
    }
    return get_backend("twilio", **(options | kwargs))


def query(to: str, body: str, *, since: datetime, **fields) -> LookupQuery:
    return LookupQuery(
        reference=1,
        to=to,
        body=body,
        sent_after=since,
        sent_before=datetime.now(UTC) + timedelta(seconds=1),
        **fields,
    )


# --- the backend's lookup ------------------------------------------------------------------


def test_lookup_follows_twilios_pages_and_matches_body_sender_and_window(twilio_standin):
    since = datetime.now(UTC) - timedelta(seconds=1)
    backend = backend_for(twilio_standin)
    others = [SmsMessage(to=number(0), body=f"Muu viesti {i}") for i in range(120)]
    ours = SmsMessage(to=number(0), body="Hei, tervetuloa!")
    with backend:
        backend.send_messages([ours])
        backend.send_messages(others)
        backend.send_messages([SmsMessage(to=number(0), body="Hei, tervetuloa!", sender="Kauppa")])
        before = twilio_standin.list_requests
        [found] = backend.lookup([query(number(0), "Hei, tervetuloa!", since=since)])
        pages = twilio_standin.list_requests - before
        [named] = backend.lookup(
            [query(number(0), "Hei, tervetuloa!", since=since, sender="Kauppa")]
        )
        [later] = backend.lookup(
            [query(number(0), "Hei, tervetuloa!", since=datetime.now(UTC) + timedelta(minutes=1))]
        )
    first = next(
        m for m in twilio_standin.received if m.body == ours.body and m.from_ == FROM_NUMBER
    )
    second = next(m for m in twilio_standin.received if m.from_ == "Kauppa")
    assert found.error is None and found.provider_ids == (first.sid,)
    assert pages == 3  # 122 messages to that number, 50 a page: our own is on the last one
    assert named.provider_ids == (second.sid,)
    assert later.found is False and later.error is None  # outside the attempt's window


def test_lookup_through_a_messaging_service_matches_the_service(twilio_standin):
    since = datetime.now(UTC) - timedelta(seconds=1)
    service = "MG" + "a" * 32
    backend = backend_for(twilio_standin)
    backend.send_messages([SmsMessage(to=number(1), body="Hei!", messaging_service_sid=service)])
    [found] = backend.lookup([query(number(1), "Hei!", since=since, messaging_service_sid=service)])
    [other] = backend.lookup(
        [query(number(1), "Hei!", since=since, messaging_service_sid="MG" + "b" * 32)]
    )
    assert found.provider_ids == (twilio_standin.received[0].sid,)
    assert other.provider_ids == ()


def test_lookup_errors_are_classified_and_never_raise(twilio_standin):
    since = datetime.now(UTC)
    twilio_standin.list_faults.extend([503])
    [busy] = backend_for(twilio_standin).lookup([query(number(0), "Hei!", since=since)])
    [refused] = backend_for(twilio_standin, auth_token="wrong").lookup(
        [query(number(0), "Hei!", since=since)]
    )
    assert busy.error.kind is ErrorKind.TRANSIENT
    assert refused.error.kind is ErrorKind.PERMANENT and refused.error.code == "20003"


# --- ambiguous errors in a sendout, end to end in process ----------------------------------


@pytest.fixture
def sendout(org, user, town_group, twilio_settings, settings):
    settings.SMS_SEND_TIMEOUT = (2.0, 0.3)  # an answer later than 0.3 s is a read timeout
    settings.SMS_RECONCILE_GRACE = 0.5
    SmsSettingsFactory(organisation=org, operator_number=FROM_NUMBER, quota=100)
    sendable_contacts(org, 4)
    return create_sendout(target_group=town_group, created_by=user)


def expire_leases() -> None:
    OutboundMessage.objects.filter(status=MessageStatus.SENDING).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )


def test_a_read_timeout_and_a_reset_after_sending_are_found_in_twilios_list(
    org, sendout, twilio_standin, send_to_the_end
):
    twilio_standin.script(number(0), latency=1.0, times=1)  # taken; answered too late
    twilio_standin.script(number(1), drop=True, times=1)  # taken; hung up on
    send_to_the_end(sendout)
    got = {m.to: m for m in OutboundMessage.objects.filter(sendout=sendout)}
    sids = {m.to: m.sid for m in twilio_standin.received}
    for to in (number(0), number(1)):
        assert (got[to].status, got[to].recovery, got[to].provider_id) == (
            MessageStatus.SENT,
            "recovered",
            sids[to],
        )
    assert twilio_standin.count_by_to() == {number(i): 1 for i in range(4)}
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert_books_balance(org, sendout, topped_up=100)


def test_not_listed_within_the_grace_period_waits_then_is_found(
    org, sendout, twilio_standin, send_to_the_end, settings
):
    """Twilio lists a message a moment after taking it: not found at first is not
    proof; the message stays open until the grace period is over."""
    settings.SMS_RECONCILE_GRACE = 60
    twilio_standin.listing_delay = 3600
    twilio_standin.script(number(2), drop=True, times=1)
    send_to_the_end(sendout)
    message = OutboundMessage.objects.get(sendout=sendout, to=number(2))
    assert (message.status, message.recovery) == (MessageStatus.SENDING, "")
    twilio_standin.listing_delay = 0
    expire_leases()
    send_to_the_end(sendout)
    message.refresh_from_db()
    assert (message.status, message.recovery) == (MessageStatus.SENT, "recovered")
    assert twilio_standin.count_by_to()[number(2)] == 1


def test_twilio_unreachable_for_lookups_leaves_unknown_only_after_giving_up(
    org, sendout, twilio_standin, send_to_the_end, settings
):
    twilio_standin.script(number(3), drop=True, times=1)
    twilio_standin.list_faults.extend([503] * 10)
    send_to_the_end(sendout)
    message = OutboundMessage.objects.get(sendout=sendout, to=number(3))
    assert message.status == MessageStatus.SENDING  # asked again later, not given up
    settings.SMS_RECONCILE_GIVE_UP = 0
    expire_leases()
    send_to_the_end(sendout)
    message.refresh_from_db()
    assert (message.status, message.reason, message.recovery) == (
        MessageStatus.UNKNOWN,
        "not_reconciled",
        "unresolved",
    )
    assert twilio_standin.count_by_to()[number(3)] == 1
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert_books_balance(org, sendout, topped_up=100)

"""The send path, in process, through the locmem backend: dispatch, claim, send,
record, finish, sweep. The real worker, broker and Twilio wire format are in
test_integration_sending.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Contact
from sms.backends import ErrorKind, SendError, locmem
from sms.models import OutboundMessage
from sms.sendouts.create import sendout_create
from sms.sendouts.lifecycle import sendout_cancel, sweep_stuck_messages
from sms.sendouts.send import sendout_dispatch, sendout_send_chunk
from sms.statuses import MessageReason, MessageStatus, SendoutStatus
from tests.sms.sending_helpers import (
    BODY,
    OPERATOR_NUMBER,
    assert_books_balance,
    enable_sms,
    make_contacts,
    make_group,
    make_unsendable_contacts,
    number,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def locmem_backend(settings, sms_outbox):
    settings.SMS_BACKEND = "locmem"
    settings.SMS_CHUNK_SIZE = 3
    return sms_outbox


def create(org, user):
    sendout, created = sendout_create(
        target_group=make_group(org),
        created_by=user,
        sender="operator",
        phone_field="mobile_phone",
        body=BODY,
    )
    assert created
    return sendout


def run_to_the_end(sendout_id: int, *, rounds: int = 10) -> None:
    """What the worker does, in process: dispatch, then chunks and their retries."""
    work = sendout_dispatch(sendout_id=sendout_id)
    for _ in range(rounds):
        retries: dict[int, float] = {}
        for chunk in work:
            retries |= sendout_send_chunk(sendout_id=sendout_id, message_ids=chunk)
        if not retries:
            return
        work = [list(retries)]
    raise AssertionError("still retrying")


def test_every_sendable_recipient_is_texted_once(org, user, locmem_backend):
    enable_sms(org, quota=100)
    contacts = make_contacts(org, 7)
    make_unsendable_contacts(org)
    sendout = create(org, user)
    run_to_the_end(sendout.pk)
    assert sorted(m.to for m in locmem_backend) == sorted(number(i) for i in range(7))
    by_to = {m.to: m for m in locmem_backend}
    for contact in contacts:
        assert by_to[contact.mobile_phone].body == f"Hei {contact.first_name}, tervetuloa!"
        assert by_to[contact.mobile_phone].sender == OPERATOR_NUMBER
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert sendout.counts["sent"] == 7
    assert sendout.counts["skipped"] == 5
    assert_books_balance(org, sendout, topped_up=100)


def test_callback_url_names_the_message(org, user, settings, locmem_backend):
    settings.SMS_STATUS_CALLBACK_BASE_URL = "https://crm.example.com/"
    enable_sms(org, quota=10)
    make_contacts(org, 2)
    sendout = create(org, user)
    run_to_the_end(sendout.pk)
    ids = {m.to: m.pk for m in OutboundMessage.objects.filter(sendout=sendout)}
    for message in locmem_backend:
        assert message.status_callback == (
            f"https://crm.example.com/sms/webhooks/twilio/status/?message={ids[message.to]}"
        )


def test_provider_errors_fail_retry_or_stay_unknown(org, user, settings, locmem_backend):
    settings.SMS_MAX_ATTEMPTS = 3
    enable_sms(org, quota=100)
    make_contacts(org, 5)
    locmem.failures[number(0)] = SendError(kind=ErrorKind.PERMANENT, code="21211")
    locmem.failures[number(1)] = [SendError(kind=ErrorKind.TRANSIENT, http_status=429)] * 2
    locmem.failures[number(2)] = SendError(kind=ErrorKind.TRANSIENT, http_status=503)
    locmem.failures[number(3)] = SendError(kind=ErrorKind.AMBIGUOUS, code="read_timeout")
    sendout = create(org, user)
    run_to_the_end(sendout.pk)
    got = {
        m.to: (m.status, m.reason, m.error_code, m.attempts)
        for m in OutboundMessage.objects.filter(sendout=sendout)
    }
    assert got[number(0)] == (MessageStatus.FAILED, MessageReason.PROVIDER_REJECTED, "21211", 1)
    assert got[number(1)][0::3] == (MessageStatus.SENT, 3)
    assert got[number(2)] == (MessageStatus.FAILED, MessageReason.OUT_OF_RETRIES, "503", 3)
    assert got[number(3)][:3] == (
        MessageStatus.UNKNOWN,
        MessageReason.AMBIGUOUS_ERROR,
        "read_timeout",
    )
    assert got[number(4)][0] == MessageStatus.SENT
    assert sorted(m.to for m in locmem_backend) == [number(1), number(4)]
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert sendout.messages_refunded == 2
    assert_books_balance(org, sendout, topped_up=100)


def test_contact_who_opts_out_before_sending_is_skipped_and_refunded(org, user, locmem_backend):
    enable_sms(org, quota=100)
    contacts = make_contacts(org, 3)
    sendout = create(org, user)
    Contact.objects.filter(pk=contacts[1].pk).update(sms_opt_out=True)
    run_to_the_end(sendout.pk)
    assert sorted(m.to for m in locmem_backend) == [number(0), number(2)]
    skipped = OutboundMessage.objects.get(sendout=sendout, contact=contacts[1])
    assert (skipped.status, skipped.reason, skipped.messages) == (
        MessageStatus.SKIPPED,
        "opted_out",
        0,
    )
    sendout.refresh_from_db()
    assert sendout.messages_refunded == 1
    assert_books_balance(org, sendout, topped_up=100)


def test_a_retry_after_cancel_sends_nothing_and_refunds(org, user, locmem_backend):
    enable_sms(org, quota=100)
    make_contacts(org, 2)
    locmem.failures[number(0)] = [SendError(kind=ErrorKind.TRANSIENT, http_status=429)]
    sendout = create(org, user)
    chunks = sendout_dispatch(sendout_id=sendout.pk)
    retries = sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunks[0])
    assert list(retries) == [OutboundMessage.objects.get(sendout=sendout, to=number(0)).pk]
    sendout_cancel(sendout=sendout)
    sendout_send_chunk(sendout_id=sendout.pk, message_ids=list(retries))
    assert [m.to for m in locmem_backend] == [number(1)]
    message = OutboundMessage.objects.get(sendout=sendout, to=number(0))
    assert message.status in (MessageStatus.CANCELLED,)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.CANCELLED
    assert_books_balance(org, sendout, topped_up=100)


def test_sweep_with_zero_timeout_marks_sending_unknown_and_finds_lost_work(org, user):
    enable_sms(org, quota=100)
    make_contacts(org, 3)
    sendout = create(org, user)
    sendout_dispatch(sendout_id=sendout.pk)
    stuck = OutboundMessage.objects.filter(sendout=sendout).order_by("id").first()
    OutboundMessage.objects.filter(pk=stuck.pk).update(status=MessageStatus.SENDING)
    lost = sweep_stuck_messages(older_than=timedelta(0))
    assert lost == [sendout.pk]
    stuck.refresh_from_db()
    assert (stuck.status, stuck.reason) == (MessageStatus.UNKNOWN, MessageReason.LOST_IN_SENDING)


def test_sweep_leaves_recent_work_alone(org, user):
    enable_sms(org, quota=100)
    make_contacts(org, 3)
    sendout = create(org, user)
    OutboundMessage.objects.filter(sendout=sendout).update(
        status=MessageStatus.SENDING, updated_at=timezone.now()
    )
    assert sweep_stuck_messages() == []
    assert not OutboundMessage.objects.filter(status=MessageStatus.UNKNOWN).exists()


def test_the_organisations_messaging_service_goes_with_each_message(org, user, locmem_backend):
    sms_settings = enable_sms(org, quota=10)
    sms_settings.operator_number = ""
    sms_settings.messaging_service_sid = "MG" + "c" * 32
    sms_settings.save()
    make_contacts(org, 2)
    sendout = create(org, user)
    run_to_the_end(sendout.pk)
    assert [(m.sender, m.messaging_service_sid) for m in locmem_backend] == [
        (None, "MG" + "c" * 32)
    ] * 2

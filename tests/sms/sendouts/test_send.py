"""``sms/sendouts/send.py``, in process: dispatch, claim, send, record and finish,
through the locmem backend. The real worker, broker and Twilio wire format are in
tests/sms/test_integration_sending.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Contact
from sms.backends import ErrorKind, SendError, locmem
from sms.models import OutboundMessage, Sendout, SuppressionSource
from sms.selectors import quota_balance
from sms.sendouts.lifecycle import sendout_run_sweep
from sms.sendouts.send import sendout_run_chunk, sendout_run_dispatch, sendout_send_chunk
from sms.statuses import MessageReason, MessageStatus, SendoutStatus
from sms.suppression import number_suppress
from tests.factories import (
    OPERATOR_NUMBER,
    OrganisationFactory,
    SmsSettingsFactory,
    create_sendout,
    number,
    sendable_contacts,
    unsendable_contacts,
)
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db

GREETING = "Hei {{contact.first_name}}!"


@pytest.fixture(autouse=True)
def locmem_backend(settings, sms_outbox):
    settings.SMS_CHUNK_SIZE = 3
    return sms_outbox


@pytest.fixture
def sendout(org, user, group) -> Sendout:
    """GREETING to the five members of ``group`` with a quota of 20: three messages
    pending, one billed message each, and two skipped."""
    SmsSettingsFactory(organisation=org, quota=20)
    return create_sendout(target_group=group, created_by=user, body=GREETING)


def test_every_sendable_recipient_is_texted_once(
    org, user, town_group, send_to_the_end, locmem_backend
):
    SmsSettingsFactory(organisation=org, quota=100)
    contacts = sendable_contacts(org, 7)
    unsendable_contacts(org)
    sendout = create_sendout(target_group=town_group, created_by=user)
    send_to_the_end(sendout)
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


def test_callback_url_names_the_message(
    org, user, town_group, send_to_the_end, settings, locmem_backend
):
    settings.SMS_STATUS_CALLBACK_BASE_URL = "https://crm.example.com/"
    SmsSettingsFactory(organisation=org, quota=10)
    sendable_contacts(org, 2)
    sendout = create_sendout(target_group=town_group, created_by=user)
    send_to_the_end(sendout)
    ids = {m.to: m.pk for m in OutboundMessage.objects.filter(sendout=sendout)}
    for message in locmem_backend:
        assert message.status_callback == (
            f"https://crm.example.com/sms/webhooks/twilio/status/?message={ids[message.to]}"
        )


def test_provider_errors_fail_retry_or_are_reconciled(
    org, user, town_group, send_to_the_end, settings, locmem_backend
):
    settings.SMS_MAX_ATTEMPTS = 3
    settings.SMS_RECONCILE_GRACE = 0
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 5)
    locmem.failures[number(0)] = SendError(kind=ErrorKind.PERMANENT, code="21211")
    locmem.failures[number(1)] = [SendError(kind=ErrorKind.TRANSIENT, http_status=429)] * 2
    locmem.failures[number(2)] = SendError(kind=ErrorKind.TRANSIENT, http_status=503)
    # A read timeout on a request the provider never took: not in its list, so sent again.
    locmem.failures[number(3)] = [SendError(kind=ErrorKind.AMBIGUOUS, code="read_timeout")]
    sendout = create_sendout(target_group=town_group, created_by=user)
    send_to_the_end(sendout)
    got = {
        m.to: (m.status, m.reason, m.error_code, m.attempts)
        for m in OutboundMessage.objects.filter(sendout=sendout)
    }
    assert got[number(0)] == (MessageStatus.FAILED, MessageReason.PROVIDER_REJECTED, "21211", 1)
    assert got[number(1)][0::3] == (MessageStatus.SENT, 3)
    assert got[number(2)] == (MessageStatus.FAILED, MessageReason.OUT_OF_RETRIES, "503", 3)
    assert got[number(3)] == (MessageStatus.SENT, "", "", 2)
    assert OutboundMessage.objects.get(sendout=sendout, to=number(3)).recovery == "resent"
    assert got[number(4)][0] == MessageStatus.SENT
    assert sorted(m.to for m in locmem_backend) == [number(1), number(3), number(4)]
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert sendout.messages_refunded == 2
    assert_books_balance(org, sendout, topped_up=100)


def test_contact_who_opts_out_before_sending_is_skipped_and_refunded(
    org, user, town_group, send_to_the_end, locmem_backend
):
    SmsSettingsFactory(organisation=org, quota=100)
    contacts = sendable_contacts(org, 3)
    sendout = create_sendout(target_group=town_group, created_by=user)
    Contact.objects.filter(pk=contacts[1].pk).update(sms_opt_out=True)
    send_to_the_end(sendout)
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


def test_a_number_suppressed_before_sending_is_skipped_and_refunded(
    org, user, town_group, send_to_the_end, locmem_backend
):
    """A STOP (or the carrier's 21610) that arrives while a sendout waits puts the
    number on the suppression list: its pending message is never sent."""
    SmsSettingsFactory(organisation=org, quota=100)
    contacts = sendable_contacts(org, 3)
    sendout = create_sendout(target_group=town_group, created_by=user)
    number_suppress(organisation=org, number=number(1), source=SuppressionSource.REPLY)
    send_to_the_end(sendout)
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


def test_another_organisations_suppression_does_not_skip(
    org, user, town_group, send_to_the_end, locmem_backend
):
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 2)
    sendout = create_sendout(target_group=town_group, created_by=user)
    other = OrganisationFactory()
    number_suppress(organisation=other, number=number(1), source=SuppressionSource.REPLY)
    send_to_the_end(sendout)
    assert sorted(m.to for m in locmem_backend) == [number(0), number(1)]


def test_the_organisations_messaging_service_goes_with_each_message(
    org, user, town_group, send_to_the_end, locmem_backend
):
    sms_settings = SmsSettingsFactory(organisation=org, quota=10)
    sms_settings.operator_number = ""
    sms_settings.messaging_service_sid = "MG" + "c" * 32
    sms_settings.save()
    sendable_contacts(org, 2)
    sendout = create_sendout(target_group=town_group, created_by=user)
    send_to_the_end(sendout)
    assert [(m.sender, m.messaging_service_sid) for m in locmem_backend] == [
        (None, "MG" + "c" * 32)
    ] * 2


def test_send_texts_every_sendable_recipient_once(
    org, sendout, sms_outbox, settings, send_to_the_end
):
    settings.SMS_CHUNK_SIZE = 2  # two chunks
    assert send_to_the_end(sendout, rounds=1) == {}
    assert sorted((m.to, m.body) for m in sms_outbox) == [
        ("+358401000001", "Hei Maija!"),
        ("+358401000002", "Hei Juha!"),
        ("+358401000003", "Hei " + "L" * 100 + "!"),
    ]
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED and sendout.finished_at is not None
    assert sendout.messages_charged == 3
    statuses = dict(
        OutboundMessage.objects.filter(sendout=sendout).values_list("to", "status").exclude(to="")
    )
    assert set(statuses.values()) == {MessageStatus.SENT}
    assert all(
        OutboundMessage.objects.filter(sendout=sendout, status="sent").values_list(
            "provider_id", flat=True
        )
    )
    # Running the chunks again sends nothing more.
    assert send_to_the_end(sendout, rounds=1) == {}
    assert len(sms_outbox) == 3
    assert_books_balance(org, sendout, topped_up=20)


def test_permanent_failure_fails_and_refunds(org, sendout, sms_outbox, settings, send_to_the_end):
    locmem.failures["+358401000002"] = SendError(kind=ErrorKind.PERMANENT, code="21211")
    send_to_the_end(sendout, rounds=1)
    failed = OutboundMessage.objects.get(sendout=sendout, to="+358401000002")
    assert (failed.status, failed.error_code, failed.reason) == (
        "failed",
        "21211",
        "provider_rejected",
    )
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert (sendout.messages_reserved, sendout.messages_refunded, sendout.messages_charged) == (
        3,
        1,
        2,
    )
    assert quota_balance(organisation=org) == 18
    assert len(sms_outbox) == 2
    assert_books_balance(org, sendout, topped_up=20)


def test_transient_failure_goes_back_to_pending_with_a_delay(
    org, sendout, sms_outbox, settings, send_to_the_end
):
    settings.SMS_MAX_ATTEMPTS = 3
    locmem.failures["+358401000001"] = [SendError(kind=ErrorKind.TRANSIENT, http_status=429)]
    retries = send_to_the_end(sendout, rounds=1)
    retrying = OutboundMessage.objects.get(sendout=sendout, to="+358401000001")
    assert list(retries) == [retrying.pk]
    assert retries[retrying.pk] > 0
    assert (retrying.status, retrying.reason, retrying.attempts) == ("pending", "retrying", 1)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.SENDING  # not complete while one is open
    # The retry succeeds (the scripted failure is used up).
    assert sendout_send_chunk(sendout_id=sendout.pk, message_ids=list(retries)) == {}
    retrying.refresh_from_db()
    assert (retrying.status, retrying.attempts) == ("sent", 2)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED and sendout.messages_charged == 3
    assert [m.to for m in sms_outbox].count("+358401000001") == 1
    assert_books_balance(org, sendout, topped_up=20)


def test_transient_failure_out_of_attempts_fails_and_refunds(
    org, sendout, sms_outbox, settings, send_to_the_end
):
    settings.SMS_MAX_ATTEMPTS = 2
    locmem.failures["+358401000001"] = SendError(kind=ErrorKind.TRANSIENT, http_status=503)
    retries = send_to_the_end(sendout, rounds=1)
    sendout_send_chunk(sendout_id=sendout.pk, message_ids=list(retries))
    message = OutboundMessage.objects.get(sendout=sendout, to="+358401000001")
    assert (message.status, message.reason, message.attempts) == ("failed", "out_of_retries", 2)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED and sendout.messages_charged == 2
    assert quota_balance(organisation=org) == 18
    assert_books_balance(org, sendout, topped_up=20)


def test_a_message_taken_before_the_connection_dropped_is_found_and_never_sent_again(
    org, sendout, sms_outbox, settings, send_to_the_end
):
    """Issue #16: a reset after sending used to leave the message ``unknown``;
    the provider's list shows it was taken: ``sent``, with the provider's id."""
    locmem.taken_then_lost["+358401000003"] = SendError(
        kind=ErrorKind.AMBIGUOUS, code="connection_lost"
    )
    send_to_the_end(sendout)
    message = OutboundMessage.objects.get(sendout=sendout, to="+358401000003")
    taken = [r.provider_id for r in locmem.accepted if r.message.to == "+358401000003"]
    assert (message.status, message.recovery) == ("sent", "recovered")
    assert message.provider_id == taken[0]
    assert [a.to for a in locmem.attempts].count("+358401000003") == 1
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert sendout.messages_refunded == 0  # every message left
    assert_books_balance(org, sendout, topped_up=20)


def test_a_message_not_found_waits_out_the_grace_period_before_it_is_sent_again(
    org, sendout, sms_outbox, settings, send_to_the_end
):
    settings.SMS_RECONCILE_GRACE = 3600  # the provider may still list it later
    locmem.failures["+358401000003"] = [SendError(kind=ErrorKind.AMBIGUOUS, code="read_timeout")]
    send_to_the_end(sendout)
    message = OutboundMessage.objects.get(sendout=sendout, to="+358401000003")
    assert (message.status, message.reason) == ("sending", "ambiguous_error")
    assert message.claimed_by == ""
    assert message.claimed_until > timezone.now() + timedelta(minutes=59)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.SENDING  # not finished while it is open
    settings.SMS_RECONCILE_GRACE = 0
    OutboundMessage.objects.filter(pk=message.pk).update(claimed_until=timezone.now())
    send_to_the_end(sendout)
    message.refresh_from_db()
    assert (message.status, message.recovery, message.attempts) == ("sent", "resent", 2)
    assert [m.to for m in sms_outbox].count("+358401000003") == 1
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert_books_balance(org, sendout, topped_up=20)


def test_a_message_stays_unknown_and_charged_only_when_the_provider_cannot_be_asked(
    org, sendout, sms_outbox, settings, send_to_the_end
):
    locmem.failures["+358401000003"] = SendError(kind=ErrorKind.AMBIGUOUS, code="read_timeout")
    locmem.lookup_failures["+358401000003"] = SendError(
        kind=ErrorKind.PERMANENT, code="20003", http_status=401
    )
    send_to_the_end(sendout)
    message = OutboundMessage.objects.get(sendout=sendout, to="+358401000003")
    assert (message.status, message.reason, message.recovery) == (
        "unknown",
        "not_reconciled",
        "unresolved",
    )
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert sendout.messages_charged == 3  # the unknown message (2) stays charged
    assert quota_balance(organisation=org) == 17
    # Never sent again.
    send_to_the_end(sendout, rounds=1)
    assert [a.to for a in locmem.attempts].count("+358401000003") == 1
    assert_books_balance(org, sendout, topped_up=20)


def test_dispatch_hands_each_chunk_to_the_workers(org, user, town_group, handed_to_workers):
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 7)
    sendout = create_sendout(target_group=town_group, created_by=user)
    pending = list(
        sendout.messages.filter(status=MessageStatus.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert sendout_run_dispatch(sendout_id=sendout.pk) == 3  # chunks of 3
    assert handed_to_workers == [
        ("sms.tasks.sendout_send_chunk", [sendout.pk, pending[0:3]], None),
        ("sms.tasks.sendout_send_chunk", [sendout.pk, pending[3:6]], None),
        ("sms.tasks.sendout_send_chunk", [sendout.pk, pending[6:7]], None),
    ]


def test_dispatch_pages_through_its_own_pending_messages_in_id_order(
    org, user, town_group, handed_to_workers, django_assert_max_num_queries
):
    """#21: the ids come in id order, a chunk at a time (the worker holds a
    chunk, not a million ids); another sendout's messages between them and
    this one's messages that are not pending are left out."""
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 7)
    sendout = create_sendout(target_group=town_group, created_by=user)
    other = create_sendout(target_group=town_group, created_by=user)
    ids = list(sendout.messages.filter(status=MessageStatus.PENDING).order_by("id"))
    # The other sendout's messages in between this one's, by id.
    OutboundMessage.objects.filter(sendout=other).update(sendout=sendout)
    OutboundMessage.objects.filter(pk__in=[m.pk for m in ids[1::2]]).update(sendout=other)
    mine = list(
        sendout.messages.filter(status=MessageStatus.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )
    sendout.messages.filter(pk=mine[0]).update(status=MessageStatus.CANCELLED)
    pending = mine[1:]
    assert len(pending) == 10  # 4 of its own, 7 of the other's, one cancelled
    with django_assert_max_num_queries(4 + 5) as queries:
        chunks = sendout_run_dispatch(sendout_id=sendout.pk)
    assert chunks == 4  # chunks of 3
    # One query reads every chunk's ids (not a page per chunk: at 1,000,000 each
    # page was planned as a scan of every message).
    # (On PostgreSQL a server-side cursor: DECLARE ... CURSOR FOR SELECT.)
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "sms_outboundmessage"' in q["sql"]]
    assert len(reads) == 1, reads
    assert [args[1] for _name, args, _countdown in handed_to_workers] == [
        pending[0:3],
        pending[3:6],
        pending[6:9],
        pending[9:10],
    ]


def test_a_chunks_retries_go_back_grouped_by_their_delay(org, sendout, settings, handed_to_workers):
    settings.SMS_RETRY_BACKOFF_BASE = settings.SMS_RETRY_BACKOFF_MAX = 0.001
    busy = {"+358401000001": 30, "+358401000002": 30, "+358401000003": 60}
    for to, wait in busy.items():
        locmem.failures[to] = [
            SendError(kind=ErrorKind.TRANSIENT, http_status=429, retry_after=wait)
        ]
    ids = dict(sendout.messages.filter(status=MessageStatus.PENDING).values_list("to", "id"))
    assert sendout_run_chunk(sendout_id=sendout.pk, message_ids=sorted(ids.values())) == 3
    # One task per delay; the order of ids inside a task does not matter.
    tasks = sorted(
        (name, args[0], sorted(args[1]), countdown) for name, args, countdown in handed_to_workers
    )
    first_two = sorted([ids["+358401000001"], ids["+358401000002"]])
    assert tasks == [
        ("sms.tasks.sendout_send_chunk", sendout.pk, first_two, 30),
        ("sms.tasks.sendout_send_chunk", sendout.pk, [ids["+358401000003"]], 60),
    ]


def test_the_sweep_hands_a_sendout_that_lost_its_queued_work_back(
    sendout, settings, handed_to_workers
):
    settings.SMS_LOST_WORK_SECONDS = 0  # every pending message counts as forgotten
    assert sendout_run_sweep() == 1
    assert handed_to_workers == [("sms.tasks.sendout_dispatch", [sendout.pk], None)]

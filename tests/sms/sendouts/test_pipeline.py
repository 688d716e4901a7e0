"""Sending without barriers (``sms/sendouts/send.py`` with the twilio backend
against the stand-in, in process): the window of requests in flight is refilled
while a slow answer is awaited, and never grows past the backend's concurrency."""

import threading
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Contact
from sms.backends import ErrorKind, SendError, SendResult
from sms.backends.twilio import classify_exception
from sms.models import OutboundMessage, Sendout
from sms.rules.windows import default_send_windows
from sms.schedule import sendouts_start_due
from sms.selectors import quota_balance
from sms.sendouts.record import record_results
from sms.sendouts.send import _claim, sendout_dispatch, sendout_send_chunk
from sms.statuses import MessageStatus, SendoutStatus
from tests.factories import SmsSettingsFactory, create_sendout, sendable_contacts
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db

SLOW = 6.0  # long enough that a loaded machine still shows the others not waiting


@pytest.fixture
def sendout(org, user, town_group, twilio_settings, settings):
    settings.SMS_SEND_CONCURRENCY = 4
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 30)
    return create_sendout(target_group=town_group, created_by=user)


def _pending_ids(sendout) -> list[int]:
    return list(
        sendout.messages.filter(status=MessageStatus.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )


def test_a_slow_answer_does_not_hold_back_the_rest_of_the_chunk(org, sendout, twilio_settings):
    standin = twilio_settings
    standin.latency = 0.02
    ids = _pending_ids(sendout)
    slow_to = OutboundMessage.objects.get(pk=ids[0]).to  # in the first slice claimed
    standin.script(slow_to, latency=SLOW)

    assert sendout_send_chunk(sendout_id=sendout.pk, message_ids=ids) == {}

    received = {m.to: m.created for m in standin.received}
    slow_taken = received.pop(slow_to)
    assert len(received) == 29
    # With a barrier after each slice, the other slices would leave only after the
    # slow answer (SLOW seconds after it was taken).
    assert max(received.values()) < slow_taken + SLOW - 1.0
    assert standin.max_concurrency <= 4
    assert set(sendout.messages.filter(pk__in=ids).values_list("status", flat=True)) == {
        MessageStatus.SENT
    }
    assert_books_balance(org, sendout, topped_up=100)


def test_the_window_is_kept_at_the_backends_concurrency(sendout, twilio_settings):
    standin = twilio_settings
    standin.latency = 0.05
    ids = _pending_ids(sendout)
    sendout_send_chunk(sendout_id=sendout.pk, message_ids=ids)
    assert len(standin.received) == 30
    assert standin.max_concurrency == 4


# --- what the async client raises, classified like the threaded one's ----------------


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (aiohttp.ConnectionTimeoutError("connect timed out"), "transient", "connection_failed"),
        (
            aiohttp.ClientConnectorError(
                ConnectionKey("127.0.0.1", 9, False, True, None, None, None),
                ConnectionRefusedError(111, "Connection refused"),
            ),
            "transient",
            "connection_failed",
        ),
        (aiohttp.SocketTimeoutError("read timed out"), "ambiguous", "read_timeout"),
        (TimeoutError(), "ambiguous", "read_timeout"),
        (aiohttp.ServerDisconnectedError(), "ambiguous", "connection_lost"),
        (aiohttp.ClientPayloadError("cut"), "ambiguous", "connection_lost"),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "ambiguous", "connection_lost"),
    ],
)
def test_async_transport_errors_are_classified(exc, kind, code):
    error = classify_exception(exc)
    assert (error.kind, error.code) == (ErrorKind(kind), code)


# --- a slice's claim at scale ---------------------------------------------------------


@pytest.mark.postgres
def test_a_slice_is_claimed_by_the_primary_key_in_a_big_fresh_sendout(org, user, town_group):
    """Right after the Yes the table has no statistics for the new rows; the
    claim's queries must still find a slice by its ids, not read every pending
    message of the sendout (the send ran at a fifth of the raw SDK's rate)."""
    SmsSettingsFactory(organisation=org, quota=10)
    sendable_contacts(org, 1)
    sendout = create_sendout(target_group=town_group, created_by=user)
    [first] = _pending_ids(sendout)
    columns = ", ".join(
        connection.ops.quote_name(f.column)
        for f in OutboundMessage._meta.concrete_fields
        if not f.primary_key
    )
    table = OutboundMessage._meta.db_table
    with connection.cursor() as cursor:
        # Statistics of a table of one row: the planner then expects one pending
        # message per sendout, as after a Yes that wrote a million rows before
        # autovacuum looked (the send of 1,000,000 ran at half its rate).
        cursor.execute(f"ANALYZE {table}")
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}, "
            f"generate_series(1, 30000) WHERE id = %s",
            [first],
        )
    ids = _pending_ids(sendout)[:8]
    [by_sendout] = [
        index.name
        for index in OutboundMessage._meta.indexes
        if index.fields == ["sendout", "status"]
    ]
    with CaptureQueriesContext(connection) as queries:
        claimed = _claim(sendout_id=sendout.pk, message_ids=ids, holder="worker:test")
    assert len(claimed) == 8
    finding = [q["sql"] for q in queries if f'"{table}"' in q["sql"]]
    assert len(finding) == 1  # the claim is one statement
    for sql in finding:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert f"{table}_pkey" in plan, plan
        assert by_sendout not in plan, plan


# --- the send window and the pace, honoured by the pipeline (#17) ---------------------

WEDNESDAY_NEARLY_EIGHT_PM = datetime(2026, 11, 25, 17, 59, 50, tzinfo=UTC)  # Helsinki 19:59:50
WEDNESDAY_EIGHT_PM = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
THURSDAY_NINE = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


@pytest.fixture
def set_clock(settings, tmp_path: Path):
    path = tmp_path / "clock"
    settings.SMS_CLOCK_FILE = str(path)

    def set_to(moment: datetime) -> None:
        # Atomically: a worker reading the file between a truncation and the
        # write would find it empty and take the real time.
        path.with_suffix(".new").write_text(moment.isoformat())
        path.with_suffix(".new").replace(path)

    return set_to


def test_a_message_waiting_in_the_pipeline_when_the_window_closes_never_starts(
    org, user, town_group, twilio_settings, settings, set_clock
):
    """Four slow requests fill the window (4) and a fifth waits in the backlog;
    the window closes while they are in flight. When the slow ones answer, the
    fifth would start at once: it is taken back instead, pending, and the sendout
    pauses until Thursday 9:00, where the rest goes, each number texted once."""
    standin = twilio_settings
    settings.SMS_SEND_CONCURRENCY = 4
    SmsSettingsFactory(
        organisation=org,
        quota=100,
        send_windows=default_send_windows(),
        closed_on_public_holidays=True,
    )
    contacts = sendable_contacts(org, 12)
    set_clock(WEDNESDAY_NEARLY_EIGHT_PM)
    sendout = create_sendout(target_group=town_group, created_by=user)
    ids = _pending_ids(sendout)
    standin.latency = 1.5
    closer = threading.Timer(0.5, set_clock, args=(WEDNESDAY_EIGHT_PM,))
    closer.start()
    try:
        sendout_send_chunk(sendout_id=sendout.pk, message_ids=ids)
    finally:
        closer.join()

    first_four = set(OutboundMessage.objects.filter(pk__in=ids[:4]).values_list("to", flat=True))
    assert {m.to for m in standin.received} == first_four
    sendout.refresh_from_db()
    assert (sendout.status, sendout.resume_at) == (SendoutStatus.PAUSED, THURSDAY_NINE)
    statuses = dict(sendout.messages.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == [MessageStatus.SENT] * 4 + [MessageStatus.PENDING] * 8
    assert not sendout.messages.filter(status=MessageStatus.PENDING).exclude(claimed_by="").exists()

    standin.latency = 0.0
    set_clock(THURSDAY_NINE)
    assert sendouts_start_due() == [sendout.pk]
    for chunk in sendout_dispatch(sendout_id=sendout.pk):
        sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunk)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert standin.count_by_to() == {c.mobile_phone: 1 for c in contacts}
    assert_books_balance(org, sendout, topped_up=100)


def test_the_pipeline_claims_no_more_than_the_hours_pace(
    org, user, town_group, twilio_settings, settings, set_clock
):
    """The pipeline tops up as answers come (a window and a quarter at first):
    every top-up takes its room from the hour's allowance, so 10 an hour of 30
    sends 10 and waits for 11:00 with 20 pending and none claimed."""
    standin = twilio_settings
    settings.SMS_SEND_CONCURRENCY = 4
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 30)
    set_clock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    sendout = create_sendout(target_group=town_group, created_by=user, messages_per_hour=10)
    standin.latency = 0.05

    (chunk,) = sendout_dispatch(sendout_id=sendout.pk)
    sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunk)

    assert len(standin.received) == 10
    sendout.refresh_from_db()
    assert (sendout.status, sendout.resume_at, sendout.pace_used) == (
        SendoutStatus.SENDING,
        datetime(2026, 11, 25, 11, 0, tzinfo=UTC),
        10,
    )
    assert sendout.messages.filter(status=MessageStatus.PENDING).count() == 20
    assert not sendout.messages.filter(status=MessageStatus.SENDING).exists()


# --- the claim and the record, in as few statements as they can be (#21) ----------------


def _assert_ledger(org, sendout) -> None:
    """Mid-sendout books: the ledger is a chain, and the balance is the top-up
    less what the sendout holds reserved and not refunded."""
    assert_books_balance(org)
    sendout.refresh_from_db()
    assert quota_balance(organisation=org) == (
        100 - sendout.messages_reserved + sendout.messages_refunded
    )


def test_a_claim_of_sendable_messages_is_one_statement(sendout):
    ids = _pending_ids(sendout)[:8]
    with CaptureQueriesContext(connection) as queries:
        claimed = _claim(sendout_id=sendout.pk, message_ids=ids, holder="worker:test")
    assert sorted(m.pk for m in claimed) == ids
    assert len(queries) == 1
    assert set(OutboundMessage.objects.filter(pk__in=ids).values_list("status", "claimed_by")) == {
        (MessageStatus.SENDING, "worker:test")
    }
    by_id = {m.pk: m for m in OutboundMessage.objects.filter(pk__in=ids)}
    for m in claimed:  # what the send and the record need, read by the claim itself
        stored = by_id[m.pk]
        assert (m.to, m.body, m.messages, m.attempts) == (
            stored.to,
            stored.body,
            stored.messages,
            stored.attempts,
        )


def test_a_claimed_message_is_not_claimed_again(sendout):
    ids = _pending_ids(sendout)[:8]
    first = _claim(sendout_id=sendout.pk, message_ids=ids, holder="worker:one")
    second = _claim(sendout_id=sendout.pk, message_ids=ids, holder="worker:two")
    assert len(first) == 8
    assert second == []
    assert set(OutboundMessage.objects.filter(pk__in=ids).values_list("claimed_by", flat=True)) == {
        "worker:one"
    }


def test_a_paused_sendout_claims_nothing_and_drops_nothing(org, sendout):
    Sendout.objects.filter(pk=sendout.pk).update(status=SendoutStatus.PAUSED)
    ids = _pending_ids(sendout)[:8]
    assert _claim(sendout_id=sendout.pk, message_ids=ids, holder="worker:test") == []
    assert set(OutboundMessage.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        MessageStatus.PENDING
    }
    _assert_ledger(org, sendout)


def test_a_cancelled_sendouts_slice_is_cancelled_and_refunded_at_the_claim(org, sendout):
    Sendout.objects.filter(pk=sendout.pk).update(status=SendoutStatus.CANCELLED)
    ids = _pending_ids(sendout)[:8]
    assert _claim(sendout_id=sendout.pk, message_ids=ids, holder="worker:test") == []
    assert set(OutboundMessage.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        MessageStatus.CANCELLED
    }
    sendout.refresh_from_db()
    assert sendout.messages_refunded == 8
    _assert_ledger(org, sendout)


def test_only_the_opted_out_of_a_slice_are_skipped_and_the_rest_claimed(org, sendout):
    ids = _pending_ids(sendout)[:8]
    opted_out = OutboundMessage.objects.get(pk=ids[3])
    Contact.objects.filter(pk=opted_out.contact_id).update(sms_opt_out=True)
    claimed = _claim(sendout_id=sendout.pk, message_ids=ids, holder="worker:test")
    assert sorted(m.pk for m in claimed) == ids[:3] + ids[4:]
    opted_out.refresh_from_db()
    assert (opted_out.status, opted_out.reason) == (MessageStatus.SKIPPED, "opted_out")
    sendout.refresh_from_db()
    assert sendout.messages_refunded == 1
    _assert_ledger(org, sendout)


def test_accepted_answers_are_recorded_by_one_statement_without_a_transaction(sendout):
    ids = _pending_ids(sendout)[:8]
    claimed = _claim(sendout_id=sendout.pk, message_ids=ids, holder="worker:test")
    results = [SendResult(m.pk, True, f"SM{m.pk}") for m in claimed]
    with CaptureQueriesContext(connection) as queries:
        assert record_results(sendout=sendout, claimed=claimed, results=results) == {}
    assert len(queries) == 1  # no SAVEPOINT or BEGIN around it
    assert set(OutboundMessage.objects.filter(pk__in=ids).values_list("status", "claimed_by")) == {
        (MessageStatus.SENT, "")
    }


def test_a_failure_is_recorded_with_its_refund_in_one_transaction(org, sendout):
    ids = _pending_ids(sendout)[:2]
    claimed = _claim(sendout_id=sendout.pk, message_ids=ids, holder="worker:test")
    refused = SendError(kind=ErrorKind.PERMANENT, code="21211", http_status=400)
    results = [
        SendResult(claimed[0].pk, True, "SM1"),
        SendResult(claimed[1].pk, False, error=refused),
    ]
    with CaptureQueriesContext(connection) as queries:
        record_results(sendout=sendout, claimed=claimed, results=results)
    assert queries[0]["sql"].startswith("SAVEPOINT")  # atomic, nested in the test's
    sendout.refresh_from_db()
    assert sendout.messages_refunded == 1
    _assert_ledger(org, sendout)

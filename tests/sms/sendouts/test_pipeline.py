"""Sending without barriers (``sms/sendouts/send.py`` with the twilio backend
against the stand-in, in process): the window of requests in flight is refilled
while a slow answer is awaited, and never grows past the backend's concurrency."""

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sms.backends import ErrorKind
from sms.backends.twilio import classify_exception
from sms.models import OutboundMessage
from sms.sendouts.send import _claim, sendout_send_chunk
from sms.statuses import MessageStatus
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
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}, "
            f"generate_series(1, 30000) WHERE id = %s",
            [first],
        )
    ids = _pending_ids(sendout)[:8]
    with CaptureQueriesContext(connection) as queries:
        claimed = _claim(sendout_id=sendout.pk, message_ids=ids, holder="worker:test")
    assert len(claimed) == 8
    finding = [q["sql"] for q in queries if f'"{table}"."id" IN' in q["sql"]]
    assert finding
    for sql in finding:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert f"{table}_pkey" in plan, plan

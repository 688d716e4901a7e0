"""End to end: a real Celery worker process, Redis, PostgreSQL, and the twilio
backend against the stand-in server (tests/sms/twilio_standin.py).

The test process creates the sendout (its on-commit enqueue goes to the Redis
test broker, ``CELERY_TEST_BROKER_URL``, default redis://127.0.0.1:6379/14,
flushed first); the worker subprocess shares the committed test database.
"""

import time
from collections.abc import Iterator

import pytest
from django.db.models import Count

from sms.models import OutboundMessage, Sendout
from sms.statuses import MessageReason, MessageStatus, SendoutStatus
from tests.factories import (
    OPERATOR_NUMBER,
    SmsSettingsFactory,
    create_sendout,
    number,
    sendable_contacts,
    unsendable_contacts,
)
from tests.sms.books import FINAL_STATUSES, assert_books_balance
from tests.sms.twilio_standin import TwilioStandin
from tests.worker import (
    CALLBACK_BASE,
    ROOT,
    Starter,
    broker_url_for_tests,
    standin_worker_env,
    started_workers,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin(seed=1) as running:
        yield running


@pytest.fixture
def start_worker(broker, standin, request) -> Iterator[Starter]:
    """Start a worker (``start_worker(**env)``); every one is stopped at the end."""
    log = ROOT / "var" / f"test-worker-{request.node.name}.log"
    log.unlink(missing_ok=True)
    env = standin_worker_env(
        standin,
        broker_url=broker_url_for_tests(),
        SMS_CHUNK_SIZE="10",
        SMS_MAX_ATTEMPTS="4",
    )
    with started_workers(broker, env=env, log_path=lambda n: log, concurrency=4) as start:
        yield start


def wait_until_done(sendout: Sendout, *, timeout: float = 60) -> Sendout:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sendout.refresh_from_db()
        if sendout.status == SendoutStatus.COMPLETED:
            return sendout
        time.sleep(0.1)
    raise AssertionError(f"sendout not completed in {timeout}s: {sendout.status} {sendout.counts}")


def statuses(sendout: Sendout) -> dict[str, OutboundMessage]:
    return {m.to: m for m in OutboundMessage.objects.filter(sendout=sendout).exclude(to="")}


@pytest.mark.parametrize(
    "write_inline_max", [20_000, 10], ids=["written-by-the-yes", "by-the-worker"]
)
def test_every_sendable_recipient_receives_exactly_one_text(
    settings, org, user, town_group, standin, start_worker, write_inline_max
):
    """Written by the Yes, or (a group over ``SMS_WRITE_INLINE_MAX``) by the
    worker's writing task before it sends."""
    settings.SMS_WRITE_INLINE_MAX = write_inline_max
    SmsSettingsFactory(organisation=org, quota=1000)
    contacts = sendable_contacts(org, 40)
    skipped = unsendable_contacts(org)
    start_worker()
    created = create_sendout(target_group=town_group, created_by=user)
    assert created.messages_written == (write_inline_max > 45)
    sendout = wait_until_done(created)
    assert sendout.messages_written

    expected = {c.mobile_phone: f"Hei {c.first_name}, tervetuloa!" for c in contacts}
    assert standin.count_by_to() == dict.fromkeys(expected, 1)
    by_id = {m.pk: m for m in OutboundMessage.objects.filter(sendout=sendout)}
    for received in standin.received:
        assert received.body == expected[received.to]
        assert received.from_ == OPERATOR_NUMBER
        message_id = int(received.status_callback.rsplit("=", 1)[1])
        assert received.status_callback == (
            f"{CALLBACK_BASE}/sms/webhooks/twilio/status/?message={message_id}"
        )
        message = by_id[message_id]
        assert (message.to, message.status, message.provider_id, message.attempts) == (
            received.to,
            MessageStatus.SENT,
            received.sid,
            1,
        )
    assert sendout.counts["sent"] == 40
    assert sendout.counts["skipped"] == len(skipped)
    assert sendout.finished_at is not None
    assert_books_balance(org, sendout, topped_up=1000)


def test_provider_failures_are_refunded_and_transient_ones_sent_once(
    org, user, town_group, standin, start_worker
):
    SmsSettingsFactory(organisation=org, quota=1000)
    sendable_contacts(org, 20)
    permanent = {number(0): 21211, number(1): 21610, number(2): 21614}
    for to, code in permanent.items():
        standin.script(to, status=400, code=code)
    transient = [number(3), number(4), number(5), number(6)]
    standin.script(number(3), status=429, times=2)
    standin.script(number(4), status=429, times=3, retry_after="0")
    standin.script(number(5), status=500, times=2)
    standin.script(number(6), status=503, times=1)
    always_busy = number(7)
    standin.script(always_busy, status=503)
    dropped = number(8)
    standin.script(dropped, drop=True, times=1)
    start_worker()
    sendout = wait_until_done(create_sendout(target_group=town_group, created_by=user))

    counts = standin.count_by_to()
    got = statuses(sendout)
    for to, code in permanent.items():
        assert counts.get(to, 0) == 0
        assert (got[to].status, got[to].reason, got[to].error_code) == (
            MessageStatus.FAILED,
            MessageReason.PROVIDER_REJECTED,
            str(code),
        )
    for to in transient:
        assert counts[to] == 1
        assert got[to].status == MessageStatus.SENT
    assert got[number(3)].attempts == 3
    assert got[number(4)].attempts == 4
    assert counts.get(always_busy, 0) == 0
    assert (got[always_busy].status, got[always_busy].reason, got[always_busy].attempts) == (
        MessageStatus.FAILED,
        MessageReason.OUT_OF_RETRIES,
        4,
    )
    # The stand-in took it and hung up: the sweeper found it in the Messages list.
    assert counts[dropped] == 1
    assert (got[dropped].status, got[dropped].recovery) == (MessageStatus.SENT, "recovered")
    assert got[dropped].provider_id == next(m.sid for m in standin.received if m.to == dropped)
    for i in range(9, 20):
        assert counts[number(i)] == 1
        assert got[number(i)].status == MessageStatus.SENT
    requests_by_to: dict[str, int] = {}
    for record in standin.requests:
        requests_by_to[record.form["To"]] = requests_by_to.get(record.form["To"], 0) + 1
    assert requests_by_to[dropped] == 1  # ambiguous: never retried
    assert requests_by_to[always_busy] == 4
    sendout.refresh_from_db()
    assert sendout.messages_refunded == len(permanent) + 1
    assert_books_balance(org, sendout, topped_up=1000)


def test_a_worker_killed_mid_sendout_texts_nobody_twice(
    org, user, town_group, standin, start_worker
):
    total = 3000
    SmsSettingsFactory(organisation=org, quota=total)
    sendable_contacts(org, total)
    standin.latency = 0.02
    settings = {"SMS_CHUNK_SIZE": "50", "SMS_SEND_CONCURRENCY": "8"}
    worker = start_worker(concurrency=2, **settings)
    sendout = create_sendout(target_group=town_group, created_by=user)

    deadline = time.monotonic() + 60
    while len(standin.received) < total // 5:
        assert time.monotonic() < deadline, "the worker never got going"
        time.sleep(0.02)
    worker.kill()
    taken_before_crash = len(standin.received)
    assert taken_before_crash < total, "the crash came too late to test anything"
    assert OutboundMessage.objects.filter(sendout=sendout, status=MessageStatus.PENDING).exists()

    # The next worker's sweeper (beat) reconciles what the crash left in `sending`
    # and enqueues the lost work again.
    start_worker(concurrency=2, **settings)
    sendout = wait_until_done(sendout, timeout=90)

    counts = standin.count_by_to()
    by_status = dict(
        OutboundMessage.objects.filter(sendout=sendout)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    assert set(by_status) <= set(FINAL_STATUSES), by_status
    assert sum(by_status.values()) == total
    for message in OutboundMessage.objects.filter(sendout=sendout):
        assert message.status == MessageStatus.SENT
        assert counts.get(message.to) == 1, message.to
    assert max(counts.values()) == 1
    assert len(standin.received) == sum(counts.values()) <= total
    assert_books_balance(org, sendout, topped_up=total)

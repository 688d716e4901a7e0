"""Scheduled sendouts with a real Celery worker and its beat (the dispatcher runs
every half second), Redis, PostgreSQL and the Twilio stand-in. The time the
dispatcher reads is a file (``SMS_CLOCK_FILE``) that the test moves: nothing waits
for the scheduled time itself."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sms.models import Sendout
from sms.rules.windows import default_send_windows
from sms.schedule import send_at_read, sendout_reschedule
from sms.sendouts.lifecycle import sendout_cancel
from sms.statuses import SendoutStatus
from tests.factories import SmsSettingsFactory, create_sendout, sendable_contacts
from tests.sms.books import assert_books_balance
from tests.sms.twilio_standin import TwilioStandin
from tests.worker import ROOT, broker_url_for_tests, standin_worker_env, started_workers

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

# Saturday 24 October 2026, 12:00 in Helsinki (summer time, +03:00); the clocks go
# back at 4:00 on Sunday.
SATURDAY_NOON = datetime(2026, 10, 24, 9, 0, tzinfo=UTC)
# The dispatcher runs every half second: this many runs show that it did not start.
SEVERAL_RUNS = 2.5


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin(seed=3) as running:
        yield running


@pytest.fixture
def clock(settings, tmp_path: Path):
    path = tmp_path / "clock"
    settings.SMS_CLOCK_FILE = str(path)

    def set_to(moment: datetime) -> None:
        # Atomically: a worker reading the file between a truncation and the
        # write would find it empty and take the real time.
        path.with_suffix(".new").write_text(moment.isoformat())
        path.with_suffix(".new").replace(path)

    set_to(SATURDAY_NOON)
    set_to.path = path
    return set_to


@pytest.fixture
def worker(broker, standin, clock, request) -> Iterator[None]:
    log = ROOT / "var" / f"test-worker-{request.node.name}.log"
    log.unlink(missing_ok=True)
    env = standin_worker_env(
        standin,
        broker_url=broker_url_for_tests(),
        SMS_CLOCK_FILE=str(clock.path),
        SMS_SCHEDULE_INTERVAL="0.5",
    )
    with started_workers(broker, env=env, log_path=lambda n: log, concurrency=4) as start:
        start()
        yield


def status_stays(sendout: Sendout, status: str, *, seconds: float = SEVERAL_RUNS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sendout.refresh_from_db()
        assert sendout.status == status, (sendout.status, sendout.counts)
        time.sleep(0.1)


def wait_for(sendout: Sendout, status: str, *, timeout: float = 60) -> Sendout:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sendout.refresh_from_db()
        if sendout.status == status:
            return sendout
        time.sleep(0.1)
    raise AssertionError(f"sendout not {status} in {timeout}s: {sendout.status} {sendout.counts}")


def test_scheduled_sendouts_start_at_their_time_cancelled_ones_never_and_moved_ones_later(
    org, user, town_group, standin, clock, worker
):
    SmsSettingsFactory(organisation=org, quota=100)
    contacts = sendable_contacts(org, 5)
    # Sunday 9:00 after the clocks went back is 07:00 UTC (+02:00), not 06:00.
    sunday_nine = datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    on_time = create_sendout(target_group=town_group, created_by=user, send_at=sunday_nine)
    cancelled = create_sendout(target_group=town_group, created_by=user, send_at=sunday_nine)
    moved = create_sendout(target_group=town_group, created_by=user, send_at=sunday_nine)
    sendout_cancel(sendout=cancelled)
    sendout_reschedule(sendout=moved, send_at=sunday_nine + timedelta(days=1))

    status_stays(on_time, SendoutStatus.SCHEDULED)
    clock(datetime(2026, 10, 25, 6, 30, tzinfo=UTC))  # 9:30 by summer time's reckoning
    status_stays(on_time, SendoutStatus.SCHEDULED)
    assert standin.received == []

    clock(sunday_nine)
    wait_for(on_time, SendoutStatus.COMPLETED)
    assert standin.count_by_to() == {c.mobile_phone: 1 for c in contacts}
    assert on_time.started_at is not None
    status_stays(moved, SendoutStatus.SCHEDULED)
    cancelled.refresh_from_db()
    assert cancelled.status == SendoutStatus.CANCELLED

    clock(sunday_nine + timedelta(days=1))
    wait_for(moved, SendoutStatus.COMPLETED)
    assert standin.count_by_to() == {c.mobile_phone: 2 for c in contacts}
    assert_books_balance(org, on_time, cancelled, moved, topped_up=100)
    assert cancelled.messages_charged == 0
    assert Sendout.objects.get(pk=moved.pk).messages_charged == 5


def test_a_sendout_crossing_the_windows_end_pauses_and_resumes_at_the_next_opening(
    org, user, town_group, standin, clock, worker
):
    """30 messages at 10 a second under the default windows: the clock passes
    Wednesday 20:00 while they go out; the sendout pauses, nothing more leaves
    until Thursday 9:00, and then the rest goes, each number texted once."""
    SmsSettingsFactory(
        organisation=org,
        quota=100,
        messages_per_second=10,
        send_windows=default_send_windows(),
        closed_on_public_holidays=True,
    )
    contacts = sendable_contacts(org, 30)
    clock(datetime(2026, 11, 25, 17, 59, 58, tzinfo=UTC))  # Wednesday 19:59:58
    sendout = create_sendout(target_group=town_group, created_by=user)
    deadline = time.monotonic() + 30
    while len(standin.received) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    clock(datetime(2026, 11, 25, 18, 0, tzinfo=UTC))  # 20:00: the window closes
    at_close = len(standin.received)
    wait_for(sendout, SendoutStatus.PAUSED)
    paused_with = len(standin.received)
    # Only requests already under way at 20:00 (at most the window: 10) were answered after.
    assert at_close <= paused_with <= at_close + 10
    assert paused_with < 30
    assert sendout.resume_at == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    status_stays(sendout, SendoutStatus.PAUSED)
    assert len(standin.received) == paused_with  # nothing outside the window

    clock(datetime(2026, 11, 26, 7, 0, tzinfo=UTC))  # Thursday 9:00
    wait_for(sendout, SendoutStatus.COMPLETED)
    assert standin.count_by_to() == {c.mobile_phone: 1 for c in contacts}
    assert_books_balance(org, sendout, topped_up=100)


@pytest.fixture
def two_workers(broker, standin, clock, request) -> Iterator[None]:
    log = ROOT / "var" / f"test-worker-{request.node.name}.log"
    log.unlink(missing_ok=True)
    env = standin_worker_env(
        standin,
        broker_url=broker_url_for_tests(),
        SMS_CLOCK_FILE=str(clock.path),
        SMS_SCHEDULE_INTERVAL="0.5",
        SMS_CHUNK_SIZE="3",
    )
    with started_workers(broker, env=env, log_path=lambda n: log, concurrency=4) as start:
        start()
        start()
        yield


def test_pacing_keeps_the_hourly_count_with_two_workers(
    org, user, town_group, standin, clock, two_workers
):
    """30 recipients at 10 an hour, in chunks of 3 that both workers take: 10 go
    in the 10 o'clock hour, 10 at 11 and the last 10 at 12, never more."""
    SmsSettingsFactory(organisation=org, quota=100)
    contacts = sendable_contacts(org, 30)
    clock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    sendout = create_sendout(target_group=town_group, created_by=user, messages_per_hour=10)
    for hour, sent in ((10, 10), (11, 20)):
        next_hour = datetime(2026, 11, 25, hour + 1, 0, tzinfo=UTC)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # waiting for the next hour
            sendout.refresh_from_db()
            if sendout.resume_at == next_hour and len(standin.received) >= sent:
                break
            time.sleep(0.1)
        assert (sendout.status, sendout.resume_at) == (SendoutStatus.SENDING, next_hour)
        time.sleep(1.5)  # several dispatcher and sweeper runs: nothing more goes
        sendout.refresh_from_db()
        assert sendout.resume_at == next_hour
        assert len(standin.received) == sent
        clock(datetime(2026, 11, 25, hour + 1, 0, 1, tzinfo=UTC))
    wait_for(sendout, SendoutStatus.COMPLETED)
    assert standin.count_by_to() == {c.mobile_phone: 1 for c in contacts}
    assert_books_balance(org, sendout, topped_up=100)


def test_march_a_sendout_scheduled_across_clocks_going_forward_starts_at_nine_summer_time(
    org, user, town_group, standin, clock, worker
):
    """Scheduled on Saturday 27 March 2027 (+02:00) for Sunday 9:00 as the modal
    sends it (a wall time): after the clocks went forward at 3:00, 9:00 is +03:00,
    06:00 UTC; by winter time's reckoning it would have been 07:00 UTC."""
    sms_settings = SmsSettingsFactory(organisation=org, quota=100)
    contacts = sendable_contacts(org, 3)
    clock(datetime(2027, 3, 27, 10, 0, tzinfo=UTC))
    send_at = send_at_read(
        send_at=None, send_at_local="2027-03-28T09:00", sms_settings=sms_settings
    )
    sendout = create_sendout(target_group=town_group, created_by=user, send_at=send_at)
    assert sendout.send_at == datetime(2027, 3, 28, 6, 0, tzinfo=UTC)
    clock(datetime(2027, 3, 28, 5, 59, tzinfo=UTC))
    status_stays(sendout, SendoutStatus.SCHEDULED)
    clock(datetime(2027, 3, 28, 6, 0, tzinfo=UTC))
    wait_for(sendout, SendoutStatus.COMPLETED)
    assert standin.count_by_to() == {c.mobile_phone: 1 for c in contacts}

"""Pacing, in process: at most N messages per hour of the clock, taken under the
sendout's lock by every chunk (two chunks stand for two workers), a pause until
the next hour, the expected finish time, and bad input. The real two-worker run
is in tests/sms/test_schedule_worker.py."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sms.models import Sendout
from sms.pacing import expected_finish
from sms.schedule import sendouts_start_due
from sms.sendouts.send import sendout_dispatch, sendout_send_chunk
from sms.statuses import MessageStatus, SendoutStatus
from tests.factories import SmsSettingsFactory, create_sendout, sendable_contacts
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db

TEN = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
def set_clock(settings, tmp_path: Path):
    path = tmp_path / "clock"
    settings.SMS_CLOCK_FILE = str(path)

    def set_to(moment: datetime) -> None:
        path.write_text(moment.isoformat())

    set_to(TEN)
    return set_to


def test_two_chunks_together_keep_the_hourly_count(
    org, user, town_group, set_clock, sms_outbox, settings
):
    settings.SMS_CHUNK_SIZE = 7
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 25)
    sendout = create_sendout(target_group=town_group, created_by=user, messages_per_hour=10)
    chunks = sendout_dispatch(sendout_id=sendout.pk)
    assert len(chunks) == 4
    for chunk in chunks:
        sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunk)
    sendout.refresh_from_db()
    assert len(sms_outbox) == 10
    assert (sendout.status, sendout.resume_at) == (
        SendoutStatus.SENDING,
        datetime(2026, 11, 25, 11, 0, tzinfo=UTC),
    )
    assert expected_finish(sendout=sendout, pending=15) == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)

    for hour, total in ((11, 20), (12, 25)):
        set_clock(datetime(2026, 11, 25, hour, 0, 5, tzinfo=UTC))
        assert sendouts_start_due() == [sendout.pk]
        for chunk in sendout_dispatch(sendout_id=sendout.pk):
            sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunk)
        assert len(sms_outbox) == total
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert not sendout.messages.filter(status=MessageStatus.PENDING).exists()
    assert_books_balance(org, sendout, topped_up=100)


def test_the_api_takes_the_pace_and_answers_the_expected_finish(api, org, group, set_clock):
    SmsSettingsFactory(organisation=org, quota=20)
    response = api.post(
        f"/api/v1/target-groups/{group.pk}/sms/sendouts/",
        {"body": "Hei", "messages_per_hour": 2},
        format="json",
    )
    assert response.status_code == 202, response.json()
    assert response.json()["messages_per_hour"] == 2
    # 3 recipients at 2 an hour from 10:00: the last goes at 11:00.
    finish = datetime.fromisoformat(response.json()["expected_finish_at"])
    assert finish == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", [0, -5, "many", 2_000_000, [3], 1.5])
def test_a_bad_pace_answers_400_and_changes_nothing(api, org, group, set_clock, value):
    SmsSettingsFactory(organisation=org, quota=20)
    response = api.post(
        f"/api/v1/target-groups/{group.pk}/sms/sendouts/",
        {"body": "Hei", "messages_per_hour": value},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["messages_per_hour"]
    assert not Sendout.objects.exists()

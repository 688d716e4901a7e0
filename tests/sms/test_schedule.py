"""Scheduled sendouts through the API and the services, in process: ``send_at``
and ``send_at_local``, the dispatcher that queues what is due, cancel, reschedule,
opt-outs in between, and the time zone across the DST changes of
Europe/Helsinki (the last Sundays of October and March).

The time is controlled through ``SMS_CLOCK_FILE`` (``sms.clock``), never slept;
the real worker and beat are in tests/sms/test_schedule_worker.py."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sms.models import OutboundMessage, QuotaTransaction, Sendout
from sms.schedule import sendouts_start_due
from sms.selectors import quota_balance
from sms.statuses import MessageStatus, SendoutStatus
from tests.factories import SmsSettingsFactory
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db

BODY = "Hei {{contact.first_name}}!"
# A Saturday noon in Helsinki (summer time, +03:00), the day before clocks go back.
SATURDAY_OCT = datetime(2026, 10, 24, 9, 0, tzinfo=UTC)

SetClock = Callable[[datetime], None]


@pytest.fixture
def set_clock(settings, tmp_path: Path) -> SetClock:
    clock_file = tmp_path / "clock"
    settings.SMS_CLOCK_FILE = str(clock_file)

    def set_to(moment: datetime) -> None:
        clock_file.write_text(moment.isoformat())

    set_to(SATURDAY_OCT)
    return set_to


@pytest.fixture
def quota(org) -> int:
    SmsSettingsFactory(organisation=org, quota=20)
    return 20


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def post(api, group, key: str | None = None, **data):
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(
        f"/api/v1/target-groups/{group.pk}/sms/sendouts/",
        {"body": BODY, **data},
        format="json",
        headers=headers,
    )


def reschedule(api, sendout_id: int, **data):
    return api.post(f"/api/v1/sms/sendouts/{sendout_id}/reschedule/", data, format="json")


def test_send_at_schedules_with_recipients_frozen_and_quota_reserved(
    api, org, group, quota, set_clock, sms_outbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        response = post(api, group, send_at="2026-10-27T09:00:00+02:00")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["status"] == "scheduled"
    assert instant(body["send_at"]) == datetime(2026, 10, 27, 7, tzinfo=UTC)
    assert body["messages_reserved"] == 3
    assert not enqueued  # nothing handed to the workers before its time
    assert quota_balance(organisation=org) == quota - 3
    assert OutboundMessage.objects.filter(status=MessageStatus.PENDING).count() == 3
    assert sms_outbox == []


def test_the_dispatcher_starts_it_at_its_time_and_not_before(
    api, org, group, quota, set_clock, sms_outbox, send_to_the_end
):
    sendout_id = post(api, group, send_at="2026-10-27T09:00:00+02:00").json()["id"]
    assert sendouts_start_due() == []
    set_clock(datetime(2026, 10, 27, 6, 59, 59, tzinfo=UTC))
    assert sendouts_start_due() == []
    assert Sendout.objects.get(pk=sendout_id).status == SendoutStatus.SCHEDULED
    set_clock(datetime(2026, 10, 27, 7, 0, tzinfo=UTC))
    assert sendouts_start_due() == [sendout_id]
    assert sendouts_start_due() == []  # queued once
    sendout = Sendout.objects.get(pk=sendout_id)
    assert sendout.status == SendoutStatus.QUEUED
    send_to_the_end(sendout)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert len(sms_outbox) == 3
    assert_books_balance(org, sendout, topped_up=quota)


def test_a_stray_dispatch_before_its_time_sends_nothing(
    api, org, group, quota, set_clock, sms_outbox, send_to_the_end
):
    sendout = Sendout.objects.get(
        pk=post(api, group, send_at="2026-10-27T09:00+02:00").json()["id"]
    )
    from sms.sendouts.send import sendout_dispatch

    assert sendout_dispatch(sendout_id=sendout.pk) == []
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.SCHEDULED
    assert sms_outbox == []


def test_contacts_who_opt_out_before_it_starts_are_skipped_and_refunded(
    api, org, group, quota, set_clock, sms_outbox, send_to_the_end
):
    sendout_id = post(api, group, send_at="2026-10-27T09:00+02:00").json()["id"]
    maija = group.included_contacts.get(first_name="Maija")
    maija.sms_opt_out = True
    maija.save()
    set_clock(datetime(2026, 10, 27, 7, 1, tzinfo=UTC))
    sendouts_start_due()
    sendout = Sendout.objects.get(pk=sendout_id)
    send_to_the_end(sendout)
    message = OutboundMessage.objects.get(sendout=sendout, contact=maija)
    assert (message.status, message.reason) == (MessageStatus.SKIPPED, "opted_out")
    assert len(sms_outbox) == 2
    assert quota_balance(organisation=org) == quota - 2
    assert_books_balance(org, sendout, topped_up=quota)


def test_cancel_before_it_starts_refunds_everything(api, org, group, quota, set_clock, sms_outbox):
    sendout_id = post(api, group, send_at="2026-10-27T09:00+02:00").json()["id"]
    response = api.post(f"/api/v1/sms/sendouts/{sendout_id}/cancel/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    assert quota_balance(organisation=org) == quota
    set_clock(datetime(2026, 10, 28, tzinfo=UTC))
    assert sendouts_start_due() == []
    assert sms_outbox == []
    assert_books_balance(org, Sendout.objects.get(pk=sendout_id), topped_up=quota)
    assert reschedule(api, sendout_id, send_at="2026-11-01T09:00+02:00").status_code == 409


def test_reschedule_moves_it(api, org, group, quota, set_clock):
    sendout_id = post(api, group, send_at="2026-10-27T09:00+02:00").json()["id"]
    response = reschedule(api, sendout_id, send_at_local="2026-10-29T10:30")
    assert response.status_code == 200, response.json()
    assert instant(response.json()["send_at"]) == datetime(2026, 10, 29, 8, 30, tzinfo=UTC)
    set_clock(datetime(2026, 10, 27, 7, 1, tzinfo=UTC))
    assert sendouts_start_due() == []
    set_clock(datetime(2026, 10, 29, 8, 30, tzinfo=UTC))
    assert sendouts_start_due() == [sendout_id]
    # Started: it can no longer move.
    response = reschedule(api, sendout_id, send_at="2026-11-01T09:00+02:00")
    assert response.status_code == 409
    assert response.json()["code"] == "not_reschedulable"


def test_idempotency_key_makes_a_double_click_one_scheduled_sendout(
    api, org, group, quota, set_clock
):
    first = post(api, group, key="k-1", send_at="2026-10-27T09:00+02:00")
    second = post(api, group, key="k-1", send_at="2026-10-27T09:00+02:00")
    assert first.json()["id"] == second.json()["id"]
    assert Sendout.objects.count() == 1
    assert quota_balance(organisation=org) == quota - 3


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"send_at": "2026-10-27T09:00:00"}, "offset"),
        ({"send_at": "tomorrow at nine"}, "ISO 8601"),
        ({"send_at": "2026-13-45T09:00+02:00"}, "ISO 8601"),
        ({"send_at": "2026-10-24T12:00:30+03:00"}, "a minute"),  # 30 s ahead
        ({"send_at": "2026-10-23T12:00+03:00"}, "a minute"),  # in the past
        ({"send_at": "2027-01-23T12:00+02:00"}, "90 days"),
        ({"send_at": ["2026-10-27T09:00+02:00"]}, "valid string"),
        ({"send_at": "x" * 65}, "64"),
        ({"send_at_local": "2027-03-28T03:30"}, "does not exist"),
        ({"send_at_local": "soon"}, "ISO 8601"),
    ],
)
def test_a_bad_send_at_answers_400_and_changes_nothing(
    api, org, group, quota, set_clock, data, says
):
    rows = QuotaTransaction.objects.count()
    response = post(api, group, **data)
    assert response.status_code == 400, response.json()
    assert says in response.json()["send_at"][0]
    assert not Sendout.objects.exists()
    assert QuotaTransaction.objects.count() == rows
    assert quota_balance(organisation=org) == quota


def test_send_at_and_send_at_local_together_answer_400(api, org, group, quota, set_clock):
    response = post(api, group, send_at="2026-10-27T09:00+02:00", send_at_local="2026-10-27T09:00")
    assert response.status_code == 400
    assert response.json()["code"] == "send_at_twice"
    assert not Sendout.objects.exists()


def test_a_bad_reschedule_answers_400_and_keeps_the_time(api, org, group, quota, set_clock):
    sendout_id = post(api, group, send_at="2026-10-27T09:00+02:00").json()["id"]
    for data in ({}, {"send_at": "2026-10-24T12:00+03:00"}, {"send_at": "2026-10-27 09:00"}):
        response = reschedule(api, sendout_id, **data)
        assert response.status_code == 400, (data, response.json())
        assert response.json()["send_at"]
    assert Sendout.objects.get(pk=sendout_id).send_at == datetime(2026, 10, 27, 7, tzinfo=UTC)


def test_another_organisations_sendout_cannot_be_rescheduled(api, org, other_org, quota, set_clock):
    from tests.factories import SendoutFactory

    theirs = SendoutFactory(organisation=other_org, status=SendoutStatus.SCHEDULED)
    assert reschedule(api, theirs.pk, send_at="2026-10-27T09:00+02:00").status_code == 404


# --- DST: Europe/Helsinki -------------------------------------------------------------


def test_october_a_sendout_for_sunday_nine_after_clocks_go_back_starts_at_nine_winter_time(
    api, org, group, quota, set_clock
):
    """Scheduled on Saturday (summer time, +03:00) for Sunday 9:00, after the clocks
    went back at 4:00 to 3:00: 9:00 is then +02:00, 07:00 UTC, not 06:00."""
    sendout_id = post(api, group, send_at_local="2026-10-25T09:00").json()["id"]
    assert Sendout.objects.get(pk=sendout_id).send_at == datetime(2026, 10, 25, 7, tzinfo=UTC)
    set_clock(datetime(2026, 10, 25, 6, 30, tzinfo=UTC))  # 9:30 by the summer's reckoning
    assert sendouts_start_due() == []
    set_clock(datetime(2026, 10, 25, 7, 0, tzinfo=UTC))
    assert sendouts_start_due() == [sendout_id]


def test_october_the_repeated_hour_means_its_first_occurrence(api, org, group, quota, set_clock):
    response = post(api, group, send_at_local="2026-10-25T03:30")
    assert response.status_code == 202, response.json()
    assert instant(response.json()["send_at"]) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_march_a_sendout_across_clocks_going_forward(api, org, group, quota, set_clock):
    """Scheduled on Saturday 27 March 2027 (winter time, +02:00) for Sunday 9:00,
    after the clocks went forward at 3:00 to 4:00: 9:00 is +03:00, 06:00 UTC."""
    set_clock(datetime(2027, 3, 27, 10, 0, tzinfo=UTC))
    sendout_id = post(api, group, send_at_local="2027-03-28T09:00").json()["id"]
    assert Sendout.objects.get(pk=sendout_id).send_at == datetime(2027, 3, 28, 6, tzinfo=UTC)
    set_clock(datetime(2027, 3, 28, 5, 59, tzinfo=UTC))
    assert sendouts_start_due() == []
    set_clock(datetime(2027, 3, 28, 6, 0, tzinfo=UTC))
    assert sendouts_start_due() == [sendout_id]


def test_march_the_skipped_hour_is_refused_with_the_zone_named(api, org, group, quota, set_clock):
    set_clock(datetime(2027, 3, 27, 10, 0, tzinfo=UTC))
    response = post(api, group, send_at_local="2027-03-28T03:30")
    assert response.status_code == 400
    assert "Europe/Helsinki" in response.json()["send_at"][0]
    assert not Sendout.objects.exists()


def test_the_ninety_days_are_counted_in_real_time_across_a_dst_change(
    api, org, group, quota, set_clock
):
    # 90 days of 24 hours from Saturday noon +03:00 is 2027-01-22 11:00 +02:00.
    ok = post(api, group, send_at="2027-01-22T11:00+02:00")
    assert ok.status_code == 202, ok.json()
    late = post(api, group, send_at="2027-01-22T11:01+02:00")
    assert late.status_code == 400
    assert timedelta(days=90) == datetime(2027, 1, 22, 9, tzinfo=UTC) - SATURDAY_OCT

"""Send windows at work, in process: a "send now" outside the window is scheduled
for the next opening, a sendout pauses when the window closes and the dispatcher
queues it again when it opens, the administrators' override, and what the
modal's options say. The time is moved through ``SMS_CLOCK_FILE``."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from crm.models import Role
from sms.models import OutboundMessage, QuotaTransaction, Sendout
from sms.rules.windows import default_send_windows
from sms.schedule import sendouts_start_due
from sms.selectors import quota_balance
from sms.sendouts.send import sendout_dispatch, sendout_send_chunk
from sms.statuses import MessageStatus, SendoutStatus
from tests.factories import SmsSettingsFactory
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db

BODY = "Hei {{contact.first_name}}!"
WEDNESDAY_NOON = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # 12:00 in Helsinki
WEDNESDAY_EIGHT_PM = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)  # 20:00: closes
THURSDAY_NINE = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


@pytest.fixture
def set_clock(settings, tmp_path: Path):
    path = tmp_path / "clock"
    settings.SMS_CLOCK_FILE = str(path)

    def set_to(moment: datetime) -> None:
        path.write_text(moment.isoformat())

    set_to(WEDNESDAY_NOON)
    return set_to


@pytest.fixture
def windowed(org) -> int:
    """The default windows (Mon-Fri 9-20, Sat 10-16, holidays closed), 20 messages."""
    SmsSettingsFactory(
        organisation=org,
        quota=20,
        send_windows=default_send_windows(),
        closed_on_public_holidays=True,
    )
    return 20


def post(client, group, **data):
    return client.post(
        f"/api/v1/target-groups/{group.pk}/sms/sendouts/", {"body": BODY, **data}, format="json"
    )


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_send_now_inside_the_window_is_queued(api, group, windowed, set_clock):
    response = post(api, group)
    assert response.status_code == 202, response.json()
    assert (response.json()["status"], response.json()["send_at"]) == ("queued", None)


def test_send_now_after_the_window_closed_is_scheduled_for_the_next_opening(
    api, org, group, windowed, set_clock, django_capture_on_commit_callbacks
):
    set_clock(WEDNESDAY_EIGHT_PM)
    options = api.get(f"/api/v1/target-groups/{group.pk}/sms/options/").json()["send_window"]
    assert options["open_now"] is False
    assert instant(options["next_opening"]) == THURSDAY_NINE
    assert options["time_zone"] == "Europe/Helsinki"
    with django_capture_on_commit_callbacks(execute=True) as enqueued:
        response = post(api, group)
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "scheduled"
    assert instant(response.json()["send_at"]) == THURSDAY_NINE
    assert not enqueued
    assert quota_balance(organisation=org) == windowed - 3


def test_a_sendout_pauses_when_the_window_closes_and_resumes_when_it_opens(
    api, org, group, windowed, set_clock, sms_outbox, send_to_the_end
):
    sendout = Sendout.objects.get(pk=post(api, group).json()["id"])
    chunks = sendout_dispatch(sendout_id=sendout.pk)
    set_clock(WEDNESDAY_EIGHT_PM)
    for chunk in chunks:
        assert sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunk) == {}
    sendout.refresh_from_db()
    assert (sendout.status, sendout.resume_at) == (SendoutStatus.PAUSED, THURSDAY_NINE)
    assert sms_outbox == []  # nothing left outside the window
    assert sendout.messages.filter(status=MessageStatus.PENDING).count() == 3
    started_at = sendout.started_at

    set_clock(datetime(2026, 11, 26, 6, 59, tzinfo=UTC))
    assert sendouts_start_due() == []
    set_clock(THURSDAY_NINE)
    assert sendouts_start_due() == [sendout.pk]
    send_to_the_end(sendout)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.COMPLETED
    assert sendout.started_at == started_at  # resumed, not started again
    assert len(sms_outbox) == 3
    assert_books_balance(org, sendout, topped_up=windowed)


def test_a_paused_sendout_can_be_cancelled_with_a_full_refund(
    api, org, group, windowed, set_clock, sms_outbox
):
    sendout = Sendout.objects.get(pk=post(api, group).json()["id"])
    chunks = sendout_dispatch(sendout_id=sendout.pk)
    set_clock(WEDNESDAY_EIGHT_PM)
    sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunks[0])
    response = api.post(f"/api/v1/sms/sendouts/{sendout.pk}/cancel/")
    assert response.json()["status"] == "cancelled"
    assert quota_balance(organisation=org) == windowed
    set_clock(THURSDAY_NINE)
    assert sendouts_start_due() == []


def test_only_an_administrator_may_send_regardless_of_the_window(
    api, org, group, windowed, set_clock, make_user, sms_outbox, send_to_the_end
):
    set_clock(WEDNESDAY_EIGHT_PM)
    rows = QuotaTransaction.objects.count()
    refused = post(api, group, ignore_send_window=True)
    assert refused.status_code == 403
    assert refused.json()["code"] == "window_override_not_allowed"
    assert not Sendout.objects.exists()
    assert QuotaTransaction.objects.count() == rows

    admin = APIClient()
    admin.force_authenticate(make_user(org, role=Role.ADMIN))
    options = admin.get(f"/api/v1/target-groups/{group.pk}/sms/options/").json()
    assert options["send_window"]["may_override"] is True
    response = post(admin, group, ignore_send_window=True)
    assert response.status_code == 202, response.json()
    assert (response.json()["status"], response.json()["ignore_send_window"]) == ("queued", True)
    sendout = Sendout.objects.get(pk=response.json()["id"])
    send_to_the_end(sendout)
    assert len(sms_outbox) == 3


@pytest.mark.parametrize("value", ["maybe", [True], {"x": 1}, 2])
def test_a_bad_override_answers_400_and_changes_nothing(api, group, windowed, set_clock, value):
    response = post(api, group, ignore_send_window=value)
    assert response.status_code == 400
    assert response.json()["ignore_send_window"]
    assert not OutboundMessage.objects.exists()


def test_the_options_tell_the_quota_reserved_by_scheduled_sendouts(
    api, org, group, windowed, set_clock
):
    post(api, group, send_at="2026-11-27T10:00+02:00")
    options = api.get(f"/api/v1/target-groups/{group.pk}/sms/options/").json()
    assert options["quota_reserved_scheduled"] == 3
    assert options["quota_remaining"] == windowed - 3


def test_a_lost_send_of_a_paused_sendout_waits_pending_for_the_resume(
    api, org, group, windowed, set_clock, settings, sms_outbox
):
    """A worker died holding a message, then the window closed: reconciliation
    finds it never sent; it goes back to ``pending`` for the resume instead of
    failing (refunded, never sent) as in a finished sendout."""
    from datetime import timedelta

    from django.utils import timezone

    from sms.sendouts.lifecycle import sweep_stuck_messages

    settings.SMS_RECONCILE_GRACE = 0
    sendout = Sendout.objects.get(pk=post(api, group).json()["id"])
    sendout_dispatch(sendout_id=sendout.pk)
    stuck = sendout.messages.filter(status=MessageStatus.PENDING).first()
    OutboundMessage.objects.filter(pk=stuck.pk).update(
        status=MessageStatus.SENDING,
        claimed_by="worker:dead",
        claimed_until=timezone.now() - timedelta(seconds=1),
    )
    Sendout.objects.filter(pk=sendout.pk).update(
        status=SendoutStatus.PAUSED, resume_at=THURSDAY_NINE
    )
    sweep_stuck_messages(older_than=timedelta(0))
    stuck.refresh_from_db()
    assert (stuck.status, stuck.recovery) == (MessageStatus.PENDING, "resent")

"""The "Scheduled and running" page and the target group's SMS tab: scheduled
sendouts with their time in the organisation's zone, what they reserve, who
scheduled them, and the Cancel and Reschedule forms."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sms.models import Sendout
from sms.selectors import quota_balance
from sms.statuses import SendoutStatus
from tests.factories import SendoutFactory, SmsSettingsFactory, create_sendout

pytestmark = pytest.mark.django_db


@pytest.fixture
def scheduled(settings, tmp_path: Path, org, user, group) -> Sendout:
    settings.SMS_CLOCK_FILE = str(tmp_path / "clock")
    (tmp_path / "clock").write_text("2026-11-25T10:00:00+00:00")
    SmsSettingsFactory(organisation=org, quota=20)
    return create_sendout(
        target_group=group, created_by=user, send_at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    )


def test_the_list_shows_time_in_the_zone_reserved_and_who(browser, scheduled, user):
    page = browser.get("/sms/scheduled/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f'data-sendout="{scheduled.pk}"' in text
    assert "Europe/Helsinki" in text
    assert 'value="2026-11-27T10:00"' in text  # 08:00 UTC is 10:00 in Helsinki
    assert user.username in text
    assert "style=" not in text and "onclick" not in text


def test_the_target_groups_sms_tab_lists_it(browser, scheduled, group):
    text = browser.get(f"/target-groups/{group.pk}/sms/").content.decode()
    assert f'data-sendout="{scheduled.pk}"' in text


def test_reschedule_and_cancel_through_the_page(browser, scheduled, org):
    response = browser.post(
        f"/sms/sendouts/{scheduled.pk}/reschedule/",
        {"send_at_local": "2026-11-30T09:15", "next": "/sms/scheduled/"},
    )
    assert response.status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.send_at == datetime(2026, 11, 30, 7, 15, tzinfo=UTC)

    bad = browser.post(f"/sms/sendouts/{scheduled.pk}/reschedule/", {"send_at_local": "nope"})
    assert bad.status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.send_at == datetime(2026, 11, 30, 7, 15, tzinfo=UTC)

    response = browser.post(
        f"/sms/sendouts/{scheduled.pk}/cancel/", {"next": "https://evil.example.com/"}
    )
    assert response["Location"] == "/sms/scheduled/"
    scheduled.refresh_from_db()
    assert scheduled.status == SendoutStatus.CANCELLED
    assert quota_balance(organisation=org) == 20


def test_another_organisations_sendout_is_404(browser, other_org):
    theirs = SendoutFactory(organisation=other_org, status=SendoutStatus.SCHEDULED)
    assert browser.post(f"/sms/sendouts/{theirs.pk}/cancel/").status_code == 404
    assert browser.post(f"/sms/sendouts/{theirs.pk}/reschedule/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == SendoutStatus.SCHEDULED


def test_only_the_creator_or_an_administrator_may_change_it(scheduled, org, make_user):
    from tests.conftest import logged_in

    other = logged_in(make_user(org))
    assert other.post(f"/sms/sendouts/{scheduled.pk}/cancel/").status_code == 403
    assert (
        other.post(
            f"/sms/sendouts/{scheduled.pk}/reschedule/", {"send_at_local": "2026-11-30T09:15"}
        ).status_code
        == 403
    )
    scheduled.refresh_from_db()
    assert scheduled.status == SendoutStatus.SCHEDULED
    admin = logged_in(make_user(org, role="admin"))
    assert admin.post(f"/sms/sendouts/{scheduled.pk}/cancel/").status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.status == SendoutStatus.CANCELLED

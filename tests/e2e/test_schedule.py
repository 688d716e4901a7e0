"""Scheduling through the modal, in English and in Finnish: the confirmation's
"Send later" with a date and time in the organisation's zone, and the sendout in
the "Scheduled and running" list and on the target group's SMS tab. The time the
server reads is the clock file (``SMS_CLOCK_FILE``): Wednesday 25 November 2026,
12:00 in Helsinki."""

from pathlib import Path

import pytest

from sms.models import Sendout
from sms.statuses import SendoutStatus
from tests.e2e.test_finnish import switch_to_finnish_and_log_in
from tests.e2e.test_sms_modal import group, open_modal, sms_org  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock(settings, tmp_path: Path) -> None:
    path = tmp_path / "clock"
    path.write_text("2026-11-25T10:00:00+00:00")
    settings.SMS_CLOCK_FILE = str(path)


def schedule_in_the_modal(page, dialog, *, message: str, send_later: str, when: str) -> None:
    dialog.locator("#sms-body").fill("Hei {{contact.first_name}}")
    dialog.locator("#sms-preview .preview-numbers, #sms-preview").first.wait_for()
    dialog.locator("#sms-submit:not([disabled])").wait_for()
    dialog.locator("#sms-submit").click()
    dialog.locator("#sms-confirm").wait_for()
    assert dialog.locator("#sms-zone").inner_text() == "(Europe/Helsinki)"
    dialog.get_by_label(send_later).check()
    dialog.locator("#sms-send-at").fill(when)
    dialog.locator("#sms-confirm-yes").click()
    page.wait_for_url("**/sms/sendouts/*/")


def test_schedule_a_sendout_in_english_and_see_it_listed(
    page,
    login,
    screenshot,
    user,
    sms_org,  # noqa: F811
    group,  # noqa: F811
    clock,
):
    login(user.username)
    dialog = open_modal(page, group)
    schedule_in_the_modal(
        page, dialog, message="Hei", send_later="Send later", when="2026-11-27T10:00"
    )
    sendout = Sendout.objects.get()
    assert sendout.status == SendoutStatus.SCHEDULED
    assert sendout.send_at.isoformat() == "2026-11-27T08:00:00+00:00"
    assert "Europe/Helsinki" in page.locator("#sendout-send-at").inner_text()

    page.get_by_role("link", name="Scheduled SMS").click()
    row = page.locator(f'tr[data-sendout="{sendout.pk}"]')
    row.wait_for()
    assert "Scheduled" in row.inner_text()
    assert row.get_by_label("New date and time").input_value() == "2026-11-27T10:00"
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("scheduled-list-390")
    row.get_by_label("New date and time").fill("2026-11-30T09:30")
    row.get_by_role("button", name="Reschedule").click()
    page.get_by_text("The sendout was moved.").wait_for()
    sendout.refresh_from_db()
    assert sendout.send_at.isoformat() == "2026-11-30T07:30:00+00:00"
    page.locator(f'tr[data-sendout="{sendout.pk}"]').get_by_role("button", name="Cancel").click()
    page.get_by_text("The sendout was cancelled and its quota refunded.").wait_for()
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.CANCELLED


def test_schedule_a_sendout_in_finnish_and_see_it_listed(
    page,
    screenshot,
    user,
    sms_org,  # noqa: F811
    group,  # noqa: F811
    clock,
):
    switch_to_finnish_and_log_in(page, user.username)
    page.goto(f"/target-groups/{group.pk}/")
    page.get_by_role("button", name="Lähetä tekstiviestejä").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    schedule_in_the_modal(
        page, dialog, message="Hei", send_later="Lähetä myöhemmin", when="2026-11-27T10:00"
    )
    sendout = Sendout.objects.get()
    assert sendout.status == SendoutStatus.SCHEDULED
    page.get_by_role("link", name="Ajastetut tekstiviestit").click()
    row = page.locator(f'tr[data-sendout="{sendout.pk}"]')
    row.wait_for()
    assert "Ajastettu" in row.inner_text()
    page.goto(f"/target-groups/{group.pk}/sms/")
    assert page.locator(f'tr[data-sendout="{sendout.pk}"]').count() == 1
    assert page.get_by_role("heading", name="Ajastetut ja käynnissä olevat").is_visible()

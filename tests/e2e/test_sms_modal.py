"""The whole path as a user walks it: log in, open a target group, send SMS
messages through the modal, watch the sendout finish with a real worker."""

import re

import pytest

from crm.models import Contact
from sms.models import OutboundMessage, Sendout
from sms.quota import quota_adjust
from tests.factories import SmsSettingsFactory, people_of_oulu

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "Tämä on pitkä viesti. " * 30  # 660 characters


@pytest.fixture
def sms_org(org, user):
    SmsSettingsFactory(
        organisation=org,
        named_senders_enabled=True,
        operator_number="+358401110000",
        approved=["AcmeOy"],
        quota=1000,
    )
    return org


@pytest.fixture
def group(org, user):
    rows = [
        ("Matti", "+358 40 100 0001", False),
        ("Maija", "+358 40 100 0002", False),
        ("Juha", "+358 40 100 0003", False),
        ("Anna", "+358 40 100 0004", False),
        ("Sanna", "", False),  # no number
        ("Timo", "040 100 0006", False),  # no country code
        ("Kaisa", "+358 40 100 0007", True),  # opted out
        ("Ville", "+358 40 100 0001", False),  # Matti's number again
    ]
    return people_of_oulu(org, user, rows)


def open_modal(page, group):
    page.goto(f"/target-groups/{group.pk}/")
    page.get_by_role("button", name="Send SMS messages").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    return dialog


def up_to_the_confirmation(page, login, user, group):
    """Log in, open the modal, type a message and submit it: the confirmation shows."""
    login(user.username)
    dialog = open_modal(page, group)
    dialog.get_by_label("Message", exact=True).fill("Hei {{contact.first_name}}")
    dialog.locator("#sms-preview").filter(has_text="4 of 8").wait_for()
    dialog.get_by_role("button", name="Submit").click()
    dialog.locator("#sms-confirm").wait_for()
    return dialog


def test_send_sms_messages_end_to_end(
    page, login, screenshot, user, sms_org, group, celery_worker_process
):
    login(user.username)
    dialog = open_modal(page, group)
    quota = dialog.locator("#sms-quota")
    quota.filter(has_text="1,000").wait_for()
    assert quota.inner_text() == "Message quota: 1,000 messages left"

    dialog.get_by_label("Sender", exact=True).select_option("AcmeOy")
    dialog.get_by_label("Phone number field").select_option("mobile_phone")
    body = dialog.get_by_label("Message", exact=True)

    # Typing and pasting stop at 480 characters.
    body.click()
    page.keyboard.insert_text(LONG[:470])
    body.press("End")
    page.keyboard.type("0123456789ABCDEF")
    assert len(body.input_value()) == 480
    assert "480 / 480 characters" in dialog.locator("#sms-counter").inner_text()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    body.fill("")
    page.evaluate("text => navigator.clipboard.writeText(text)", LONG)
    body.focus()
    page.keyboard.press("Control+V")
    assert len(body.input_value()) == 480
    notice = dialog.locator("#sms-body-notice")
    assert "180 characters were left out" in notice.inner_text()
    assert "at most 480" in notice.inner_text()
    # A tag does not fit into a full message: refused with a reason, not cut.
    dialog.get_by_label("Tag", exact=True).select_option("{{contact.first_name}}")
    dialog.get_by_role("button", name="Add tag").click()
    assert "does not fit" in dialog.locator("#sms-body-error").inner_text()
    assert "{{" not in body.input_value()

    # Compose the real message with two tags.
    body.fill("Hei ")
    body.press("End")
    dialog.get_by_label("Tag", exact=True).select_option("{{contact.first_name}}")
    dialog.get_by_role("button", name="Add tag").click()
    page.keyboard.type(", tervetuloa asiakkaaksi: ")
    dialog.get_by_label("Tag", exact=True).select_option("{{account.name}}")
    dialog.get_by_role("button", name="Add tag").click()
    expected = "Hei {{contact.first_name}}, tervetuloa asiakkaaksi: {{account.name}}"
    assert body.input_value() == expected
    counter = dialog.locator("#sms-counter")
    assert counter.inner_text() == f"Template: {len(expected)} / 480 characters · 1 message"

    preview = dialog.locator("#sms-preview")
    preview.filter(has_text="4 of 8 contacts receive the message").wait_for()
    text = preview.inner_text()
    assert "4 messages to bill" in text
    assert "1 skipped: Opted out of SMS" in text
    assert "1 skipped: No phone number" in text
    assert "1 skipped: Number without country code" in text
    assert "1 skipped: Same number as another recipient" in text
    assert "Hei Matti, tervetuloa asiakkaaksi: Kaleva Oy" in text
    screenshot("sms-modal")

    dialog.get_by_role("button", name="Submit").click()
    confirm = dialog.locator("#sms-confirm")
    confirm.wait_for()
    assert confirm.locator("#sms-confirm-messages").inner_text() == "4"
    assert confirm.locator("#sms-confirm-recipients").inner_text() == "4"
    assert confirm.locator("#sms-confirm-quota").inner_text() == "1,000"
    assert confirm.locator("#sms-confirm-after").inner_text() == "996"
    screenshot("sms-confirm")
    yes = dialog.get_by_role("button", name="Yes")
    yes.dblclick()  # a double click is still one sendout

    page.wait_for_url(re.compile(r"/sms/sendouts/\d+/$"))
    bar = page.get_by_role("progressbar")
    page.wait_for_function(
        "() => document.querySelector('[role=progressbar]')"
        ".getAttribute('aria-valuenow') === '100'",
        timeout=30_000,
    )
    assert bar.get_attribute("aria-valuenow") == "100"
    page.locator("#sendout-status[data-status=completed]").wait_for()
    counts = page.locator("#sendout-counts")
    assert counts.locator("dd[data-status=sent]").inner_text() == "4"
    assert counts.locator("dd[data-status=skipped]").inner_text() == "4"
    page.locator("#recipients tbody tr").nth(7).wait_for()
    page.wait_for_timeout(600)  # let the bar's transition finish for the picture
    screenshot("sms-sendout")

    assert Sendout.objects.count() == 1
    sendout = Sendout.objects.get()
    assert sendout.sender == "AcmeOy"
    assert sendout.messages_charged == 4
    assert OutboundMessage.objects.filter(status="sent").count() == 4
    sms_org.sms_settings.refresh_from_db()
    assert sms_org.sms_settings.quota_balance == 996

    # The target group's SMS tab lists the sendout.
    page.goto(f"/target-groups/{group.pk}/sms/")
    assert page.locator("#sendout-list tbody tr").count() == 1


def test_sms_not_active_shows_an_explanation(page, login, user, org, group):
    login(user.username)
    page.goto(f"/target-groups/{group.pk}/")
    assert page.get_by_role("button", name="Send SMS messages").count() == 0
    assert "not enabled" in page.locator("#sms-unavailable").inner_text()


def test_named_senders_off_offers_only_the_operator(page, login, user, sms_org, group):
    settings = sms_org.sms_settings
    settings.named_senders_enabled = False
    settings.save()
    login(user.username)
    dialog = open_modal(page, group)
    sender = dialog.get_by_label("Sender", exact=True)
    dialog.locator("#sms-sender option").first.wait_for(state="attached")
    options = sender.locator("option").all_inner_texts()
    assert options == ["Operator number (+358 40 111 0000)"]


def test_insufficient_quota_is_refused_clearly_and_sends_nothing(
    page, login, screenshot, user, sms_org, group
):
    dialog = up_to_the_confirmation(page, login, user, group)
    # The quota runs out between the confirmation and Yes.
    quota_adjust(organisation=sms_org, amount=-998, reason="spent elsewhere")
    dialog.get_by_role("button", name="Yes").click()
    error = dialog.locator("#sms-confirm-error")
    error.filter(has_text="Not enough quota").wait_for()
    assert "needs 4 messages and 2 are left" in error.inner_text()
    # The numbers are refreshed, and the user is told what to do next.
    assert "Ask an administrator to top up the quota, or send to fewer recipients" in (
        error.inner_text()
    )
    assert dialog.locator("#sms-confirm-quota").inner_text() == "2"
    assert dialog.locator("#sms-confirm-after").inner_text() == "-2"
    assert dialog.locator("#sms-quota").inner_text() == "Message quota: 2 messages left"
    assert "2 more than the quota" in dialog.locator("#sms-summary").inner_text()
    screenshot("sms-insufficient-quota")
    assert Sendout.objects.count() == 0
    # Back in the form the preview says it too, and Submit stays off.
    dialog.get_by_role("button", name="Cancel").click()
    dialog.get_by_label("Message", exact=True).press("End")
    page.keyboard.type("!")
    dialog.locator("#sms-preview").filter(has_text="quota is not enough").wait_for()
    assert dialog.get_by_role("button", name="Submit").is_disabled()


def test_escape_closes_and_focus_returns(page, login, user, sms_org, group):
    login(user.username)
    open_modal(page, group)
    page.keyboard.press("Escape")
    page.get_by_role("dialog").wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == "sms-open"


def test_a_changed_count_sends_nothing_and_shows_the_new_numbers(
    page, login, user, org, sms_org, group
):
    dialog = up_to_the_confirmation(page, login, user, group)
    # Somebody adds a member between the confirmation and Yes.
    Contact.objects.create(
        organisation=org,
        first_name="Uusi",
        last_name="Oululainen",
        city="Oulu",
        mobile_phone="+358 40 100 0099",
    )
    dialog.get_by_role("button", name="Yes").click()
    dialog.locator("#sms-form-error").filter(has_text="recipients changed").wait_for()
    assert dialog.locator("#sms-preview").inner_text().startswith("5 of 9 contacts")
    assert Sendout.objects.count() == 0

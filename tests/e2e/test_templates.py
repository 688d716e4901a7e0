"""Message templates in the modal (#19): save the message as a template, start from
a template or from the last message sent to the group."""

import pytest

from sms.models import MessageTemplate
from tests.e2e.test_sms_modal import group, open_modal, sms_org  # noqa: F401 (fixtures)
from tests.factories import create_sendout

pytestmark = pytest.mark.django_db(transaction=True)


def test_save_a_template_and_start_from_it(page, login, user, sms_org, group):  # noqa: F811
    login(user.username)
    dialog = open_modal(page, group)
    dialog.locator("#sms-quota").filter(has_text="1,000").wait_for()
    body = dialog.get_by_label("Message", exact=True)
    dialog.get_by_label("Sender", exact=True).select_option("AcmeOy")
    body.fill("Hei {{contact.first_name}}, tervetuloa!")
    dialog.locator("#sms-preview").filter(has_text="4 of 8").wait_for()

    dialog.get_by_role("button", name="Save as template").click()
    dialog.get_by_label("Template name").fill("Tervetuloa")
    dialog.get_by_label("Template name").press("Enter")  # saves; does not submit the message
    dialog.locator("#sms-template-status").filter(has_text="Tervetuloa").wait_for()
    assert dialog.locator("#sms-confirm").is_hidden()
    saved = MessageTemplate.objects.get()
    assert (saved.name, saved.body, saved.sender, saved.created_by_id) == (
        "Tervetuloa",
        "Hei {{contact.first_name}}, tervetuloa!",
        "AcmeOy",
        user.pk,
    )

    # The same name again: refused at the name, nothing saved.
    dialog.get_by_role("button", name="Save as template").click()
    dialog.get_by_label("Template name").fill("tervetuloa")
    dialog.get_by_role("button", name="Save template").click()
    dialog.locator("#sms-template-name-error").filter(has_text="exists already").wait_for()
    assert MessageTemplate.objects.count() == 1

    # A new message, then the template brings message and sender back.
    body.fill("")
    dialog.get_by_label("Sender", exact=True).select_option("operator")
    dialog.get_by_label("Start from").select_option(label="Tervetuloa")
    assert body.input_value() == "Hei {{contact.first_name}}, tervetuloa!"
    assert dialog.get_by_label("Sender", exact=True).input_value() == "AcmeOy"
    dialog.locator("#sms-preview").filter(has_text="4 of 8").wait_for()
    assert "Hei Matti, tervetuloa!" in dialog.locator("#sms-preview").inner_text()
    assert not dialog.get_by_role("button", name="Submit").is_disabled()


def test_start_from_the_last_message_of_the_group(page, login, user, sms_org, group):  # noqa: F811
    create_sendout(target_group=group, created_by=user, body="Viime viesti {{contact.first_name}}")
    login(user.username)
    dialog = open_modal(page, group)
    start = dialog.get_by_label("Start from")
    start.locator("option[value=last]").wait_for(state="attached")
    assert "last message to this group" in start.locator("option[value=last]").inner_text()
    start.select_option("last")
    body = dialog.get_by_label("Message", exact=True)
    assert body.input_value() == "Viime viesti {{contact.first_name}}"
    dialog.locator("#sms-preview").filter(has_text="Viime viesti Matti").wait_for()

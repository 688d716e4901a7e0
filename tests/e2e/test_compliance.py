"""#18 in the browser: the modal shows the contacts skipped for having no legal
basis and counts the opt-out link; the opt-out link's page opts the number out
in Finnish and in Swedish, without login."""

import pytest

from crm.models import Contact
from sms.models import OutboundMessage, SuppressedNumber
from sms.optout import TOKEN_LENGTH
from tests.factories import SmsSettingsFactory, people_of_oulu

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def optout_in_text(settings, live_server):
    settings.SMS_OPTOUT_IN_TEXT = True  # as by default (tests/conftest.py turns it off)
    settings.SMS_SHORT_LINK_BASE_URL = live_server.url


@pytest.fixture
def group(org, user):
    SmsSettingsFactory(organisation=org, operator_number="+358401110000", quota=100)
    group = people_of_oulu(
        org,
        user,
        [
            ("Matti", "+358 40 100 0001", False),
            ("Britt", "+358 40 100 0002", False),
            ("Ei", "+358 40 100 0003", False),
        ],
    )
    Contact.objects.filter(first_name="Ei").update(legal_basis="none")
    Contact.objects.filter(first_name="Britt").update(language="sv")
    return group


def test_the_modal_shows_basis_skips_and_counts_the_opt_out(
    page, login, screenshot, user, group, live_server
):
    login(user.username)
    page.goto(f"/target-groups/{group.pk}/")
    page.get_by_role("button", name="Send SMS messages").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    dialog.locator("#sms-purpose option[value=marketing]").wait_for(state="attached")
    assert dialog.get_by_label("Purpose").input_value() == "marketing"
    dialog.get_by_label("Message", exact=True).fill("Hei {{contact.first_name}}")
    preview = dialog.locator("#sms-preview")
    preview.filter(has_text="2 of 3").wait_for()
    assert "1 skipped: No legal basis for marketing" in preview.inner_text()
    head = len("\nKiellä viestit: " + live_server.url + "/s/o/") + TOKEN_LENGTH
    counter = dialog.locator("#sms-counter")
    counter.filter(has_text="opt-out").wait_for()
    assert f"(+ {head} characters of opt-out, counted)" in counter.inner_text()
    assert "Kiellä viestit:" in preview.inner_text()
    screenshot("compliance-modal")


@pytest.mark.parametrize(
    ("name", "heading", "done"),
    [
        ("Matti", "Et saa enää tekstiviestejä", "on nyt organisaation"),
        ("Britt", "Du får inga fler sms", "står nu på spärrlistan"),
    ],
)
def test_the_opt_out_link_opts_out_in_finnish_and_swedish(
    page, screenshot, api, group, name, heading, done
):
    response = api.post(
        f"/api/v1/target-groups/{group.pk}/sms/sendouts/",
        {"body": "Hei {{contact.first_name}}"},
        format="json",
    )
    assert response.status_code == 202, response.json()
    message = OutboundMessage.objects.get(contact__first_name=name)
    link = message.body.split("Kiellä viestit: ", 1)[1]
    page.goto(link)  # not logged in
    assert page.get_by_role("heading", level=1).inner_text() == heading
    assert done in page.locator("#optout-done").inner_text()
    assert SuppressedNumber.objects.filter(number=message.to).exists()
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(f"optout-{name}")

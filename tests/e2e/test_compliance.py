"""#18 in the browser: the modal shows the contacts skipped for having no legal
basis and counts the opt-out link; the opt-out link's page opts the number out
in Finnish and in Swedish, without login."""

import pytest

from crm.models import Contact
from sms.models import OutboundMessage, SuppressedNumber
from sms.optout import TOKEN_LENGTH
from tests.e2e.test_walk import Stop
from tests.e2e.test_walk import axe_source as axe_source  # a fixture
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
    # The template gets what the opt-out leaves of the 480.
    assert f"Template: 26 / {480 - head} characters · 1 message" in counter.inner_text()
    dialog.get_by_label("Message", exact=True).fill("x" * 480)
    counter.filter(has_text=f"{480 - head} / {480 - head}").wait_for()
    assert dialog.get_by_label("Message", exact=True).input_value() == "x" * (480 - head)
    dialog.get_by_label("Message", exact=True).fill("Hei {{contact.first_name}}")
    preview.filter(has_text="2 of 3").wait_for()
    assert "Kiellä viestit:" in preview.inner_text()
    screenshot("compliance-modal")


@pytest.mark.parametrize(
    ("name", "button", "heading", "done"),
    [
        ("Matti", "Lopeta viestit", "Et saa enää tekstiviestejä", "on nyt organisaation"),
        ("Britt", "Avsluta sms", "Du får inga fler sms", "står nu på spärrlistan"),
    ],
)
def test_the_opt_out_link_opts_out_in_finnish_and_swedish(
    page, screenshot, api, group, name, button, heading, done
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
    screenshot(f"optout-ask-{name}")
    assert not SuppressedNumber.objects.exists()  # opening the link writes nothing
    page.get_by_role("button", name=button).click()
    page.get_by_role("heading", level=1, name=heading).wait_for()
    assert done in page.locator("#optout-done").inner_text()
    assert SuppressedNumber.objects.filter(number=message.to).exists()
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(f"optout-{name}")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_modal_records_a_basis_for_its_skips(
    chromium_browser, live_server, axe_source, user, group, width
):
    """The no_legal_basis skips are fixed from the modal: the user records a basis
    they can show (consent needs its date and source), stamped with who and
    "bulk"; the preview then reaches them. At 390 px and on desktop, axe-core clean."""
    viewport = {"width": width, "height": 844}
    context = chromium_browser.new_context(
        base_url=live_server.url, viewport=viewport, locale="en-GB", is_mobile=width < 600
    )
    context.set_default_timeout(10_000)
    context.add_init_script(script=axe_source)
    page = context.new_page()
    try:
        stop = Stop(page, viewport, "en")
        page.goto("/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill("pw-123-secret")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/contacts/")
        page.goto(f"/target-groups/{group.pk}/")
        page.get_by_role("button", name="Send SMS messages").click()
        dialog = page.get_by_role("dialog")
        dialog.locator("#sms-purpose option[value=marketing]").wait_for(state="attached")
        dialog.get_by_label("Message", exact=True).fill("Hei {{contact.first_name}}")
        preview = dialog.locator("#sms-preview")
        preview.filter(has_text="2 of 3").wait_for()
        dialog.get_by_role("button", name="Record their legal basis").click()
        panel = dialog.get_by_role("group", name="Record a legal basis for 1 contact")
        panel.wait_for()
        panel.get_by_label("Legal basis").select_option("consent")
        panel.get_by_role("button", name="Save the legal basis").click()
        dialog.locator("#sms-basis-consent_at-error").filter(has_text="date").wait_for()
        stop.fits(f"basis-{width}")
        stop.accessible(f"basis-{width}")
        stop.screenshot(f"compliance-basis-{width}")
        assert Contact.objects.get(first_name="Ei").legal_basis == "none"
        panel.get_by_label("Consent given on").fill("2026-05-02")
        panel.get_by_label("Consent source").fill("Verkkolomake")
        panel.get_by_role("button", name="Save the legal basis").click()
        dialog.locator("#sms-basis-done").filter(has_text="recorded for 1 contact").wait_for()
        preview.filter(has_text="3 of 3").wait_for()
        ei = Contact.objects.get(first_name="Ei")
        assert (ei.legal_basis, ei.consent_source, ei.legal_basis_changed_via) == (
            "consent",
            "Verkkolomake",
            "bulk",
        )
        assert ei.legal_basis_changed_by_id == user.pk
    finally:
        context.close()

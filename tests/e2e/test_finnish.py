"""The browser walk in Finnish: switch the language in the UI, log in, send SMS
messages through the modal and watch the sendout finish; every page in Finnish
shows no English from the list of key strings (also text drawn by JavaScript)."""

import re

import pytest

from crm.models import Account, Contact
from sms.models import OutboundMessage, Sendout
from tests.e2e.test_sms_modal import group, sms_org  # noqa: F401 (fixtures)
from tests.test_i18n import english_in

pytestmark = pytest.mark.django_db(transaction=True)

NBSP = "\u00a0"


def switch_to_finnish(page) -> None:
    """With the language switch of the login page, as a user does (keyboard-reachable)."""
    page.goto("/login/")
    assert page.locator("html").get_attribute("lang") == "en-gb"
    page.get_by_label("Language").select_option("fi")
    page.get_by_role("button", name="Change").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "fi"
    assert page.get_by_label("Kieli").input_value() == "fi"


def switch_to_finnish_and_log_in(page, username: str) -> None:
    switch_to_finnish(page)
    log_in_in_finnish(page, username)


def log_in_in_finnish(page, username: str) -> None:
    page.get_by_label("Käyttäjätunnus").fill(username)
    page.get_by_label("Salasana").fill("pw-123-secret")
    page.get_by_role("button", name="Kirjaudu sisään").click()
    page.wait_for_url("**/contacts/")
    assert page.get_by_role("heading", name="Yhteyshenkilöt").is_visible()


def test_send_sms_messages_in_finnish(
    page,
    screenshot,
    user,
    sms_org,  # noqa: F811
    group,  # noqa: F811
    celery_worker_process,
):
    switch_to_finnish_and_log_in(page, user.username)
    page.goto(f"/target-groups/{group.pk}/")
    page.get_by_role("button", name="Lähetä tekstiviestejä").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    quota = dialog.locator("#sms-quota")
    quota.filter(has_text="jäljellä").wait_for()
    # Finnish grouping: a no-break space between thousands.
    assert quota.inner_text() == f"Viestikiintiö: 1{NBSP}000 viestiä jäljellä"

    dialog.get_by_label("Lähettäjä", exact=True).select_option("AcmeOy")
    dialog.get_by_label("Puhelinnumerokenttä").select_option("mobile_phone")
    body = dialog.get_by_label("Viesti", exact=True)
    body.fill("Hei ")
    body.press("End")
    dialog.get_by_label("Tunniste", exact=True).select_option("{{contact.first_name}}")
    dialog.get_by_role("button", name="Lisää tunniste").click()
    page.keyboard.type(", tervetuloa asiakkaaksi!")
    expected = "Hei {{contact.first_name}}, tervetuloa asiakkaaksi!"
    assert body.input_value() == expected
    assert (
        dialog.locator("#sms-counter").inner_text()
        == f"Viestipohja: {len(expected)} / 480 merkkiä · 1 viesti"
    )

    preview = dialog.locator("#sms-preview")
    preview.filter(has_text="4 / 8 yhteyshenkilöstä saa viestin").wait_for()
    text = preview.inner_text()
    assert "4 laskutettavaa viestiä" in text
    assert "1 ohitettu: Kieltäytynyt tekstiviesteistä" in text
    assert "1 ohitettu: Ei puhelinnumeroa" in text
    assert "1 ohitettu: Numerosta puuttuu maatunnus" in text
    assert "1 ohitettu: Sama numero kuin toisella vastaanottajalla" in text
    assert "Kiintiö lähetyksen jälkeen: 996" in text
    assert "Hei Matti, tervetuloa asiakkaaksi!" in text
    assert "GSM-7 · 1 operaattorisegmentti" in dialog.locator("#sms-encoding").inner_text()
    assert english_in(dialog.inner_text()) == []
    screenshot("fi-sms-modal")

    dialog.get_by_role("button", name="Lähetä", exact=True).click()
    confirm = dialog.locator("#sms-confirm")
    confirm.wait_for()
    assert confirm.get_by_role("heading").inner_text() == "Lähetetäänkö nämä viestit?"
    assert confirm.locator("#sms-confirm-messages").inner_text() == "4"
    assert confirm.locator("#sms-confirm-quota").inner_text() == f"1{NBSP}000"
    assert confirm.locator("#sms-confirm-after").inner_text() == "996"
    assert dialog.get_by_role("button", name="Peruuta").count() >= 1
    screenshot("fi-sms-confirm")
    dialog.get_by_role("button", name="Kyllä").click()

    page.wait_for_url(re.compile(r"/sms/sendouts/\d+/$"))
    page.wait_for_function(
        "() => document.querySelector('[role=progressbar]')"
        ".getAttribute('aria-valuenow') === '100'",
        timeout=30_000,
    )
    status = page.locator("#sendout-status[data-status=completed]")
    status.wait_for()
    assert status.inner_text() == "Valmis"
    page.locator("#recipients tbody tr").nth(7).wait_for()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Tekstiviestilähetys ")
    assert english_in(page.locator("main").inner_text()) == []
    screenshot("fi-sms-sendout")

    sendout = Sendout.objects.get()
    assert sendout.messages_charged == 4
    assert OutboundMessage.objects.filter(status="sent").count() == 4


def test_every_page_in_finnish_has_no_english(
    page,
    user,
    sms_org,  # noqa: F811
    group,  # noqa: F811
    screenshot,
):
    switch_to_finnish(page)
    assert english_in(page.locator("body").inner_text()) == []
    log_in_in_finnish(page, user.username)
    contact = Contact.objects.filter(organisation=group.organisation).first()
    account = Account.objects.filter(organisation=group.organisation).first()
    urls = [
        "/accounts/",
        f"/accounts/{account.pk}/",
        "/contacts/",
        f"/contacts/{contact.pk}/",
        "/target-groups/",
        "/target-groups/new/",
        f"/target-groups/{group.pk}/",
        f"/target-groups/{group.pk}/members/",
        f"/target-groups/{group.pk}/sms/",
    ]
    for url in urls:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang") == "fi", url
        assert english_in(page.locator("body").inner_text()) == [], url
    # The condition builder draws its rows with JavaScript: they are Finnish too.
    page.goto(f"/target-groups/{group.pk}/")
    page.locator("#condition-rows li").first.wait_for()
    assert english_in(page.locator("#condition-builder").inner_text()) == []
    # So is the modal.
    page.get_by_role("button", name="Lähetä tekstiviestejä").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#sms-quota").filter(has_text="jäljellä").wait_for()
    assert english_in(dialog.inner_text()) == []
    screenshot("fi-conditions-modal")

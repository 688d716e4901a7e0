"""Short links in the browser (#19): the counter counts a URL as its short link,
a message with a link is sent by a real worker, the recipient's phone follows
its short link to the page, and the click shows in the sendout's report."""

import re

import pytest

from sms.links import LINK_PATH
from sms.models import Click, OutboundMessage, Sendout
from sms.rules.links import CODE_LENGTH
from tests.e2e.test_sms_modal import open_modal
from tests.factories import SmsSettingsFactory, people_of_oulu
from tests.sms.test_links import IPHONE, URL_CASES

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sms_org(org, user):
    SmsSettingsFactory(organisation=org, operator_number="+358401110000", quota=1000)
    return org


@pytest.fixture
def group(org, user):
    return people_of_oulu(
        org, user, [("Matti", "+358 40 100 0001", False), ("Maija", "+358 40 100 0002", False)]
    )


def test_the_counter_finds_the_links_the_server_finds(page, login, user, sms_org, group):
    login(user.username)
    open_modal(page, group)
    for text, urls in URL_CASES:
        assert page.evaluate("t => window.smsModal.trackedUrls(t)", text) == urls, text


def test_a_link_is_sent_short_followed_and_counted(
    page, login, screenshot, settings, live_server, user, sms_org, group, celery_worker_process
):
    settings.SMS_SHORT_LINK_BASE_URL = live_server.url
    short = len(live_server.url + LINK_PATH) + CODE_LENGTH
    # A long address of this very site, so that the phone lands on a real page.
    target = live_server.url + "/login/?next=/contacts/&campaign=" + "joulu" * 20
    body_text = "Joulutarjous: " + target + " Tervetuloa!"
    login(user.username)
    dialog = open_modal(page, group)
    dialog.locator("#sms-quota").filter(has_text="1,000").wait_for()
    body = dialog.get_by_label("Message", exact=True)
    body.fill(body_text)
    counter = dialog.locator("#sms-counter")
    shortened = len(body_text) - len(target) + short
    assert counter.inner_text().startswith(f"Template: {shortened} / 480 characters")
    tracking = dialog.get_by_label("Shorten links and count clicks")
    tracking.uncheck()
    assert counter.inner_text().startswith(f"Template: {len(body_text)} / 480 characters")
    tracking.check()
    preview = dialog.locator("#sms-preview")
    preview.filter(has_text="2 of 2 contacts receive the message").wait_for()
    assert live_server.url + LINK_PATH in preview.inner_text()
    assert "2 messages to bill" in preview.inner_text()
    dialog.get_by_role("button", name="Submit").click()
    dialog.locator("#sms-confirm").wait_for()
    dialog.get_by_role("button", name="Yes").click()
    page.wait_for_url(re.compile(r"/sms/sendouts/\d+/$"))
    page.locator("#sendout-status[data-status=completed]").wait_for(timeout=30_000)
    assert page.locator('[data-figure="clicks-unique"]').inner_text() == "0"

    # The recipient's phone: its own text, its own link, a phone's browser.
    sendout = Sendout.objects.get()
    text = OutboundMessage.objects.filter(sendout=sendout, status="sent").first().body
    link = re.search(re.escape(live_server.url + LINK_PATH) + r"\w+", text).group()
    assert len(link) == short and target not in text
    page.wait_for_timeout(1100)  # past a link scanner's second after the send
    phone = page.context.browser.new_context(user_agent=IPHONE)
    phone_page = phone.new_page()
    phone_page.goto(link)
    assert phone_page.url == target
    phone.close()
    assert Click.objects.filter(bot_reason="").count() == 1

    page.reload()
    assert page.locator('[data-figure="clicks-unique"]').inner_text() == "1"
    assert page.locator('[data-figure="clicks-total"]').inner_text() == "1"
    assert page.locator('[data-figure="click-through-rate"]').inner_text() == "50 %"
    screenshot("sms-sendout-clicks")

"""Issue #14 in the browser: the modal says how many recipients get the message in
Unicode (UCS-2), and lists fixed lines and suppressed numbers among the skips."""

import pytest

from sms.suppression import number_suppress
from tests.factories import SmsSettingsFactory, people_of_oulu

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_modal_counts_ucs2_recipients_and_shows_the_new_skips(page, login, user, org):
    SmsSettingsFactory(organisation=org, quota=100)
    group = people_of_oulu(
        org,
        user,
        [
            ("Matti", "+358 40 100 0001", False),
            ("Zoë 😀", "+358 40 100 0002", False),  # an emoji: this text is UCS-2
            ("Lanka", "+358 8 2242 000", False),  # a fixed line in Oulu
            ("Jaettu", "+358 40 100 0003", False),  # on the suppression list
        ],
    )
    number_suppress(organisation=org, number="+358401000003", source="reply")
    login(user.username)
    page.goto(f"/target-groups/{group.pk}/")
    page.get_by_role("button", name="Send SMS messages").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Message", exact=True).fill("Hei {{contact.first_name}}")
    dialog.locator("#sms-preview").filter(has_text="2 of 4").wait_for()
    encoding = dialog.locator("#sms-encoding")
    encoding.filter(has_text="Unicode (UCS-2) for 1 recipient").wait_for()
    assert encoding.inner_text() == "Unicode (UCS-2) for 1 recipient · 1 carrier segment"
    preview = dialog.locator("#sms-preview").inner_text()
    assert "1 skipped: Not a mobile number" in preview
    assert "1 skipped: Opted out of SMS" in preview
    assert "Unicode (UCS-2) for 1 of 2 recipients" in preview

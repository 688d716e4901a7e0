"""A large group's sendout before the worker has written its messages (#21,
``sms.sendouts.write``): its page says so, in English and Finnish, with the
confirmation's counts, and on a phone; once written it shows the progress."""

import pytest

from sms.sendouts.write import sendout_messages_write
from tests.e2e.test_finnish import switch_to_finnish_and_log_in
from tests.e2e.test_sms_modal import group, sms_org  # noqa: F401 (fixtures)
from tests.factories import create_sendout

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = {
    "en": ("Preparing the messages of 4 recipients…", "Pending", "done"),
    "fi": ("Valmistellaan 4 vastaanottajan viestejä…", "Odottaa", "valmis"),
}


@pytest.mark.parametrize(("language", "width"), [("en", 1280), ("fi", 390)])
def test_the_page_says_the_messages_are_being_prepared(
    settings,
    page,
    login,
    user,
    sms_org,  # noqa: F811
    group,  # noqa: F811
    language,
    width,
):
    settings.SMS_WRITE_INLINE_MAX = 2  # the group's eight members: written by the worker
    sendout = create_sendout(target_group=group, created_by=user, body="Hei {{contact.first_name}}")
    assert not sendout.messages_written
    preparing, pending, done = WORDS[language]
    page.set_viewport_size({"width": width, "height": 900})
    if language == "fi":
        switch_to_finnish_and_log_in(page, user.username)
    else:
        login(user.username)
    page.goto(f"/sms/sendouts/{sendout.pk}/")
    progress = page.locator("#sendout-progress-text")
    page.wait_for_function(
        "() => document.getElementById('sendout-progress-text').textContent.trim() !== ''"
    )
    assert progress.inner_text() == preparing
    counts = page.locator("#sendout-counts")
    assert pending in counts.inner_text()
    assert counts.locator("dd[data-status=pending]").inner_text() == "4"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    assert sendout_messages_write(sendout_id=sendout.pk)
    page.reload()
    page.locator("#recipients tbody tr").nth(7).wait_for()
    assert done in progress.inner_text()
    assert counts.locator("dd[data-status=pending]").inner_text() == "4"

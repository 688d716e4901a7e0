"""'Send a test' in the modal (#19): the message as one member gets it, texted to the
user's own number by a real worker, charged and in the ledger, never in the group's
campaign list."""

import pytest

from sms.models import OutboundMessage, QuotaTransaction, Sendout, SmsProfile
from tests.e2e.test_sms_modal import group, open_modal, sms_org  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_send_a_test_to_my_own_number(
    page,
    login,
    screenshot,
    user,
    sms_org,  # noqa: F811
    group,  # noqa: F811
    celery_worker_process,
):
    login(user.username)
    dialog = open_modal(page, group)
    dialog.locator("#sms-quota").filter(has_text="1,000").wait_for()
    dialog.get_by_label("Message", exact=True).fill("Hei {{contact.first_name}}, tervetuloa!")
    dialog.locator("#sms-preview").filter(has_text="4 of 8").wait_for()

    dialog.get_by_text("Send a test", exact=True).click()
    dialog.get_by_label("Message as this member gets it").select_option(label="Maija Oululainen")
    number = dialog.get_by_label("Your mobile number")
    # A number without its country code is refused at the field.
    number.fill("050 111 2222")
    dialog.get_by_role("button", name="Send the test").click()
    dialog.locator("#sms-test-to-error").filter(has_text="country code").wait_for()
    assert not Sendout.objects.exists()

    number.fill("+358 50 111 2222")
    dialog.get_by_role("button", name="Send the test").click()
    status = dialog.locator("#sms-test-status")
    status.filter(has_text="Test sent to your number: 1 message charged.").wait_for()
    screenshot("sms-test-send")
    test = Sendout.objects.get()
    assert test.purpose == "test"
    # The quota in the preview follows the charge.
    dialog.locator("#sms-preview").filter(has_text="Quota after sending: 995").wait_for()

    # The worker texts it to the user's number, once.
    for _ in range(60):
        message = OutboundMessage.objects.get(sendout=test)
        if message.status == "sent":
            break
        page.wait_for_timeout(500)
    assert (message.to, message.body, message.status) == (
        "+358501112222",
        "Hei Maija, tervetuloa!",
        "sent",
    )
    assert SmsProfile.objects.get(user=user).own_number == "+358501112222"
    assert QuotaTransaction.objects.filter(sendout=test, kind="reservation").count() == 1

    # Its page opens from the link; the group's SMS tab does not list it.
    with page.expect_navigation():
        status.get_by_role("link", name="Follow the test").click()
    page.locator("#sendout-status[data-status=completed]").wait_for()
    page.goto(f"/target-groups/{group.pk}/sms/")
    assert page.locator("#sendout-list").count() == 0

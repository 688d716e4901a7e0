"""The SMS pages as a marketer meets them (#15 item 11 and the empty group of item 13);
what JavaScript draws is walked in the browser by tests/e2e/test_walk.py."""

from sms.statuses import MessageStatus
from tests.factories import (
    OutboundMessageFactory,
    SendoutFactory,
    SmsSettingsFactory,
    TargetGroupFactory,
)


def test_sender_label_in_the_users_words():
    from sms.rules.senders import sender_label

    assert sender_label("operator", operator_number="+358401234567") == (
        "Operator number (+358 40 123 4567)"
    )
    assert sender_label("operator", operator_number="") == "Operator number"
    assert sender_label("AcmeOy", operator_number="+358401234567") == "AcmeOy"


def test_sender_label_in_finnish():
    from django.utils import translation

    from sms.rules.senders import sender_label

    with translation.override("fi"):
        assert sender_label("operator", operator_number="+358401234567") == (
            "Operaattorinumero (+358 40 123 4567)"
        )


def test_the_sendout_page_names_the_sender_and_marks_target_groups(browser, org, user):
    SmsSettingsFactory(organisation=org, operator_number="+358401110000")
    group = TargetGroupFactory(organisation=org, name="Oulu", created_by=user)
    sendout = SendoutFactory(organisation=org, target_group=group, sender="operator")
    html = browser.get(f"/sms/sendouts/{sendout.pk}/").content.decode()
    assert '<dd id="sendout-sender">Operator number (+358 40 111 0000)</dd>' in html
    assert "Mobile phone" in html
    assert 'href="/target-groups/" aria-current="page"' in html
    assert 'href="/contacts/" aria-current' not in html
    assert 'data-contact-url="/contacts/0/"' in html
    assert 'style="' not in html


def test_recipients_in_name_order_with_grouped_numbers_and_charges(api, org, make_user):
    from crm.models import Contact

    sendout = SendoutFactory(organisation=org)
    people = {
        name: Contact.objects.create(organisation=org, first_name=first, last_name=name)
        for first, name in [("Ville", "Ö"), ("Aino", "Aalto"), ("Kalle", "Mäki")]
    }
    OutboundMessageFactory(sendout=sendout, contact=people["Mäki"], status=MessageStatus.CANCELLED)
    OutboundMessageFactory(sendout=sendout, contact=None, status=MessageStatus.SENT, messages=2)
    OutboundMessageFactory(sendout=sendout, contact=people["Ö"], status=MessageStatus.PENDING)
    OutboundMessageFactory(
        sendout=sendout, contact=people["Aalto"], to="+358509964256", status=MessageStatus.SENT
    )
    rows = api.get(f"/api/v1/sms/sendouts/{sendout.pk}/recipients/").json()["results"]
    assert [r["contact_name"] for r in rows] == ["Aino Aalto", "Kalle Mäki", "Ville Ö", ""]
    assert rows[0]["to_display"] == "+358 50 996 4256"
    # What each row costs: a cancelled one nothing, a pending one is still only reserved.
    assert [r["messages_charged"] for r in rows] == [1, 0, None, 2]
    assert [r["messages"] for r in rows] == [1, 1, 1, 2]


def test_an_empty_group_says_0_of_0_before_a_message_is_written(browser, org, user):
    SmsSettingsFactory(organisation=org, quota=10)
    empty = TargetGroupFactory(
        organisation=org,
        name="Nobody",
        created_by=user,
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Atlantis"}],
    )
    html = browser.get(f"/target-groups/{empty.pk}/").content.decode()
    assert "0 of 0 contacts would receive a message" in html


def test_a_group_with_members_says_nothing_of_the_kind(browser, org, user, contact):
    SmsSettingsFactory(organisation=org, quota=10)
    group = TargetGroupFactory(organisation=org, name="All", created_by=user, conditions=[])
    group.included_contacts.add(contact)
    html = browser.get(f"/target-groups/{group.pk}/").content.decode()
    assert "0 of 0" not in html

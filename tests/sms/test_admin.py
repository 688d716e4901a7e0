"""The SMS admin, driven through Django's test client."""

import re

import pytest
from django import forms
from django.contrib.admin import helpers
from django.test import Client

from crm.models import Organisation
from sms.models import QuotaKind, QuotaTransaction, SenderName, SmsSettings, SuppressedNumber
from sms.quota import quota_balance, quota_top_up
from sms.statuses import MessageStatus
from sms.suppression import number_suppress
from tests.conftest import grant, logged_in
from tests.factories import OutboundMessageFactory, SendoutFactory

CHANGELIST = "/admin/crm/organisation/"


def change_url(organisation: Organisation) -> str:
    return f"/admin/crm/organisation/{organisation.pk}/change/"


def staff_client(make_user, organisation, *perms: str) -> Client:
    return logged_in(grant(make_user(organisation, is_staff=True), *perms))


def form_data(response) -> dict:
    """The data the change page would post back unchanged: its form and inlines."""
    data: dict = {}

    def add(form) -> None:
        for bound in form:
            value = bound.value()
            if isinstance(bound.field, forms.BooleanField):
                if value:
                    data[bound.html_name] = "on"
            elif value is not None:
                data[bound.html_name] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def test_activate_and_deactivate_sms(superuser_client, org):
    SmsSettings.objects.create(organisation=org)
    data = form_data(superuser_client.get(change_url(org)))
    data["sms_settings-0-sms_enabled"] = "on"
    data["sms_settings-0-named_senders_enabled"] = "on"
    data["sms_settings-0-operator_number"] = "+358401234567"
    response = superuser_client.post(change_url(org), data)
    assert response.status_code == 302, response.context["errors"]
    sms_settings = SmsSettings.objects.get(organisation=org)
    assert (sms_settings.sms_enabled, sms_settings.named_senders_enabled) == (True, True)
    assert sms_settings.operator_number == "+358401234567"

    data = form_data(superuser_client.get(change_url(org)))
    del data["sms_settings-0-sms_enabled"]
    assert superuser_client.post(change_url(org), data).status_code == 302
    assert SmsSettings.objects.get(organisation=org).sms_enabled is False


def test_settings_are_created_from_the_organisation_page(superuser_client, org):
    data = form_data(superuser_client.get(change_url(org)))
    data["sms_settings-0-sms_enabled"] = "on"
    assert superuser_client.post(change_url(org), data).status_code == 302
    assert SmsSettings.objects.get(organisation=org).sms_enabled is True


def test_a_bad_operator_number_is_refused(superuser_client, org):
    SmsSettings.objects.create(organisation=org)
    data = form_data(superuser_client.get(change_url(org)))
    data["sms_settings-0-operator_number"] = "040 123 4567"
    response = superuser_client.post(change_url(org), data)
    assert response.status_code == 200
    assert "E.164" in response.content.decode()
    assert SmsSettings.objects.get(organisation=org).operator_number == ""


def test_the_balance_cannot_be_posted(superuser_client, org):
    quota_top_up(organisation=org, amount=5)
    page = superuser_client.get(change_url(org))
    data = form_data(page)
    assert not any(name.endswith("quota_balance") for name in data)
    data["sms_settings-0-quota_balance"] = "1000000"
    data["sms_settings-0-sms_enabled"] = "on"
    assert superuser_client.post(change_url(org), data).status_code == 302
    sms_settings = SmsSettings.objects.get(organisation=org)
    assert sms_settings.sms_enabled is True  # the form was saved ...
    assert sms_settings.quota_balance == 5  # ... and the balance was not
    assert QuotaTransaction.objects.count() == 1


def test_a_sender_name_is_added(superuser_client, org):
    data = form_data(superuser_client.get(change_url(org)))
    total = int(data["sms_sender_names-TOTAL_FORMS"])
    data["sms_sender_names-TOTAL_FORMS"] = str(total + 1)
    data[f"sms_sender_names-{total}-name"] = "Acme Oy"
    data[f"sms_sender_names-{total}-approved"] = "on"
    assert superuser_client.post(change_url(org), data).status_code == 302
    assert list(SenderName.objects.values_list("organisation", "name", "approved")) == [
        (org.pk, "Acme Oy", True)
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("12345", "at least one letter"),
        ("Twelve chars", "at most 11"),
        ("Kauppa.fi", "cannot contain"),
    ],
)
def test_an_invalid_sender_name_is_refused_with_a_clear_error(superuser_client, org, name, message):
    data = form_data(superuser_client.get(change_url(org)))
    total = int(data["sms_sender_names-TOTAL_FORMS"])
    data["sms_sender_names-TOTAL_FORMS"] = str(total + 1)
    data[f"sms_sender_names-{total}-name"] = name
    response = superuser_client.post(change_url(org), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not SenderName.objects.exists()


def start_action(client: Client, action: str, *organisations: Organisation):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [o.pk for o in organisations], "index": 0},
    )


def apply_action(client: Client, action: str, *organisations: Organisation, **fields):
    return client.post(
        CHANGELIST,
        {
            "action": action,
            "_selected_action": [o.pk for o in organisations],
            "apply": "1",
            **fields,
        },
    )


def test_top_up_through_the_admin_form_writes_one_ledger_row(superuser_client, org, other_org):
    quota_top_up(organisation=org, amount=10)
    page = start_action(superuser_client, "top_up_quota", org)
    assert page.status_code == 200
    assert "Messages to add" in page.content.decode()
    assert QuotaTransaction.objects.count() == 1

    response = apply_action(superuser_client, "top_up_quota", org, amount="250", reason="Invoice 9")
    assert response.status_code == 302
    assert QuotaTransaction.objects.count() == 2
    row = QuotaTransaction.objects.first()
    assert (row.organisation, row.kind, row.amount, row.balance_after, row.reason) == (
        org,
        QuotaKind.TOP_UP,
        250,
        260,
        "Invoice 9",
    )
    assert row.created_by == superuser_client.user
    assert quota_balance(organisation=org) == 260
    assert quota_balance(organisation=other_org) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "0", "reason": "x"}, "greater than or equal to 1"),
        ({"amount": "-5", "reason": "x"}, "greater than or equal to 1"),
        ({"amount": "lots", "reason": "x"}, "Enter a whole number"),
        ({"amount": "99999999999", "reason": "x"}, "less than or equal to"),
        ({"amount": "5", "reason": ""}, "This field is required"),
    ],
)
def test_top_up_form_refuses_bad_input(superuser_client, org, fields, message):
    response = apply_action(superuser_client, "top_up_quota", org, **fields)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not QuotaTransaction.objects.exists()
    assert quota_balance(organisation=org) == 0


def test_adjustment_through_the_admin(superuser_client, org):
    quota_top_up(organisation=org, amount=10)
    response = apply_action(superuser_client, "adjust_quota", org, amount="-3", reason="Fix")
    assert response.status_code == 302
    row = QuotaTransaction.objects.first()
    assert (row.kind, row.amount, row.balance_after) == (QuotaKind.ADJUSTMENT, -3, 7)
    assert quota_balance(organisation=org) == 7


def test_adjustment_below_zero_is_refused_for_all(superuser_client, org, other_org):
    quota_top_up(organisation=org, amount=10)
    quota_top_up(organisation=other_org, amount=2)
    response = apply_action(
        superuser_client, "adjust_quota", org, other_org, amount="-5", reason="Fix"
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "Rival Oy: Not enough message quota" in content
    assert "Nothing was changed" in content
    assert quota_balance(organisation=org) == 10
    assert quota_balance(organisation=other_org) == 2
    assert QuotaTransaction.objects.count() == 2


def test_zero_adjustment_is_refused(superuser_client, org):
    response = apply_action(superuser_client, "adjust_quota", org, amount="0", reason="Fix")
    assert response.status_code == 200
    assert "must not be zero" in response.content.decode()
    assert not QuotaTransaction.objects.exists()


def test_staff_without_the_quota_permission_cannot_top_up(make_user, org):
    client = staff_client(make_user, org, "crm.view_organisation", "crm.change_organisation")
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "top_up_quota" not in page.content.decode()
    response = apply_action(client, "top_up_quota", org, amount="100", reason="free")
    assert response.status_code in (200, 302)
    assert not QuotaTransaction.objects.exists()
    assert quota_balance(organisation=org) == 0


def test_staff_with_the_quota_permission_may_top_up_their_own_only(make_user, org, other_org):
    client = staff_client(
        make_user, org, "crm.view_organisation", "crm.change_organisation", "sms.change_quota"
    )
    assert "top_up_quota" in client.get(CHANGELIST).content.decode()
    apply_action(client, "top_up_quota", org, other_org, amount="100", reason="paid")
    assert quota_balance(organisation=org) == 100
    assert quota_balance(organisation=other_org) == 0
    assert client.get(change_url(other_org)).status_code == 302  # "does not exist" redirect


def test_staff_without_permissions_see_nothing(make_user, org):
    client = staff_client(make_user, org)
    for url in [
        CHANGELIST,
        "/admin/sms/quotatransaction/",
        "/admin/sms/sendout/",
        "/admin/sms/outboundmessage/",
    ]:
        assert client.get(url).status_code == 403, url


def test_staff_without_settings_permission_cannot_change_settings(make_user, org):
    SmsSettings.objects.create(organisation=org)
    client = staff_client(make_user, org, "crm.view_organisation", "crm.change_organisation")
    page = client.get(change_url(org))
    data = form_data(page)
    assert not any(name.startswith("sms_settings-0-") for name in data)
    data["sms_settings-TOTAL_FORMS"] = "1"
    data["sms_settings-INITIAL_FORMS"] = "1"
    data["sms_settings-0-id"] = str(org.sms_settings.pk)
    data["sms_settings-0-organisation"] = str(org.pk)
    data["sms_settings-0-sms_enabled"] = "on"
    client.post(change_url(org), data)
    assert SmsSettings.objects.get(organisation=org).sms_enabled is False


def test_the_ledger_is_read_only_and_scoped(make_user, superuser_client, org, other_org):
    mine = quota_top_up(organisation=org, amount=5, reason="Mine")
    quota_top_up(organisation=other_org, amount=7, reason="Theirs")
    client = staff_client(make_user, org, "sms.view_quotatransaction")
    page = client.get("/admin/sms/quotatransaction/").content.decode()
    assert "Mine" in page and "Theirs" not in page
    assert client.get("/admin/sms/quotatransaction/add/").status_code == 403
    url = f"/admin/sms/quotatransaction/{mine.pk}/change/"
    assert client.post(url, {"amount": "1000"}).status_code == 403
    assert QuotaTransaction.objects.get(pk=mine.pk).amount == 5
    assert superuser_client.get("/admin/sms/quotatransaction/add/").status_code == 403
    everything = superuser_client.get("/admin/sms/quotatransaction/?kind=top_up").content.decode()
    assert "Mine" in everything and "Theirs" in everything


def test_the_ledger_is_shown_on_the_organisation(superuser_client, org):
    quota_top_up(organisation=org, amount=5, reason="Invoice 77")
    content = superuser_client.get(change_url(org)).content.decode()
    assert "Invoice 77" in content


def test_quota_in_the_list_of_organisations(superuser_client, org):
    quota_top_up(organisation=org, amount=4321)
    assert "4,321" in superuser_client.get(CHANGELIST).content.decode()


def test_sendouts_and_messages_are_read_only_with_filters_and_search(
    superuser_client, org, contact
):
    sendout = SendoutFactory(organisation=org, messages_reserved=2)
    OutboundMessageFactory(sendout=sendout, contact=contact, to="+358401234567")
    OutboundMessageFactory(
        sendout=sendout, to="", body="", status=MessageStatus.SKIPPED, reason="missing_number"
    )
    content = superuser_client.get(
        "/admin/sms/sendout/", {"status": "queued", "organisation__id__exact": org.pk}
    ).content.decode()
    assert f">{sendout.pk}<" in content
    detail = superuser_client.get(f"/admin/sms/sendout/{sendout.pk}/change/").content.decode()
    assert "Pending: 1" in detail and "Skipped: 1" in detail
    found = superuser_client.get("/admin/sms/outboundmessage/", {"q": "+358401234567"})
    assert "+358401234567" in found.content.decode()
    assert "missing_number" not in found.content.decode()
    by_contact = superuser_client.get("/admin/sms/outboundmessage/", {"q": "Virtanen"})
    assert "+358401234567" in by_contact.content.decode()
    skipped = superuser_client.get("/admin/sms/outboundmessage/", {"status": "skipped"})
    assert "No phone number" in skipped.content.decode()
    assert superuser_client.get("/admin/sms/sendout/add/").status_code == 403
    assert superuser_client.get("/admin/sms/outboundmessage/add/").status_code == 403


def test_the_admin_shows_labels_and_formatted_numbers_not_codes(superuser_client, org, contact):
    """#15 item 14: no raw codes ("opted_out", "mobile_phone", "operator"), grouped
    numbers, and a skipped message titled by its contact, not "- (Skipped)"."""
    from tests.factories import SmsSettingsFactory

    SmsSettingsFactory(organisation=org, operator_number="+358401110000", quota=4976)
    sendout = SendoutFactory(organisation=org, sender="operator", phone_field="mobile_phone")
    skipped = OutboundMessageFactory(
        sendout=sendout, contact=contact, to="", status=MessageStatus.SKIPPED, reason="opted_out"
    )
    sendouts = superuser_client.get("/admin/sms/sendout/").content.decode()
    assert "Operator number (+358 40 111 0000)" in sendouts and "Mobile phone" in sendouts
    assert ">operator<" not in sendouts and ">mobile_phone<" not in sendouts
    messages = superuser_client.get("/admin/sms/outboundmessage/").content.decode()
    assert "Opted out of SMS" in messages and ">opted_out<" not in messages
    page = superuser_client.get(f"/admin/sms/outboundmessage/{skipped.pk}/change/")
    title = page.content.decode()
    assert "- (Skipped)" not in title
    assert f"Matti Virtanen in sendout {sendout.pk}: Skipped" in title
    sendout_page = superuser_client.get(f"/admin/sms/sendout/{sendout.pk}/change/")
    readonly = re.findall(r'<div class="readonly">([^<]*)</div>', sendout_page.content.decode())
    assert "Operator number (+358 40 111 0000)" in readonly and "Mobile phone" in readonly
    assert "operator" not in readonly and "mobile_phone" not in readonly
    readonly = re.findall(r'<div class="readonly">([^<]*)</div>', title)
    assert "Opted out of SMS" in readonly and "opted_out" not in readonly
    assert "4,976" in superuser_client.get(CHANGELIST).content.decode()
    change = superuser_client.get(change_url(org)).content.decode()
    assert "4,976" in change and ">4976<" not in change
    assert superuser_client.get("/admin/sms/sendout/add/").status_code == 403
    assert superuser_client.get("/admin/sms/outboundmessage/add/").status_code == 403


def _reserved_sendout(org, contact, pending: int = 2):
    sendout = SendoutFactory(organisation=org)
    quota_top_up(organisation=org, amount=10)
    from sms.quota import quota_reserve

    quota_reserve(organisation=org, amount=pending, sendout=sendout)
    for n in range(pending):
        OutboundMessageFactory(sendout=sendout, contact=contact, to=f"+35840123456{n}")
    return sendout


def test_cancel_from_the_admin_refunds_what_has_not_left(superuser_client, org, contact):
    sendout = _reserved_sendout(org, contact)
    response = superuser_client.post(
        "/admin/sms/sendout/",
        {"action": "cancel_sendouts", helpers.ACTION_CHECKBOX_NAME: [sendout.pk]},
        follow=True,
    )
    assert "1 sendout cancelled." in response.content.decode()
    sendout.refresh_from_db()
    assert sendout.status == "cancelled"
    assert sendout.messages_refunded == 2
    assert set(sendout.messages.values_list("status", flat=True)) == {"cancelled"}
    org.sms_settings.refresh_from_db()
    assert org.sms_settings.quota_balance == 10
    assert QuotaTransaction.objects.filter(organisation=org, kind="refund").count() == 1


def test_cancel_needs_the_change_sendout_permission(make_user, org, contact):
    sendout = _reserved_sendout(org, contact)
    client = staff_client(make_user, org, "sms.view_sendout")
    client.post(
        "/admin/sms/sendout/",
        {"action": "cancel_sendouts", helpers.ACTION_CHECKBOX_NAME: [sendout.pk]},
    )
    sendout.refresh_from_db()
    assert sendout.status == "queued"
    assert sendout.messages_refunded == 0


# --- the suppression list (#14) ------------------------------------------------------------

SUPPRESSION = "/admin/sms/suppressednumber/"


def test_the_suppression_list_is_scoped_to_the_staff_users_organisation(make_user, org, other_org):
    number_suppress(organisation=org, number="+358405550771", source="reply", sender="+3584011")
    number_suppress(organisation=other_org, number="+358405550772", source="carrier")
    theirs = SuppressedNumber.objects.get(organisation=other_org)
    client = staff_client(
        make_user, org, "sms.view_suppressednumber", "sms.add_suppressednumber",
        "sms.delete_suppressednumber",
    )  # fmt: skip
    page = client.get(SUPPRESSION).content.decode()
    assert "+358405550771" in page and "+358405550772" not in page
    assert "STOP reply" in page
    # Another organisation's entry is as absent as a deleted one.
    assert client.get(f"{SUPPRESSION}{theirs.pk}/delete/").status_code == 302
    client.post(f"{SUPPRESSION}{theirs.pk}/delete/", {"post": "yes"})
    assert SuppressedNumber.objects.filter(pk=theirs.pk).exists()
    # Adding offers only the own organisation.
    response = client.post(
        f"{SUPPRESSION}add/", {"organisation": other_org.pk, "number": "+358405550773"}
    )
    assert response.status_code == 200
    assert not SuppressedNumber.objects.filter(number="+358405550773").exists()


def test_an_admin_adds_and_lifts_a_number(make_user, org):
    client = staff_client(
        make_user, org, "sms.view_suppressednumber", "sms.add_suppressednumber",
        "sms.delete_suppressednumber",
    )  # fmt: skip
    response = client.post(
        f"{SUPPRESSION}add/", {"organisation": org.pk, "number": "+358 40 555 0777"}
    )
    assert response.status_code == 302, response.context["errors"]
    entry = SuppressedNumber.objects.get()
    assert (entry.organisation_id, entry.number, entry.source) == (org.pk, "+358405550777", "admin")
    # Entries are never edited.
    assert (
        client.post(f"{SUPPRESSION}{entry.pk}/change/", {"number": "+358405550778"}).status_code
        == 403
    )
    response = client.post(f"{SUPPRESSION}{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not SuppressedNumber.objects.exists()


@pytest.mark.parametrize("number", ["040 555 0777", "+358 1", "", "soita"])
def test_the_admin_refuses_a_number_that_is_not_one(make_user, org, number):
    client = staff_client(make_user, org, "sms.add_suppressednumber")
    response = client.post(f"{SUPPRESSION}add/", {"organisation": org.pk, "number": number})
    assert response.status_code == 200
    assert not SuppressedNumber.objects.exists()

"""Issue #14: opt-outs that stick to the number (the suppression list), and
carrier truth per recipient (encoding, segments, numbers that are not mobiles)."""

import pytest

from crm.models import Contact
from sms.backends import ErrorKind, SendError, locmem
from sms.models import OutboundMessage, SuppressedNumber, SuppressionSource
from sms.rules import RuleError
from sms.selectors import quota_balance
from sms.statuses import MessageStatus
from sms.suppression import number_suppress, number_unsuppress
from tests.factories import (
    OPERATOR_NUMBER,
    ContactFactory,
    SmsSettingsFactory,
    TargetGroupFactory,
    create_sendout,
)
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db

SHARED = "+358405550777"
FIXED_LINE = "+358 8 2242 000"  # Oulu, a fixed line (numbering plan of Traficom)


def preview(api, group, body="Hei {{contact.first_name}}"):
    response = api.post(
        f"/api/v1/target-groups/{group.pk}/sms/preview/", {"body": body}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()


def group_of(org, *rows: tuple[str, str]):
    contacts = [
        ContactFactory(organisation=org, first_name=name, mobile_phone=phone, blank=True)
        for name, phone in rows
    ]
    return TargetGroupFactory(organisation=org, included_contacts=contacts), contacts


# --- the service --------------------------------------------------------------------------


def test_number_suppress_normalises_and_keeps_the_first_entry(org):
    assert number_suppress(organisation=org, number="+358 40 555 0777", source="admin", sender="x")
    assert not number_suppress(
        organisation=org, number="00358405550777", source=SuppressionSource.REPLY
    )
    row = SuppressedNumber.objects.get()
    assert (row.number, row.source, row.sender) == (SHARED, "admin", "x")


@pytest.mark.parametrize("raw", ["", "040 555 0777", "+358 1", "call me"])
def test_number_suppress_refuses_what_is_not_a_number(org, raw):
    with pytest.raises(RuleError) as caught:
        number_suppress(organisation=org, number=raw, source="user")
    assert (caught.value.code, caught.value.field) == ("invalid_number", "number")
    assert not SuppressedNumber.objects.exists()


def test_number_suppress_refuses_an_unknown_source(org):
    with pytest.raises(ValueError):
        number_suppress(organisation=org, number=SHARED, source="telepathy")
    assert not SuppressedNumber.objects.exists()


def test_number_unsuppress_is_per_organisation(org, other_org):
    number_suppress(organisation=org, number=SHARED, source="admin")
    number_suppress(organisation=other_org, number=SHARED, source="admin")
    assert number_unsuppress(organisation=org, number="+358 40 555 0777")
    assert not number_unsuppress(organisation=org, number=SHARED)
    assert list(SuppressedNumber.objects.values_list("organisation", flat=True)) == [other_org.pk]


# --- recipient resolution ---------------------------------------------------------------


def test_a_suppressed_number_is_opted_out_whoever_holds_it(api, org, other_org, user):
    SmsSettingsFactory(organisation=org, quota=10)
    group, (one, two, other) = group_of(
        org, ("A", SHARED), ("B", "+358 40 555 0777"), ("C", "+358405550778")
    )
    number_suppress(organisation=org, number=SHARED, source="user")
    number_suppress(organisation=other_org, number="+358405550778", source="user")  # not ours

    body = preview(api, group)
    assert body["recipients"] == {"total": 3, "sendable": 1, "skipped": {"opted_out": 2}}
    assert body["messages"] == 1

    sendout = create_sendout(target_group=group, created_by=user, body="Hei")
    got = {m.contact_id: (m.status, m.reason, m.messages) for m in sendout.messages.all()}
    assert got == {
        one.pk: (MessageStatus.SKIPPED, "opted_out", 0),
        two.pk: (MessageStatus.SKIPPED, "opted_out", 0),
        other.pk: (MessageStatus.PENDING, "", 1),
    }
    assert sendout.messages_reserved == 1


def test_carrier_unsubscribed_21610_suppresses_the_number(org, user, sms_outbox, send_to_the_end):
    SmsSettingsFactory(organisation=org, quota=10, operator_number=OPERATOR_NUMBER)
    group, _contacts = group_of(org, ("A", SHARED), ("B", "+358405550778"))
    locmem.failures[SHARED] = SendError(kind=ErrorKind.PERMANENT, code="21610")
    first = create_sendout(target_group=group, created_by=user, body="Hei")
    send_to_the_end(first)
    failed = first.messages.get(to=SHARED)
    assert (failed.status, failed.error_code) == (MessageStatus.FAILED, "21610")
    entry = SuppressedNumber.objects.get()
    assert (entry.organisation_id, entry.number, entry.source, entry.sender) == (
        org.pk,
        SHARED,
        SuppressionSource.CARRIER,
        OPERATOR_NUMBER,
    )

    second = create_sendout(target_group=group, created_by=user, body="Hei")
    assert second.messages.get(to=SHARED).reason == "opted_out"
    assert second.messages_reserved == 1
    send_to_the_end(second)
    assert [m.to for m in locmem.attempts].count(SHARED) == 1
    assert_books_balance(org, first, second, topped_up=10)


def test_another_permanent_error_suppresses_nothing(org, user, sms_outbox, send_to_the_end):
    SmsSettingsFactory(organisation=org, quota=10)
    group, _contacts = group_of(org, ("A", SHARED))
    locmem.failures[SHARED] = SendError(kind=ErrorKind.PERMANENT, code="21211")
    send_to_the_end(create_sendout(target_group=group, created_by=user, body="Hei"))
    assert not SuppressedNumber.objects.exists()


# --- numbers that are surely not mobiles ------------------------------------------------


def test_a_fixed_line_is_skipped_as_not_mobile_and_never_charged(
    api, org, user, sms_outbox, send_to_the_end
):
    SmsSettingsFactory(organisation=org, quota=10)
    group, (landline, _mobile) = group_of(org, ("Lanka", FIXED_LINE), ("Känny", SHARED))
    body = preview(api, group)
    assert body["recipients"] == {"total": 2, "sendable": 1, "skipped": {"not_mobile": 1}}
    assert body["messages"] == 1

    sendout = create_sendout(target_group=group, created_by=user, body="Hei")
    skipped = sendout.messages.get(contact=landline)
    assert (skipped.status, skipped.reason, skipped.messages, skipped.to) == (
        MessageStatus.SKIPPED,
        "not_mobile",
        0,
        "+35882242000",
    )
    send_to_the_end(sendout)
    assert [m.to for m in sms_outbox] == [SHARED]
    assert quota_balance(organisation=org) == 9
    assert_books_balance(org, sendout, topped_up=10)


def test_not_mobile_has_a_label_in_the_options(api, org):
    SmsSettingsFactory(organisation=org)
    group = TargetGroupFactory(organisation=org)
    options = api.get(f"/api/v1/target-groups/{group.pk}/sms/options/").json()
    assert {"value": "not_mobile", "label": "Not a mobile number"} in options["skip_reasons"]


# --- encoding and segments per recipient ------------------------------------------------


def test_preview_decides_encoding_per_recipient(api, org):
    """The longest text is plain GSM-7, but a shorter one holds an emoji and a
    "ç" in a name: the preview says UCS-2 for those two and warns."""
    SmsSettingsFactory(organisation=org, quota=10)
    group, _contacts = group_of(
        org,
        ("Aleksanteri-Maximilian", "+358405550771"),
        ("Ana 😀", "+358405550772"),
        ("François", "+358405550773"),
    )
    body = preview(api, group)
    assert body["encoding"] == "UCS-2"
    assert body["ucs2_recipients"] == 2
    assert body["carrier_segments"] == 1
    [warning] = body["warnings"]
    assert "2" in warning and "3" in warning and "😀" in warning and "ç" in warning
    by_name = {s["name"]: (s["encoding"], s["carrier_segments"]) for s in body["samples"]}
    assert by_name == {
        "Aleksanteri-Maximilian": ("GSM-7", 1),
        "Ana 😀": ("UCS-2", 1),
        "François": ("UCS-2", 1),
    }


def test_preview_shows_the_worst_case_segments(api, org):
    """152 septets of template then a name with "€" (an escape pair that does not
    fit in the first segment): that recipient needs 2 segments, the other 1."""
    SmsSettingsFactory(organisation=org, quota=10)
    group, _contacts = group_of(org, ("a", "+358405550771"), ("€", "+358405550772"))
    body = preview(api, group, body="x" * 159 + "{{contact.first_name}}")
    assert (body["encoding"], body["carrier_segments"], body["ucs2_recipients"]) == (
        "GSM-7",
        2,
        0,
    )
    assert body["warnings"] == []


def test_preview_without_sendable_recipients_judges_the_template(api, org):
    SmsSettingsFactory(organisation=org, quota=10)
    group, _contacts = group_of(org, ("A", ""))
    body = preview(api, group, body="Hei ☀")
    assert (body["encoding"], body["carrier_segments"], body["ucs2_recipients"]) == (
        "UCS-2",
        1,
        0,
    )
    assert any("☀" in w for w in body["warnings"])


def test_each_outbound_message_stores_its_encoding_and_carrier_segments(org, user, api):
    SmsSettingsFactory(organisation=org, quota=20)
    group, (plain, emoji, euro, none) = group_of(
        org,
        ("a", "+358405550771"),
        ("😀", "+358405550772"),
        ("€", "+358405550773"),
        ("n", ""),
    )
    sendout = create_sendout(
        target_group=group, created_by=user, body="x" * 152 + "{{contact.first_name}}" + "y" * 152
    )
    got = {m.contact_id: (m.encoding, m.carrier_segments) for m in sendout.messages.all()}
    # 305 septets: 2 segments; "€" at 153 would split its escape pair: 3;
    # the emoji makes the 306 UTF-16 units UCS-2: 5 segments of 67.
    assert got == {
        plain.pk: ("GSM-7", 2),
        euro.pk: ("GSM-7", 3),
        emoji.pk: ("UCS-2", 5),
        none.pk: ("", 0),
    }
    recipients = api.get(f"/api/v1/sms/sendouts/{sendout.pk}/recipients/").json()["results"]
    assert {r["contact"]: r["carrier_segments"] for r in recipients} == {
        plain.pk: 2,
        euro.pk: 3,
        emoji.pk: 5,
        none.pk: 0,
    }
    assert Contact.objects.count() == 4 and OutboundMessage.objects.count() == 4

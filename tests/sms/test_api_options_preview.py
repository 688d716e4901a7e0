"""``GET /target-groups/{id}/sms/options/`` and ``POST .../sms/preview/``."""

import pytest
from rest_framework.test import APIClient

from crm.models import Role
from sms.models import OutboundMessage, QuotaTransaction, Sendout, SmsSettings
from sms.tags import TAGS, parse_template
from tests.factories import ContactFactory, SmsSettingsFactory, TargetGroupFactory

pytestmark = pytest.mark.django_db

FI = "+358 40 123 4567"


def options_url(group) -> str:
    return f"/api/v1/target-groups/{group.pk}/sms/options/"


def preview_url(group) -> str:
    return f"/api/v1/target-groups/{group.pk}/sms/preview/"


@pytest.fixture
def known_group(org):
    """Four sendable members and one of each number problem, opt-out and duplicate."""
    contacts = [
        ContactFactory(
            organisation=org, first_name="Maija", mobile_phone="+358 40 100 0001", blank=True
        ),
        ContactFactory(
            organisation=org, first_name="Juha", mobile_phone="+358 40 100 0002", blank=True
        ),
        ContactFactory(
            organisation=org, first_name="Åsa", mobile_phone="+358 40 100 0003", blank=True
        ),
        ContactFactory(
            organisation=org, first_name="Eero", mobile_phone="+358 40 100 0004", blank=True
        ),
        ContactFactory(
            organisation=org,
            first_name="Out",
            mobile_phone="+358 40 100 0005",
            sms_opt_out=True,
            blank=True,
        ),
        ContactFactory(organisation=org, first_name="Nonumber", blank=True),
        ContactFactory(
            organisation=org, first_name="Local", mobile_phone="040 100 0006", blank=True
        ),
        ContactFactory(organisation=org, first_name="Bad", mobile_phone="+358 1", blank=True),
        ContactFactory(
            organisation=org, first_name="Twin", mobile_phone="+358401000001", blank=True
        ),
    ]
    return TargetGroupFactory(organisation=org, included_contacts=contacts)


def nothing_written(org, balance: int) -> None:
    assert not Sendout.objects.exists()
    assert not OutboundMessage.objects.exists()
    assert QuotaTransaction.objects.filter(organisation=org).count() == (1 if balance else 0)
    assert SmsSettings.objects.get(organisation=org).quota_balance == balance


# --- options ---------------------------------------------------------------------------


def test_options_shape(api, org, known_group):
    SmsSettingsFactory(organisation=org, quota=25)
    body = api.get(options_url(known_group)).json()
    assert {
        "enabled",
        "quota_remaining",
        "max_chars",
        "chars_per_message",
        "senders",
        "phone_fields",
        "tags",
    } <= set(body)
    assert body["enabled"] is True
    assert body["quota_remaining"] == 25
    assert (body["max_chars"], body["chars_per_message"]) == (480, 160)
    assert body["phone_fields"] == [
        {"value": "mobile_phone", "label": "Mobile phone", "default": True},
        {"value": "work_phone", "label": "Work phone", "default": False},
    ]
    assert [t["value"] for t in body["tags"]] == [tag.token for tag in TAGS]
    assert "{{contact.first_name}}" in [t["value"] for t in body["tags"]]
    for tag in body["tags"]:
        assert set(tag) == {"value", "label", "group"} and tag["label"] and tag["group"]
        parse_template(tag["value"])  # every tag offered is one the renderer accepts


def test_options_senders_named_off_lists_only_the_operator(api, org, known_group):
    SmsSettingsFactory(organisation=org, approved=["Acme"])
    senders = api.get(options_url(known_group)).json()["senders"]
    assert [(s["value"], s["default"]) for s in senders] == [("operator", True)]
    assert senders[0]["label"]


def test_options_senders_named_on_lists_approved_names_only(api, org, known_group):
    SmsSettingsFactory(
        organisation=org,
        named_senders_enabled=True,
        approved=["Zeta", "Acme"],
        not_approved=["Pending"],
    )
    senders = api.get(options_url(known_group)).json()["senders"]
    assert [(s["value"], s["label"], s["default"]) for s in senders][1:] == [
        ("Acme", "Acme", False),
        ("Zeta", "Zeta", False),
    ]
    assert senders[0]["value"] == "operator" and senders[0]["default"] is True


def test_options_when_sms_is_off_answers_enabled_false(api, org, known_group):
    body = api.get(options_url(known_group))
    assert body.status_code == 200
    assert body.json()["enabled"] is False


def test_options_without_a_settings_row_answer_off_and_write_nothing(api, org, known_group):
    SmsSettings.objects.filter(organisation=org).delete()
    body = api.get(options_url(known_group))
    assert body.status_code == 200
    assert (body.json()["enabled"], body.json()["quota_remaining"]) == (False, 0)
    assert not SmsSettings.objects.filter(organisation=org).exists()


def test_a_new_organisation_gets_its_settings_off_and_without_quota(
    make_org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        org = make_org()
    sms_settings = SmsSettings.objects.get(organisation=org)
    assert (sms_settings.sms_enabled, sms_settings.quota_balance) == (False, 0)


def test_options_of_another_organisations_group_is_404(api, other_org):
    theirs = TargetGroupFactory(
        organisation=other_org,
        included_contacts=[
            ContactFactory(organisation=other_org, first_name="X", mobile_phone=FI, blank=True)
        ],
    )
    SmsSettingsFactory(organisation=other_org)
    assert api.get(options_url(theirs)).status_code == 404


def test_options_anonymous_is_401(known_group):
    assert APIClient().get(options_url(known_group)).status_code == 401


# --- preview ---------------------------------------------------------------------------


def test_preview_answers_every_field_with_exact_numbers(api, org, known_group):
    SmsSettingsFactory(organisation=org, quota=10)
    response = api.post(
        preview_url(known_group),
        {
            "sender": "operator",
            "phone_field": "mobile_phone",
            "body": "Hei {{contact.first_name}}!",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["recipients"] == {
        "total": 9,
        "sendable": 4,
        "skipped": {
            "opted_out": 1,
            "missing_number": 1,
            "missing_country_code": 1,
            "invalid_number": 1,
            "duplicate_number": 1,
        },
    }
    assert body["messages"] == 4
    assert (body["quota_remaining"], body["quota_after"]) == (10, 6)
    assert body["chars"] == len("Hei {{contact.first_name}}!")
    assert (body["encoding"], body["carrier_segments"]) == ("GSM-7", 1)  # Å is GSM-7
    assert body["warnings"] == []
    assert [(s["to"], s["body"], s["chars"], s["messages"]) for s in body["samples"]] == [
        ("+358401000001", "Hei Maija!", 10, 1),
        ("+358401000002", "Hei Juha!", 9, 1),
        ("+358401000003", "Hei Åsa!", 8, 1),
        ("+358401000004", "Hei Eero!", 9, 1),
    ]
    assert all({"contact", "to", "body", "chars", "messages"} <= set(s) for s in body["samples"])


def test_preview_samples_are_at_most_five(api, org):
    group = TargetGroupFactory(
        organisation=org,
        included_contacts=[
            ContactFactory(
                organisation=org,
                first_name=f"P{i}",
                mobile_phone=f"+358 40 200 00{i:02d}",
                blank=True,
            )
            for i in range(8)
        ],
    )
    SmsSettingsFactory(organisation=org, quota=100)
    body = api.post(preview_url(group), {"body": "Hi"}, format="json").json()
    assert len(body["samples"]) == 5
    assert body["recipients"]["sendable"] == 8 and body["messages"] == 8


def test_preview_long_messages_bill_per_160_and_segment_per_153(api, org):
    group = TargetGroupFactory(
        organisation=org,
        included_contacts=[
            ContactFactory(organisation=org, first_name="A", mobile_phone=FI, blank=True)
        ],
    )
    SmsSettingsFactory(organisation=org, quota=2)
    body = api.post(preview_url(group), {"body": "x" * 161}, format="json").json()
    assert (body["messages"], body["chars"]) == (2, 161)
    assert (body["encoding"], body["carrier_segments"]) == ("GSM-7", 2)
    assert body["quota_after"] == 0


def test_preview_ucs2_warns_naming_the_character(api, org):
    group = TargetGroupFactory(
        organisation=org,
        included_contacts=[
            ContactFactory(organisation=org, first_name="A", mobile_phone=FI, blank=True)
        ],
    )
    SmsSettingsFactory(organisation=org, quota=5)
    body = api.post(
        preview_url(group), {"body": "Tervetuloa ☀ {{contact.first_name}}"}, format="json"
    ).json()
    assert body["encoding"] == "UCS-2"
    assert body["carrier_segments"] == 1
    assert any("☀" in w for w in body["warnings"])


def test_preview_over_quota_warns_and_goes_negative(api, org, known_group):
    SmsSettingsFactory(organisation=org, quota=3)
    body = api.post(preview_url(known_group), {"body": "Hi"}, format="json").json()
    assert body["quota_after"] == -1
    assert any("4" in w and "3" in w for w in body["warnings"])


def test_preview_uses_the_work_phone_when_asked(api, org):
    a = ContactFactory(organisation=org, first_name="A", mobile_phone=FI, work_phone="", blank=True)
    SmsSettingsFactory(organisation=org, quota=5)
    body = api.post(
        preview_url(TargetGroupFactory(organisation=org, included_contacts=[a])),
        {"body": "Hi", "phone_field": "work_phone"},
        format="json",
    ).json()
    assert body["recipients"]["skipped"] == {"missing_number": 1}


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"body": ""}, "body", "Write a message"),
        ({"body": "   \n "}, "body", "Write a message"),
        ({"body": "x" * 481}, "body", "481"),
        ({"body": "Hei {{contact.shoe_size}}"}, "body", "{{contact.shoe_size}}"),
        ({"body": "Hei {{contact.first name}}"}, "body", "{{contact.first name}}"),
        ({"body": "Hei {{contact.first_name"}, "body", "{{contact.first_name"),
        ({"body": "Hi", "sender": "Pending"}, "sender", "Pending"),
        ({"body": "Hi", "sender": "Unknown"}, "sender", "Unknown"),
        ({"body": "Hi", "phone_field": "phone"}, "phone_field", "Mobile phone"),
        ({"body": "Hi", "phone_field": "account.phone"}, "phone_field", "Mobile phone"),
    ],
)
def test_preview_bad_field_is_400_at_that_field(api, org, known_group, data, field, words):
    SmsSettingsFactory(
        organisation=org,
        quota=10,
        named_senders_enabled=True,
        approved=["Acme"],
        not_approved=["Pending"],
    )
    response = api.post(preview_url(known_group), data, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert words in errors[field][0]
    nothing_written(org, 10)


def test_preview_named_sender_while_named_senders_are_off_is_400(api, org, known_group):
    SmsSettingsFactory(organisation=org, quota=10, named_senders_enabled=False, approved=["Acme"])
    response = api.post(preview_url(known_group), {"body": "Hi", "sender": "Acme"}, format="json")
    assert response.status_code == 400
    assert "not active" in response.json()["sender"][0]
    ok = api.post(preview_url(known_group), {"body": "Hi", "sender": "operator"}, format="json")
    assert ok.status_code == 200


def test_preview_with_an_approved_named_sender(api, org, known_group):
    SmsSettingsFactory(organisation=org, quota=10, named_senders_enabled=True, approved=["Acme"])
    response = api.post(preview_url(known_group), {"body": "Hi", "sender": "Acme"}, format="json")
    assert response.status_code == 200


def test_preview_when_sms_is_off_is_403(api, org, known_group):
    response = api.post(preview_url(known_group), {"body": "Hi"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "sms_not_enabled"


def test_preview_of_another_organisations_group_is_404(api, other_org):
    theirs = TargetGroupFactory(
        organisation=other_org,
        included_contacts=[
            ContactFactory(organisation=other_org, first_name="X", mobile_phone=FI, blank=True)
        ],
    )
    SmsSettingsFactory(organisation=other_org, quota=10)
    assert api.post(preview_url(theirs), {"body": "Hi"}, format="json").status_code == 404


def test_preview_anonymous_is_401(known_group):
    assert (
        APIClient().post(preview_url(known_group), {"body": "Hi"}, format="json").status_code == 401
    )


def test_preview_by_a_viewer_is_403(org, make_user, known_group):
    # The lead's choice: preview is a POST, and viewers may not write; kept 403.
    SmsSettingsFactory(organisation=org, quota=10)
    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.VIEWER))
    response = client.post(preview_url(known_group), {"body": "Hi"}, format="json")
    assert response.status_code == 403
    assert client.get(options_url(known_group)).status_code == 200

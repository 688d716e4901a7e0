"""``GET /target-groups/{id}/sms/skipped/``: who a preview skips for one reason,
page by page, and ``messages_per_recipient_max`` of the preview."""

import pytest
from rest_framework.test import APIClient

from crm.models import Role
from tests.factories import ContactFactory, SmsSettingsFactory, TargetGroupFactory
from tests.sms.test_api_options_preview import known_group, nothing_written  # noqa: F401

pytestmark = pytest.mark.django_db


def skipped_url(group) -> str:
    return f"/api/v1/target-groups/{group.pk}/sms/skipped/"


def test_lists_the_members_skipped_for_one_reason(api, org, known_group):  # noqa: F811
    SmsSettingsFactory(organisation=org, quota=10)
    query = {"body": "Hei {{contact.first_name}}!", "reason": "missing_country_code"}
    response = api.get(skipped_url(known_group), query)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == 1
    assert [(r["name"].split()[0], r["to"], r["reason"]) for r in body["results"]] == [
        ("Local", "", "missing_country_code")
    ]
    twin = api.get(skipped_url(known_group), {**query, "reason": "duplicate_number"}).json()
    assert [(r["name"].split()[0], r["to"]) for r in twin["results"]] == [("Twin", "+358401000001")]
    nothing_written(org, 10)


def test_is_paginated_in_id_order(api, org):
    SmsSettingsFactory(organisation=org, quota=10)
    contacts = [ContactFactory(organisation=org, first_name=f"N{n}", blank=True) for n in range(5)]
    group = TargetGroupFactory(organisation=org, included_contacts=contacts)
    query = {"body": "Hei", "reason": "missing_number", "page_size": 2}
    first = api.get(skipped_url(group), query).json()
    assert first["count"] == 5 and first["previous"] is None and first["next"]
    assert [r["contact"] for r in first["results"]] == [contacts[0].pk, contacts[1].pk]
    last = api.get(skipped_url(group), {**query, "page": 3}).json()
    assert [r["contact"] for r in last["results"]] == [contacts[4].pk]
    assert last["next"] is None


def test_too_long_lists_the_rendered_length(api, org):
    SmsSettingsFactory(organisation=org, quota=10)
    long_name = ContactFactory(
        organisation=org, first_name="L" * 100, mobile_phone="+358 40 100 0001", blank=True
    )
    group = TargetGroupFactory(organisation=org, included_contacts=[long_name])
    body = "x" * 440 + "{{contact.first_name}}"
    answer = api.get(skipped_url(group), {"body": body, "reason": "too_long"}).json()
    assert [(r["contact"], r["chars"]) for r in answer["results"]] == [(long_name.pk, 540)]


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"body": "Hei"}, "reason", "required"),
        ({"body": "Hei", "reason": "bogus"}, "reason", "bogus"),
        ({"body": "Hei", "reason": ""}, "reason", ""),
        ({"reason": "missing_number"}, "body", "required"),
        ({"body": "", "reason": "missing_number"}, "body", "Write a message"),
        ({"body": "x" * 481, "reason": "missing_number"}, "body", "481"),
        ({"body": "Hei {{contact.shoe}}", "reason": "missing_number"}, "body", "shoe"),
        ({"body": "Hei", "reason": "missing_number", "phone_field": "fax"}, "phone_field", ""),
        ({"body": "Hei", "reason": "missing_number", "sender": "Nobody"}, "sender", ""),
        ({"body": "Hei", "reason": "missing_number", "page": "abc"}, "page", "integer"),
        ({"body": "Hei", "reason": "missing_number", "page": "0"}, "page", "1"),
        ({"body": "Hei", "reason": "missing_number", "page_size": "0"}, "page_size", "1"),
        ({"body": "Hei", "reason": "missing_number", "page_size": "5000"}, "page_size", "1000"),
        ({"body": "Hei", "reason": "missing_number", "purpose": "spam"}, "purpose", "spam"),
        ({"body": "Hei", "reason": "missing_number", "purpose": "test"}, "purpose", "test"),
        (
            {"body": "Hei", "reason": "missing_number", "link_tracking": "maybe"},
            "link_tracking",
            "",
        ),
    ],
)
def test_bad_query_is_400_at_that_field_and_changes_nothing(
    api,
    org,
    known_group,  # noqa: F811
    query,
    field,
    words,
):
    SmsSettingsFactory(organisation=org, quota=10)
    response = api.get(skipped_url(known_group), query)
    assert response.status_code == 400, response.content
    errors = response.json()
    assert list(errors) == [field]
    assert words in errors[field][0]
    nothing_written(org, 10)


def test_a_page_past_the_end_is_404(api, org, known_group):  # noqa: F811
    SmsSettingsFactory(organisation=org, quota=10)
    query = {"body": "Hei", "reason": "missing_number", "page": 9}
    assert api.get(skipped_url(known_group), query).status_code == 404


def test_sms_off_is_403_and_other_organisations_group_404(
    api,
    org,
    other_org,
    known_group,  # noqa: F811
):
    query = {"body": "Hei", "reason": "missing_number"}
    SmsSettingsFactory(organisation=org, quota=10, sms_enabled=False)
    assert api.get(skipped_url(known_group), query).status_code == 403
    theirs = TargetGroupFactory(organisation=other_org)
    assert api.get(skipped_url(theirs), query).status_code == 404
    assert APIClient().get(skipped_url(known_group), query).status_code == 401


def test_a_viewer_may_look(org, make_user, known_group):  # noqa: F811
    # A read (GET): viewers see who would be skipped, as they see the members.
    SmsSettingsFactory(organisation=org, quota=10)
    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.VIEWER))
    response = client.get(skipped_url(known_group), {"body": "Hei", "reason": "opted_out"})
    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_preview_says_the_most_messages_one_recipient_bills(api, org):
    SmsSettingsFactory(organisation=org, quota=10)
    group = TargetGroupFactory(
        organisation=org,
        included_contacts=[
            ContactFactory(
                organisation=org, first_name=name, mobile_phone=f"+358 40 100 000{n}", blank=True
            )
            for n, name in enumerate(["Al", "L" * 100])
        ],
    )
    body = "x" * 150 + "{{contact.first_name}}"  # 172 as typed; 152 and 250 after tags
    answer = api.post(
        f"/api/v1/target-groups/{group.pk}/sms/preview/", {"body": body}, format="json"
    ).json()
    assert answer["messages"] == 1 + 2
    assert answer["messages_per_recipient_max"] == 2

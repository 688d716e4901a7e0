"""The target-group API: CRUD, every operator, every kind of bad input, scoping."""

import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import Account, Contact, Role
from targetgroups.fields import CATALOGUE, FIELDS, Operator
from targetgroups.models import TargetGroup
from targetgroups.selectors import day_start

URL = "/api/v1/target-groups/"


@pytest.fixture
def people(org, account):
    """Contacts that tell the operators apart."""
    other_account = Account.objects.create(
        organisation=org, name="Ääni Oy", industry="Media", city="Tampere", country="FI"
    )
    rows = {
        "matti": Contact.objects.create(
            organisation=org, account=account, first_name="Matti", last_name="Virtanen",
            city="Helsinki", language="fi", title="CEO", email="matti@kaleva.fi",
        ),
        "aino": Contact.objects.create(
            organisation=org, account=other_account, first_name="Äino", last_name="Laine",
            city="ÄÄNEKOSKI", language="sv", sms_opt_out=True,
        ),
        "nobody": Contact.objects.create(organisation=org, last_name="Ilman", city=""),
    }  # fmt: skip
    today = timezone.localdate()
    Contact.objects.filter(pk=rows["nobody"].pk).update(
        created_at=day_start(today - datetime.timedelta(days=10))
    )
    return rows


def members(api, conditions, match="all"):
    response = api.post(URL + "count/", {"match": match, "conditions": conditions}, format="json")
    assert response.status_code == 200, response.json()
    created = api.post(
        URL, {"name": "T", "match": match, "conditions": conditions}, format="json"
    ).json()
    listed = api.get(f"{URL}{created['id']}/members/").json()
    names = {row["last_name"] for row in listed["results"]}
    assert created["member_count"] == listed["count"] == response.json()["count"] == len(names)
    return names


TEN_DAYS_AGO = (timezone.localdate() - datetime.timedelta(days=10)).isoformat()
TODAY = timezone.localdate().isoformat()
CASES = [
    ("contact.city", "equals", "helsinki", {"Virtanen"}),
    ("contact.city", "equals", "äänekoski", {"Laine"}),
    ("contact.city", "not_equals", "Helsinki", {"Laine", "Ilman"}),
    ("contact.city", "contains", "NEK", {"Laine"}),
    ("contact.city", "not_contains", "sink", {"Laine", "Ilman"}),
    ("contact.first_name", "starts_with", "äi", {"Laine"}),
    ("contact.city", "is_empty", None, {"Ilman"}),
    ("contact.city", "is_not_empty", None, {"Virtanen", "Laine"}),
    ("contact.city", "in", ["HELSINKI", "Turku"], {"Virtanen"}),
    ("contact.language", "equals", "fi", {"Virtanen"}),
    ("contact.language", "in", ["fi", "sv"], {"Virtanen", "Laine"}),
    ("contact.language", "is_empty", None, {"Ilman"}),
    ("contact.created_at", "before", TODAY, {"Ilman"}),
    ("contact.created_at", "lt", TODAY, {"Ilman"}),
    ("contact.created_at", "after", TEN_DAYS_AGO, {"Virtanen", "Laine"}),
    ("contact.created_at", "gt", TEN_DAYS_AGO, {"Virtanen", "Laine"}),
    ("contact.created_at", "gte", TEN_DAYS_AGO, {"Virtanen", "Laine", "Ilman"}),
    ("contact.created_at", "lte", TEN_DAYS_AGO, {"Ilman"}),
    ("contact.created_at", "equals", TEN_DAYS_AGO, {"Ilman"}),
    ("contact.created_at", "within_last_days", 3, {"Virtanen", "Laine"}),
    ("contact.created_at", "within_last_days", 10, {"Virtanen", "Laine", "Ilman"}),
    ("contact.sms_opt_out", "is_true", None, {"Laine"}),
    ("contact.sms_opt_out", "is_false", None, {"Virtanen", "Ilman"}),
    # A contact without an account has no account city: empty, and "not Tampere".
    ("account.city", "is_empty", None, {"Ilman"}),
    ("account.city", "is_not_empty", None, {"Virtanen", "Laine"}),
    ("account.city", "not_equals", "tampere", {"Virtanen", "Ilman"}),
    ("account.name", "not_contains", "oy", {"Ilman"}),
    ("account.industry", "equals", "MEDIA", {"Laine"}),
    ("account.country", "in", ["fi", "se"], {"Laine", "Virtanen"}),
]


@pytest.mark.parametrize(("field", "operator", "value", "expected"), CASES)
def test_each_operator(api, people, field, operator, value, expected):
    condition = {"field": field, "operator": operator}
    if value is not None:
        condition["value"] = value
    assert members(api, [condition]) == expected


def test_every_operator_is_covered_by_the_cases():
    used = {op for _f, op, _v, _e in CASES}
    assert used >= {str(op) for f in FIELDS for op in f.operators}


def test_match_all_and_any(api, people):
    conditions = [
        {"field": "contact.city", "operator": "equals", "value": "Helsinki"},
        {"field": "contact.sms_opt_out", "operator": "is_true"},
    ]
    assert members(api, conditions, "all") == set()
    assert members(api, conditions, "any") == {"Virtanen", "Laine"}


def test_no_conditions_means_no_one_but_the_included(api, people):
    assert members(api, []) == set()


def test_fields_catalogue(api):
    response = api.get(URL + "fields/")
    assert response.status_code == 200
    rows = {row["field"]: row for row in response.json()}
    assert set(rows) == set(CATALOGUE)
    assert rows["contact.city"]["type"] == "text"
    assert "contains" in rows["contact.city"]["operators"]
    assert rows["contact.sms_opt_out"]["operators"] == ["is_true", "is_false"]
    assert {"value": "fi", "label": "Finnish"} in rows["contact.language"]["choices"]
    assert "within_last_days" in rows["contact.created_at"]["operators"]


def test_create_read_update_delete(api, people):
    body = {
        "name": "Helsinki people",
        "description": "Near the office",
        "match": "any",
        "conditions": [{"field": "contact.city", "operator": "equals", "value": "Helsinki"}],
        "included_contacts": [people["nobody"].pk],
        "excluded_contacts": [],
    }
    created = api.post(URL, body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["member_count"] == 2
    assert data["included_contacts"] == [people["nobody"].pk]
    # The flat form is answered as the tree it means, under the group's match.
    assert data["conditions"] == {
        "match": "any",
        "items": [{"field": "contact.city", "operator": "equals", "value": "Helsinki"}],
    }
    assert data["match"] == "any"
    group = TargetGroup.objects.get(pk=data["id"])
    assert group.created_by is not None

    patched = api.patch(
        f"{URL}{group.pk}/",
        {"excluded_contacts": [people["matti"].pk], "name": "Renamed"},
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["member_count"] == 1
    assert patched.json()["name"] == "Renamed"
    assert api.get(URL).json()["count"] == 1
    assert api.delete(f"{URL}{group.pk}/").status_code == 204
    assert not TargetGroup.objects.filter(pk=group.pk).exists()


BAD_CONDITIONS = [
    ({"field": "contact.shoe_size", "operator": "equals", "value": "9"}, "field"),
    ({"field": "contact.city", "operator": "gt", "value": "a"}, "operator"),
    ({"field": "contact.city", "operator": "sounds_like", "value": "a"}, "operator"),
    ({"field": "contact.sms_opt_out", "operator": "equals", "value": True}, "operator"),
    ({"field": "contact.city", "operator": "equals", "value": 5}, "value"),
    ({"field": "contact.city", "operator": "equals", "value": "   "}, "value"),
    ({"field": "contact.city", "operator": "equals"}, "value"),
    ({"field": "contact.city", "operator": "in", "value": "Helsinki"}, "value"),
    ({"field": "contact.city", "operator": "in", "value": []}, "value"),
    ({"field": "contact.city", "operator": "is_empty", "value": "x"}, "value"),
    ({"field": "contact.language", "operator": "equals", "value": "xx"}, "value"),
    ({"field": "contact.language", "operator": "in", "value": ["fi", "xx"]}, "value"),
    ({"field": "contact.created_at", "operator": "before", "value": "31.12.2024"}, "value"),
    ({"field": "contact.created_at", "operator": "after", "value": "2024-02-30"}, "value"),
    ({"field": "contact.created_at", "operator": "within_last_days", "value": -1}, "value"),
    ({"field": "contact.created_at", "operator": "within_last_days", "value": 1.5}, "value"),
    ({"field": "contact.created_at", "operator": "within_last_days", "value": "7"}, "value"),
    ({"field": "contact.created_at", "operator": "within_last_days", "value": True}, "value"),
    ({"field": "contact.city", "operator": "equals", "value": "x", "extra": 1}, "non_field_errors"),
    ("contact.city equals x", "non_field_errors"),
]


@pytest.mark.parametrize(("bad", "key"), BAD_CONDITIONS)
def test_bad_condition_is_named_by_index_and_nothing_is_saved(api, org, bad, key):
    good = {"field": "contact.city", "operator": "equals", "value": "Helsinki"}
    body = {"name": "Bad", "conditions": [good, good, bad]}
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    errors = response.json()["conditions"]
    assert len(errors) == 1
    assert errors[0]["index"] == 2
    assert list(errors[0]["errors"]) == [key]
    assert errors[0]["errors"][key][0]
    assert not TargetGroup.objects.exists()
    # The same on the live count, and on an update of an existing group.
    assert api.post(URL + "count/", body, format="json").status_code == 400
    group = TargetGroup.objects.create(organisation=org, name="Kept", conditions=[good])
    response = api.patch(f"{URL}{group.pk}/", body, format="json")
    assert response.status_code == 400
    assert response.json()["conditions"][0]["index"] == 2
    group.refresh_from_db()
    assert group.name == "Kept" and group.conditions == [good]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "conditions": []}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x", "match": "some"}, "match"),
        ({"name": "x", "conditions": {"field": "contact.city"}}, "conditions"),
        ({"name": "x", "included_contacts": "5"}, "included_contacts"),
        ({"name": "x", "included_contacts": [0]}, "included_contacts"),
    ],
)
def test_other_bad_input(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not TargetGroup.objects.exists()


def test_contacts_of_another_organisation_are_refused(api, org, other_org, people):
    stranger = Contact.objects.create(organisation=other_org, last_name="Stranger")
    for key in ("included_contacts", "excluded_contacts"):
        response = api.post(URL, {"name": "x", key: [stranger.pk]}, format="json")
        assert response.status_code == 400
        assert str(stranger.pk) in response.json()[key][0]
    assert not TargetGroup.objects.exists()
    group = TargetGroup.objects.create(organisation=org, name="G")
    response = api.post(f"{URL}{group.pk}/include/", {"contacts": [stranger.pk]}, format="json")
    assert response.status_code == 400
    assert not group.included_contacts.exists()


def test_included_and_excluded_at_once_is_refused(api, people):
    pk = people["matti"].pk
    response = api.post(
        URL, {"name": "x", "included_contacts": [pk], "excluded_contacts": [pk]}, format="json"
    )
    assert response.status_code == 400
    assert "excluded_contacts" in response.json()


def test_another_organisations_group_is_404(api, other_org):
    group = TargetGroup.objects.create(organisation=other_org, name="Theirs")
    for path in ("", "members/"):
        assert api.get(f"{URL}{group.pk}/{path}").status_code == 404
    assert api.patch(f"{URL}{group.pk}/", {"name": "Mine"}, format="json").status_code == 404
    assert api.delete(f"{URL}{group.pk}/").status_code == 404
    response = api.post(f"{URL}{group.pk}/include/", {"contacts": [1]}, format="json")
    assert response.status_code == 404
    assert api.get(URL).json()["count"] == 0
    group.refresh_from_db()
    assert group.name == "Theirs"


def test_viewer_reads_but_does_not_write(make_user, org, people):
    group = TargetGroup.objects.create(organisation=org, name="G")
    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.VIEWER))
    assert client.get(f"{URL}{group.pk}/").status_code == 200
    assert client.get(f"{URL}{group.pk}/members/").status_code == 200
    assert client.post(URL, {"name": "x"}, format="json").status_code == 403
    assert client.patch(f"{URL}{group.pk}/", {"name": "x"}, format="json").status_code == 403
    response = client.post(f"{URL}{group.pk}/include/", {"contacts": [1]}, format="json")
    assert response.status_code == 403


def test_anonymous_is_401(db):
    assert APIClient().get(URL).status_code == 401


def test_members_are_paginated_in_contact_order(api, org):
    for n in range(7):
        Contact.objects.create(organisation=org, last_name=f"Name{n}", city="Oulu")
    group = TargetGroup.objects.create(
        organisation=org,
        name="Oulu",
        conditions=[{"field": "contact.city", "operator": "equals", "value": "oulu"}],
    )
    page = api.get(f"{URL}{group.pk}/members/", {"page_size": 3}).json()
    assert page["count"] == 7
    assert [row["last_name"] for row in page["results"]] == ["Name0", "Name1", "Name2"]
    assert set(page["results"][0]) >= {"id", "first_name", "mobile_phone", "account"}
    second = api.get(page["next"]).json()
    assert [row["last_name"] for row in second["results"]] == ["Name3", "Name4", "Name5"]


def test_include_exclude_and_reset(api, org, people):
    group = TargetGroup.objects.create(
        organisation=org,
        name="G",
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Helsinki"}],
    )
    matti, nobody = people["matti"].pk, people["nobody"].pk
    r = api.post(f"{URL}{group.pk}/include/", {"contacts": [nobody]}, format="json")
    assert r.status_code == 200 and r.json()["member_count"] == 2
    r = api.post(f"{URL}{group.pk}/exclude/", {"contacts": [matti, nobody]}, format="json")
    assert r.json()["member_count"] == 0
    assert r.json()["included_contacts"] == []
    assert r.json()["excluded_contacts"] == sorted([matti, nobody])
    r = api.post(f"{URL}{group.pk}/reset/", {"contacts": [matti]}, format="json")
    assert r.json()["member_count"] == 1
    assert r.json()["excluded_contacts"] == [nobody]
    assert api.post(f"{URL}{group.pk}/reset/", {"contacts": []}, format="json").status_code == 400


def test_count_counts_unsaved_hand_picks(api, people):
    body = {
        "match": "all",
        "conditions": [{"field": "contact.city", "operator": "is_not_empty"}],
        "included_contacts": [people["nobody"].pk],
        "excluded_contacts": [people["aino"].pk],
    }
    assert api.post(URL + "count/", body, format="json").json() == {"count": 2}


def test_operators_listed_by_type_are_the_api_contracts():
    contract = {
        "equals", "not_equals", "contains", "not_contains", "starts_with", "is_empty",
        "is_not_empty", "in", "gt", "gte", "lt", "lte", "before", "after",
        "within_last_days", "is_true", "is_false",
    }  # fmt: skip
    assert {str(op) for op in Operator} == contract

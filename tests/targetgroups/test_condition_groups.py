"""Nested condition groups (#20): the API takes a tree of groups (all/any, up to three
levels deep), still takes the flat list of before (answered as a tree), refuses a bad
tree with a 400 naming the item by its path, and resolves members in one query."""

import importlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from crm.models import Account, Contact, Role
from targetgroups import selectors
from targetgroups.fields import MAX_CONDITIONS
from targetgroups.models import TargetGroup

URL = "/api/v1/target-groups/"
pytestmark = pytest.mark.django_db


def city(name: str) -> dict:
    return {"field": "contact.city", "operator": "equals", "value": name}


def industry(name: str) -> dict:
    return {"field": "account.industry", "operator": "equals", "value": name}


HELSINKI_OR_ESPOO_SOFTWARE = {
    "match": "all",
    "items": [{"match": "any", "items": [city("Helsinki"), city("Espoo")]}, industry("Software")],
}


@pytest.fixture
def people(org):
    software = Account.objects.create(organisation=org, name="Koodi Oy", industry="Software")
    paper = Account.objects.create(organisation=org, name="Paperi Oy", industry="Paper")
    make = Contact.objects.create
    return {
        "hki_sw": make(organisation=org, account=software, last_name="HkiSw", city="Helsinki"),
        "espoo_sw": make(organisation=org, account=software, last_name="EspooSw", city="espoo"),
        "hki_paper": make(organisation=org, account=paper, last_name="HkiPaper", city="Helsinki"),
        "oulu_sw": make(organisation=org, account=software, last_name="OuluSw", city="Oulu"),
        "espoo_none": make(organisation=org, last_name="EspooNone", city="Espoo"),
    }


def names(api, group_id) -> set[str]:
    return {row["last_name"] for row in api.get(f"{URL}{group_id}/members/").json()["results"]}


def test_two_level_group_selects_the_marketers_segment(api, people):
    response = api.post(
        URL, {"name": "Capital software", "conditions": HELSINKI_OR_ESPOO_SOFTWARE}, format="json"
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["conditions"] == HELSINKI_OR_ESPOO_SOFTWARE
    assert data["match"] == "all"
    assert data["member_count"] == 2
    assert names(api, data["id"]) == {"HkiSw", "EspooSw"}
    count = api.post(URL + "count/", {"conditions": HELSINKI_OR_ESPOO_SOFTWARE}, format="json")
    assert count.status_code == 200 and count.json() == {"count": 2}


def test_three_levels_deep_is_accepted(api, people):
    tree = {
        "match": "any",
        "items": [
            city("Oulu"),
            {
                "match": "all",
                "items": [
                    industry("Software"),
                    {"match": "any", "items": [city("Helsinki"), city("Espoo")]},
                ],
            },
        ],
    }
    response = api.post(URL, {"name": "Deep", "conditions": tree}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["match"] == "any"
    assert names(api, response.json()["id"]) == {"HkiSw", "EspooSw", "OuluSw"}


def test_members_are_one_query(people, org):
    group = TargetGroup.objects.create(
        organisation=org, name="G", conditions=HELSINKI_OR_ESPOO_SOFTWARE
    )
    with CaptureQueriesContext(connection) as queries:
        found = list(selectors.target_group_members(target_group=group))
    assert len(queries) == 1
    assert {c.last_name for c in found} == {"HkiSw", "EspooSw"}


def test_flat_list_is_still_accepted_and_answered_as_a_tree(api, people):
    body = {"name": "Flat", "match": "any", "conditions": [city("Helsinki"), city("Oulu")]}
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["conditions"] == {
        "match": "any",
        "items": [city("Helsinki"), city("Oulu")],
    }
    group = TargetGroup.objects.get(pk=response.json()["id"])
    assert group.conditions == response.json()["conditions"] and group.match == "any"
    # A flat PATCH goes under the group's current match.
    patched = api.patch(f"{URL}{group.pk}/", {"conditions": [city("Oulu")]}, format="json")
    assert patched.json()["conditions"] == {"match": "any", "items": [city("Oulu")]}
    # A match alone changes the top group's.
    patched = api.patch(f"{URL}{group.pk}/", {"match": "all"}, format="json")
    assert patched.status_code == 200
    group.refresh_from_db()
    assert group.match == "all" and group.conditions["match"] == "all"


def tree_with(*items, match="all") -> dict:
    return {"match": match, "items": list(items)}


TOO_DEEP = tree_with(tree_with(tree_with(tree_with(city("x")))))
BAD_TREES = [
    # (conditions, path of the error, key of the error)
    (tree_with(tree_with(city("a"), {"field": "x", "operator": "equals"})), [0, 1], "field"),
    (tree_with(city("a"), tree_with(match="some"), match="all"), [1], "match"),
    (tree_with(city("a"), {"match": "some", "items": [city("b")]}), [1], "match"),
    (tree_with(tree_with()), [0], "items"),
    (tree_with(TOO_DEEP["items"][0]), [0, 0, 0], "non_field_errors"),
    (tree_with({"match": "all", "items": [city("a")], "not": 1}), [0], "non_field_errors"),
    (tree_with({"match": "all", "items": "city is a"}), [0], "items"),
    ({"match": "most", "items": [city("a")]}, [], "match"),
    ({"match": "all", "items": {"a": 1}}, [], "items"),
]  # fmt: skip


@pytest.mark.parametrize(("conditions", "path", "key"), BAD_TREES)
def test_bad_tree_is_400_naming_the_path_and_saves_nothing(api, org, conditions, path, key):
    response = api.post(URL, {"name": "Bad", "conditions": conditions}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["conditions"][0]
    assert error["path"] == path
    if path:
        assert error["index"] == path[0]
    assert error["errors"][key][0]
    assert not TargetGroup.objects.exists()
    assert api.post(URL + "count/", {"conditions": conditions}, format="json").status_code == 400
    group = TargetGroup.objects.create(organisation=org, name="Kept", conditions=[city("a")])
    assert (
        api.patch(f"{URL}{group.pk}/", {"conditions": conditions}, format="json").status_code == 400
    )
    group.refresh_from_db()
    assert group.conditions == [city("a")]


@pytest.mark.parametrize(
    "conditions",
    [
        "city is Helsinki",
        5,
        None,
        {"items": [city("a")] * 30 + [tree_with(*[city("b")] * 30)]},
        {"field": "contact.city", "operator": "equals", "value": "x"},
    ],
)
def test_not_a_tree_or_too_big_is_400(api, conditions):
    response = api.post(URL, {"name": "Bad", "conditions": conditions}, format="json")
    assert response.status_code == 400, response.content
    message = str(response.json()["conditions"])
    assert message
    assert not TargetGroup.objects.exists()


def test_too_many_items_counts_every_level(api):
    tree = tree_with(*[tree_with(city("a"))] * (MAX_CONDITIONS // 2 + 1))
    response = api.post(URL, {"name": "Big", "conditions": tree}, format="json")
    assert response.status_code == 400
    assert str(MAX_CONDITIONS) in response.json()["conditions"][0]


def test_match_that_differs_from_the_trees_is_400(api):
    body = {"name": "Both", "match": "any", "conditions": HELSINKI_OR_ESPOO_SOFTWARE}
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["match"][0]
    assert not TargetGroup.objects.exists()


def test_viewer_cannot_write_a_tree(make_user, org):
    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.VIEWER))
    response = client.post(
        URL, {"name": "x", "conditions": HELSINKI_OR_ESPOO_SOFTWARE}, format="json"
    )
    assert response.status_code == 403


def test_migration_turns_stored_lists_into_trees_and_back(org):
    migration = importlib.import_module("targetgroups.migrations.0002_conditions_as_tree")
    from django.apps import apps

    flat = TargetGroup.objects.create(
        organisation=org, name="F", match="any", conditions=[city("a")]
    )
    nested = TargetGroup.objects.create(
        organisation=org, name="N", conditions=HELSINKI_OR_ESPOO_SOFTWARE
    )
    migration.to_tree(apps, None)
    flat.refresh_from_db()
    assert flat.conditions == {"match": "any", "items": [city("a")]}
    migration.to_list(apps, None)
    flat.refresh_from_db()
    nested.refresh_from_db()
    assert flat.conditions == [city("a")] and flat.match == "any"
    assert nested.conditions == HELSINKI_OR_ESPOO_SOFTWARE

"""Member counts of a page of target groups: one query, the same numbers as each
group's own count, and "needs attention" for a group whose conditions cannot be built."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Account, Contact
from targetgroups import selectors
from targetgroups.models import TargetGroup

URL = "/api/v1/target-groups/"

GROUPS = [
    ("all", [{"field": "contact.city", "operator": "equals", "value": "Helsinki"}]),
    ("all", [{"field": "account.city", "operator": "not_equals", "value": "Tampere"}]),
    ("all", [{"field": "account.name", "operator": "is_empty"}]),
    (
        "any",
        [
            {"field": "contact.language", "operator": "equals", "value": "sv"},
            {"field": "account.industry", "operator": "contains", "value": "med"},
        ],
    ),
    (
        "all",
        [
            {"field": "contact.sms_opt_out", "operator": "is_false"},
            {"field": "contact.created_at", "operator": "within_last_days", "value": 30},
        ],
    ),
    ("all", []),
]


@pytest.fixture
def groups(org, other_org) -> list[TargetGroup]:
    """Groups over contacts with and without an account, with hand-picked contacts."""
    kaleva = Account.objects.create(organisation=org, name="Kaleva", city="Helsinki")
    media = Account.objects.create(organisation=org, name="Ääni", city="Tampere", industry="Media")
    people = [
        Contact.objects.create(organisation=org, last_name="A", city="Helsinki", account=kaleva),
        Contact.objects.create(organisation=org, last_name="B", city="Turku", account=media),
        Contact.objects.create(organisation=org, last_name="C", city="Helsinki", language="sv"),
        Contact.objects.create(organisation=org, last_name="D", city="", sms_opt_out=True),
        Contact.objects.create(organisation=org, last_name="E", city="Oulu", account=kaleva),
    ]
    # Another organisation's contacts never count, whatever matches.
    Contact.objects.create(organisation=other_org, last_name="X", city="Helsinki")
    made = []
    for n, (match, conditions) in enumerate(GROUPS):
        group = TargetGroup.objects.create(
            organisation=org, name=f"G{n}", match=match, conditions=conditions
        )
        group.included_contacts.set(people[n % 5 : n % 5 + 1])
        group.excluded_contacts.set([people[(n + 2) % 5]])
        made.append(group)
    return made


def test_counts_equal_each_groups_own_count(org, groups):
    counts = selectors.target_group_member_counts(organisation=org, target_groups=groups)
    expected = {g.pk: selectors.target_group_members(target_group=g).count() for g in groups}
    assert counts == expected
    assert len(set(expected.values())) > 2  # the groups tell the contacts apart


def test_counts_are_one_query(org, groups):
    with CaptureQueriesContext(connection) as queries:
        selectors.target_group_member_counts(organisation=org, target_groups=groups)
    assert len(queries) == 1


def test_the_list_page_shows_the_same_counts(browser, org, groups):
    response = browser.get("/target-groups/")
    shown = {group.pk: count for group, count in response.context["rows"]}
    assert shown == {g.pk: selectors.target_group_member_count(target_group=g) for g in groups}


def _queries(fetch) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = fetch()
    assert response.status_code == 200
    return len(queries)


def test_the_list_page_and_the_api_list_do_not_query_per_row(browser, api, org, groups):
    client = browser
    page_few = _queries(lambda: client.get("/target-groups/"))
    api_few = _queries(lambda: api.get(URL))
    for n in range(10):
        TargetGroup.objects.create(
            organisation=org,
            name=f"More {n}",
            conditions=[{"field": "contact.city", "operator": "equals", "value": "Oulu"}],
        )
    assert _queries(lambda: client.get("/target-groups/")) == page_few
    assert _queries(lambda: api.get(URL)) == api_few


def test_the_api_list_shows_the_same_counts_and_ids(api, groups):
    rows = {row["id"]: row for row in api.get(URL).json()["results"]}
    for group in groups:
        detail = api.get(f"{URL}{group.pk}/").json()
        assert rows[group.pk] == detail
        assert detail["member_count"] == selectors.target_group_member_count(target_group=group)


BROKEN = [
    [{"field": "contact.shoe_size", "operator": "equals", "value": "42"}],
    [{"field": "contact.city", "operator": "is_before", "value": "x"}],
    {"not": "a list"},
]


@pytest.mark.parametrize("conditions", BROKEN)
def test_a_group_whose_conditions_cannot_be_built_needs_attention(browser, api, org, conditions):
    Contact.objects.create(organisation=org, last_name="A", city="Helsinki")
    good = TargetGroup.objects.create(
        organisation=org,
        name="Good",
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Helsinki"}],
    )
    broken = TargetGroup.objects.create(organisation=org, name="Broken", conditions=conditions)
    response = browser.get("/target-groups/")
    assert response.status_code == 200
    assert dict(response.context["rows"]) == {good: 1, broken: None}
    assert "needs attention" in response.content.decode()
    listed = {row["name"]: row["member_count"] for row in api.get(URL).json()["results"]}
    assert listed == {"Good": 1, "Broken": None}

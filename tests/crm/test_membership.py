"""``request.membership``: one lookup per request, and the right user's under DRF."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from crm.models import Account, Contact, Role
from targetgroups.models import TargetGroup

HELSINKI = [{"field": "contact.city", "operator": "equals", "value": "Helsinki"}]


def membership_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if '"crm_membership"' in q["sql"]]


@pytest.fixture
def groups(org, contact) -> list[TargetGroup]:
    return [
        TargetGroup.objects.create(organisation=org, name=f"G{n}", conditions=HELSINKI)
        for n in range(3)
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/target-groups/",
        "/target-groups/new/",
        "/target-groups/{pk}/",
        "/target-groups/{pk}/members/",
        "/target-groups/{pk}/sms/",
        "/contacts/",
    ],
)
def test_a_page_looks_the_membership_up_once(browser, groups, path):
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(path.format(pk=groups[0].pk))
    assert response.status_code == 200
    assert len(membership_queries(queries)) == 1


@pytest.mark.parametrize(
    "path", ["/api/v1/target-groups/", "/api/v1/contacts/", "/api/v1/target-groups/{pk}/"]
)
def test_an_api_request_looks_the_membership_up_once(api, groups, path):
    with CaptureQueriesContext(connection) as queries:
        response = api.get(path.format(pk=groups[0].pk))
    assert response.status_code == 200
    assert len(membership_queries(queries)) == 1


def test_an_anonymous_request_looks_up_no_membership(db):
    with CaptureQueriesContext(connection) as queries:
        assert Client().get("/login/").status_code == 200
    assert membership_queries(queries) == []


def test_a_token_request_is_scoped_to_the_tokens_user(make_user, org, other_org, account):
    """DRF authenticates inside the view: the membership is the token's user's, even
    when the same client also carries another user's session."""
    Account.objects.create(organisation=other_org, name="Theirs Oy")
    Contact.objects.create(organisation=other_org, last_name="Stranger")
    theirs = make_user(other_org, role=Role.MEMBER)
    ours = make_user(org)
    client = APIClient()
    client.force_login(ours)  # a session of a user of the other organisation
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=theirs).key}")
    accounts = client.get("/api/v1/accounts/").json()
    assert [a["name"] for a in accounts["results"]] == ["Theirs Oy"]
    contacts = client.get("/api/v1/contacts/").json()
    assert [c["last_name"] for c in contacts["results"]] == ["Stranger"]


def test_a_token_of_a_user_without_organisation_is_refused(make_user, org, account):
    client = APIClient()
    client.force_login(make_user(org))
    nobody = make_user(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=nobody).key}")
    assert client.get("/api/v1/accounts/").status_code == 403

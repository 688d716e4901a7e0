"""``GET /api/v1/sms/quota/``: the quota and its ledger, scoped to the organisation."""

from rest_framework.test import APIClient

from crm.models import Role
from sms.quota import quota_adjust, quota_reserve, quota_top_up
from tests.factories import SendoutFactory

URL = "/api/v1/sms/quota/"


def test_anonymous_is_401():
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_a_user_without_an_organisation_is_403(make_user):
    client = APIClient()
    client.force_authenticate(make_user(None))
    assert client.get(URL).status_code == 403


def test_empty_quota(api):
    assert api.get(URL).json() == {
        "remaining": 0,
        "count": 0,
        "next": None,
        "previous": None,
        "transactions": [],
    }


def test_shape_latest_first_and_scoped(api, org, other_org, user):
    quota_top_up(organisation=org, amount=100, reason="Invoice 1", created_by=user)
    sendout = SendoutFactory(organisation=org, body="x")
    quota_reserve(organisation=org, amount=30, sendout=sendout, created_by=user)
    quota_adjust(organisation=org, amount=-5, reason="Fix")
    quota_top_up(organisation=other_org, amount=999, reason="Theirs")

    body = api.get(URL).json()
    assert body["remaining"] == 65
    assert body["count"] == 3
    rows = body["transactions"]
    assert [(r["kind"], r["amount"], r["balance_after"]) for r in rows] == [
        ("adjustment", -5, 65),
        ("reservation", -30, 70),
        ("top_up", 100, 100),
    ]
    assert set(rows[0]) == {
        "id",
        "kind",
        "amount",
        "balance_after",
        "reason",
        "sendout",
        "created_by",
        "created_at",
    }
    assert rows[0]["created_by"] is None
    assert rows[0]["reason"] == "Fix"
    assert rows[1]["sendout"] == sendout.pk
    assert rows[1]["created_by"] == user.username
    assert rows[2]["sendout"] is None


def test_paginated(api, org):
    for n in range(1, 8):
        quota_top_up(organisation=org, amount=n)
    body = api.get(URL, {"page_size": 3}).json()
    assert body["count"] == 7
    assert [r["amount"] for r in body["transactions"]] == [7, 6, 5]
    assert body["remaining"] == 28
    assert body["previous"] is None
    second = api.get(body["next"]).json()
    assert [r["amount"] for r in second["transactions"]] == [4, 3, 2]


def test_a_viewer_may_read(make_user, org):
    quota_top_up(organisation=org, amount=4)
    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.VIEWER))
    assert client.get(URL).json()["remaining"] == 4


def test_read_only(api, org):
    response = api.post(URL, {"remaining": 1000}, format="json")
    assert response.status_code == 405
    assert api.get(URL).json()["remaining"] == 0


def test_schema_describes_the_quota(api):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert "/api/v1/sms/quota/" in response.json()["paths"]

import pytest
from rest_framework.test import APIClient

from crm.models import Account, Role

URL = "/api/v1/accounts/"
VALID = {
    "name": "Pohjola Oy",
    "business_id": "0112038-9",
    "industry": "Software",
    "city": "Tampere",
    "country": "FI",
    "phone": "+358 9 123 4567",
    "email": "info@pohjola.example",
    "website": "https://pohjola.example",
}


def test_create_then_read_back(api, org):
    response = api.post(URL, VALID, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in VALID} == VALID
    account = Account.objects.get(pk=body["id"])
    assert account.organisation == org
    assert api.get(f"{URL}{body['id']}/").json() == body


def test_list_is_paginated_and_scoped(api, org, other_org):
    Account.objects.create(organisation=org, name="Mine Oy")
    Account.objects.create(organisation=other_org, name="Theirs Oy")
    body = api.get(URL).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert [a["name"] for a in body["results"]] == ["Mine Oy"]


def test_page_size_is_capped_at_1000(api, org):
    Account.objects.bulk_create(
        [Account(organisation=org, name=f"Company {i:04d}") for i in range(1001)]
    )
    body = api.get(URL, {"page_size": 5000}).json()
    assert body["count"] == 1001
    assert len(body["results"]) == 1000


def test_search(api, org):
    Account.objects.create(organisation=org, name="Saimaa Logistics Oy", city="Lappeenranta")
    Account.objects.create(organisation=org, name="Kivi Oy", city="Oulu")
    names = [a["name"] for a in api.get(URL, {"search": "lappeen"}).json()["results"]]
    assert names == ["Saimaa Logistics Oy"]


def test_patch_and_delete(api, account):
    response = api.patch(f"{URL}{account.pk}/", {"city": "Turku"}, format="json")
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.city == "Turku"
    assert api.delete(f"{URL}{account.pk}/").status_code == 204
    assert not Account.objects.filter(pk=account.pk).exists()


def test_put_is_not_offered(api, account):
    assert api.put(f"{URL}{account.pk}/", VALID, format="json").status_code == 405


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "This field may not be blank."),
        ("name", "   ", "This field may not be blank."),
        ("name", "x" * 201, "Ensure this field has no more than 200 characters."),
        ("business_id", "1234567", "Enter a Finnish business ID"),
        ("business_id", "0112038-8", "valid check digit"),
        ("country", "Finland", "no more than 2 characters"),
        ("country", "F1", "two-letter country code"),
        ("phone", "call me", "Enter a phone number"),
        ("email", "not-an-email", "Enter a valid email address."),
        ("website", "pohjola", "Enter a valid URL."),
    ],
)
def test_each_bad_field_is_400_and_saves_nothing(api, field, value, message):
    response = api.post(URL, {**VALID, field: value}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert any(message in m for m in errors[field]), errors
    assert Account.objects.count() == 0


def test_bad_field_on_patch_changes_nothing(api, account):
    response = api.patch(f"{URL}{account.pk}/", {"email": "nope", "city": "Oulu"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()
    account.refresh_from_db()
    assert account.city == "Helsinki"


def test_business_id_is_unique_within_an_organisation_only(api, org, other_org):
    Account.objects.create(organisation=other_org, name="Theirs", business_id="0112038-9")
    assert api.post(URL, VALID, format="json").status_code == 201
    response = api.post(URL, {**VALID, "name": "Copy Oy"}, format="json")
    assert response.status_code == 400
    assert "already has this business ID" in response.json()["business_id"][0]


def test_missing_name_is_400(api):
    response = api.post(URL, {"city": "Oulu"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["This field is required."]}


def test_anonymous_gets_401(db, account):
    client = APIClient()
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert client.post(URL, VALID, format="json").status_code == 401
    assert client.get(f"{URL}{account.pk}/").status_code == 401


def test_user_without_organisation_gets_403(make_user, account):
    client = APIClient()
    client.force_authenticate(make_user(None))
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_viewer_may_read_but_not_write(make_user, org, account):
    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.VIEWER))
    assert client.get(URL).status_code == 200
    assert client.post(URL, VALID, format="json").status_code == 403
    assert client.patch(f"{URL}{account.pk}/", {"city": "X"}, format="json").status_code == 403
    assert client.delete(f"{URL}{account.pk}/").status_code == 403
    assert Account.objects.filter(pk=account.pk, city="Helsinki").exists()


def test_another_organisations_account_is_404(api, other_org):
    theirs = Account.objects.create(organisation=other_org, name="Theirs Oy", city="Vaasa")
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(f"{URL}{theirs.pk}/", {"city": "X"}, format="json")
        assert response.status_code == 404, method
        assert response.json() == {
            "detail": "No Account matches the given query.",
            "code": "not_found",
        }
    theirs.refresh_from_db()
    assert theirs.city == "Vaasa"


def test_token_authentication(user, account):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(URL).json()["count"] == 1


def test_session_writes_need_csrf(user, account):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)  # django-axes refuses a login without a request (Client.login)
    assert client.get(URL).status_code == 200
    response = client.post(URL, VALID, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]

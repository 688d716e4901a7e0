from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Account, Contact

URL = "/api/v1/contacts/bulk/"


def rows(n: int, account: Account | None = None) -> list[dict]:
    return [
        {
            "first_name": f"Etunimi{i}",
            "last_name": "Korhonen",
            "mobile_phone": f"+358 40 {i:07d}",
            "account": account.pk if account else None,
        }
        for i in range(n)
    ]


def test_creates_all_rows_and_answers_their_ids(api, org, account):
    response = api.post(URL, rows(3, account), format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["created"] == 3
    assert sorted(body["ids"]) == sorted(Contact.objects.values_list("id", flat=True))
    assert set(Contact.objects.values_list("organisation", "account")) == {(org.pk, account.pk)}


def test_one_bad_row_saves_nothing_and_names_every_bad_row(api, account):
    data = rows(5, account)
    data[1]["email"] = "broken"
    data[3]["mobile_phone"] = "phone"
    data[4]["account"] = 123456789
    response = api.post(URL, data, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "rows": [
            {"index": 1, "errors": {"email": ["Enter a valid email address."]}},
            {
                "index": 3,
                "errors": {
                    "mobile_phone": [
                        "Enter a phone number with digits, spaces and an optional leading +."
                    ]
                },
            },
            {"index": 4, "errors": {"account": ["No account with this id."]}},
        ]
    }
    assert Contact.objects.count() == 0


def test_a_row_that_is_not_an_object_is_named(api):
    data = rows(2)
    data[1] = "Matti"
    response = api.post(URL, data, format="json")
    assert response.status_code == 400
    assert response.json()["rows"][0]["index"] == 1
    assert Contact.objects.count() == 0


def test_body_must_be_a_list_of_1_to_5000(api):
    for body in ({"first_name": "Matti"}, [], rows(5001)):
        response = api.post(URL, body, format="json")
        assert response.status_code == 400
        assert response.json() == {"non_field_errors": ["Send a JSON list of 1 to 5,000 contacts."]}
    assert Contact.objects.count() == 0


def test_5000_rows_in_a_bounded_number_of_queries(api, account):
    with CaptureQueriesContext(connection) as queries:
        response = api.post(URL, rows(5000, account), format="json")
    assert response.status_code == 201
    assert response.json()["created"] == 5000
    assert Contact.objects.count() == 5000
    # Membership, account ids, batched inserts (SQLite's batches are small): never
    # one query per row. (SQLite's 999 variables per query hold about 35 contacts of
    # 28 columns, the stored normalised phones and the legal basis with its stamps
    # included.)
    assert len(queries) <= 5000 // 30


def test_anonymous_and_viewers_are_refused(db, make_user, org):
    from rest_framework.test import APIClient

    assert APIClient().post(URL, rows(1), format="json").status_code == 401
    viewer = APIClient()
    viewer.force_authenticate(make_user(org, role="viewer"))
    assert viewer.post(URL, rows(1), format="json").status_code == 403
    assert Contact.objects.count() == 0

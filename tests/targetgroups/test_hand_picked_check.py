"""Hand-picked contact ids are checked once per request, in the services, and a bad id
answers 400 naming the list, with the message it always had."""

import pytest

from crm.models import Contact
from targetgroups import selectors
from targetgroups.models import TargetGroup

URL = "/api/v1/target-groups/"


@pytest.fixture
def checks(monkeypatch) -> list[list[int]]:
    """The id lists checked against the organisation, one entry per check."""
    seen: list[list[int]] = []
    real = selectors.contacts_not_in_organisation

    def spy(*, organisation, ids):
        seen.append(sorted(ids))
        return real(organisation=organisation, ids=ids)

    monkeypatch.setattr(selectors, "contacts_not_in_organisation", spy)
    return seen


@pytest.fixture
def stranger(other_org) -> Contact:
    return Contact.objects.create(organisation=other_org, last_name="Stranger")


def unknown(pk: int) -> str:
    return f"No contacts with these ids in your organisation: {pk}."


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "", {"name": "x", "included_contacts": ["{ours}"]}),
        ("patch", "{group}/", {"excluded_contacts": ["{ours}"]}),
        ("post", "count/", {"conditions": [], "included_contacts": ["{ours}"]}),
        ("post", "{group}/include/", {"contacts": ["{ours}"]}),
        ("post", "{group}/exclude/", {"contacts": ["{ours}"]}),
    ],
)
def test_each_request_checks_the_ids_once(api, org, contact, checks, method, path, body):
    group = TargetGroup.objects.create(organisation=org, name="G")
    body = {
        key: [contact.pk] if isinstance(value, list) and value == ["{ours}"] else value
        for key, value in body.items()
    }
    response = getattr(api, method)(URL + path.format(group=group.pk), body, format="json")
    assert response.status_code in (200, 201), response.json()
    assert checks == [[contact.pk]]


def test_a_foreign_id_is_named_under_its_list(api, org, contact, stranger):
    for key in ("included_contacts", "excluded_contacts"):
        response = api.post(URL, {"name": "x", key: [stranger.pk]}, format="json")
        assert response.status_code == 400
        assert response.json()[key] == [unknown(stranger.pk)]
    response = api.post(
        URL + "count/", {"conditions": [], "excluded_contacts": [stranger.pk]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["excluded_contacts"] == [unknown(stranger.pk)]
    group = TargetGroup.objects.create(organisation=org, name="G")
    response = api.post(f"{URL}{group.pk}/include/", {"contacts": [stranger.pk]}, format="json")
    assert response.status_code == 400
    assert response.json()["contacts"] == [unknown(stranger.pk)]
    assert not TargetGroup.objects.exclude(pk=group.pk).exists()
    assert not group.included_contacts.exists()


def test_both_included_and_excluded_is_refused_on_the_count_too(api, contact):
    body = {"conditions": [], "included_contacts": [contact.pk], "excluded_contacts": [contact.pk]}
    response = api.post(URL + "count/", body, format="json")
    assert response.status_code == 400
    assert response.json()["excluded_contacts"] == [
        f"A contact cannot be both included and excluded: {contact.pk}."
    ]

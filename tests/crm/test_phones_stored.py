"""Every way a contact is written stores its phone fields normalised
(``<field>_e164`` and ``<field>_problem``), so that SMS previews parse nothing."""

import importlib

import pytest
from django.apps import apps
from django.core.management import call_command

from crm.models import Contact
from crm.phones import PhoneProblem, normalise_phone

pytestmark = pytest.mark.django_db

MESSY = [
    ("+358 40 123 4567", "+358401234567", ""),
    ("00358-40-765 4321", "+358407654321", ""),
    ("040 123 4567", "", "missing_country_code"),
    ("+358 12", "", "invalid_number"),
    ("+358 40 123 4567 890", "", "invalid_number"),
    ("", "", "missing_number"),
]


def stored(contact_id: int) -> tuple[str, str, str, str]:
    return Contact.objects.values_list(
        "mobile_phone_e164", "mobile_phone_problem", "work_phone_e164", "work_phone_problem"
    ).get(pk=contact_id)


def consistent(contact: Contact) -> bool:
    mobile, work = normalise_phone(contact.mobile_phone), normalise_phone(contact.work_phone)
    return stored(contact.pk) == (mobile.e164, mobile.problem, work.e164, work.problem)


@pytest.mark.parametrize(("raw", "e164", "problem"), MESSY)
def test_api_create_stores_the_normalised_number(api, raw, e164, problem):
    response = api.post(
        "/api/v1/contacts/", {"first_name": "A", "mobile_phone": raw}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert stored(response.json()["id"]) == (e164, problem, "", "missing_number")


def test_api_patch_restores_the_normalised_number(api, contact):
    assert stored(contact.pk)[:2] == ("+358401234567", "")
    url = f"/api/v1/contacts/{contact.pk}/"
    assert api.patch(url, {"mobile_phone": "040 1"}, format="json").status_code == 200
    assert stored(contact.pk)[:2] == ("", "missing_country_code")
    assert api.patch(url, {"work_phone": "+46 70 123 45 67"}, format="json").status_code == 200
    assert stored(contact.pk) == ("", "missing_country_code", "+46701234567", "")
    assert api.patch(url, {"mobile_phone": ""}, format="json").status_code == 200
    assert stored(contact.pk)[:2] == ("", "missing_number")


def test_api_bulk_stores_the_normalised_numbers(api):
    rows = [{"first_name": f"P{i}", "mobile_phone": raw} for i, (raw, _, _) in enumerate(MESSY)]
    rows[0]["work_phone"] = "+358 9 1234 567"
    response = api.post("/api/v1/contacts/bulk/", rows, format="json")
    assert response.status_code == 201, response.json()
    ids = response.json()["ids"]
    assert [stored(i)[:2] for i in ids] == [(e164, problem) for _, e164, problem in MESSY]
    assert stored(ids[0])[2:] == ("+35891234567", "")


def test_admin_save_stores_the_normalised_number(admin_client, org, contact):
    url = f"/admin/crm/contact/{contact.pk}/change/"
    response = admin_client.post(
        url,
        {
            "organisation": org.pk,
            "first_name": "Matti",
            "last_name": "Virtanen",
            "mobile_phone": "00358 50 765 4321",
            "work_phone": "09 123",
            "legal_basis": "none",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert stored(contact.pk) == ("+358507654321", "", "", "missing_country_code")


def test_save_with_update_fields_stores_the_normalised_number(contact):
    contact.mobile_phone = "+358 12"
    contact.save(update_fields=["mobile_phone"])
    assert stored(contact.pk)[:2] == ("", "invalid_number")


def test_seed_demo_stores_the_normalised_numbers():
    call_command("seed_demo", contacts=300)
    contacts = list(Contact.objects.filter(organisation__slug="demo"))
    assert len(contacts) == 300
    assert all(consistent(c) for c in contacts)
    problems = {c.mobile_phone_problem for c in contacts}
    assert {"", "missing_number", "missing_country_code", "invalid_number"} <= problems


def test_the_data_migration_normalises_existing_rows(org):
    contacts = [
        Contact.objects.create(organisation=org, mobile_phone=raw, work_phone=raw)
        for raw, _, _ in MESSY
    ]
    Contact.objects.update(
        mobile_phone_e164="", mobile_phone_problem="", work_phone_e164="", work_phone_problem=""
    )
    migration = importlib.import_module("crm.migrations.0002_contact_phone_normalised")
    migration.normalise_existing(apps, None)
    assert all(consistent(c) for c in contacts)


def test_problems_are_the_sms_skip_reasons():
    from sms.rules.numbers import SkipReason

    assert {p.value for p in PhoneProblem} <= {r.value for r in SkipReason}

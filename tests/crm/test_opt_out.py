"""The SMS opt-out stamp: written by one crm service, exactly when the flag changes."""

import datetime

from django.test import Client
from django.utils import timezone

from crm import services
from crm.models import Contact, OptOutSource

LONG_AGO = timezone.now() - datetime.timedelta(days=400)


def test_one_contact_is_stamped_only_when_its_flag_changes(contact):
    assert services.contact_opt_out_set(
        contact=contact, opted_out=True, source=OptOutSource.USER, at=LONG_AGO
    )
    assert (contact.sms_opt_out, contact.sms_opt_out_at, contact.sms_opt_out_source) == (
        True,
        LONG_AGO,
        OptOutSource.USER,
    )
    assert not services.contact_opt_out_set(
        contact=contact, opted_out=True, source=OptOutSource.API
    )
    assert (contact.sms_opt_out_at, contact.sms_opt_out_source) == (LONG_AGO, OptOutSource.USER)


def test_many_contacts_are_stamped_only_where_the_flag_changes(org):
    before = timezone.now()
    kept = Contact.objects.create(
        organisation=org,
        last_name="Kept",
        sms_opt_out=True,
        sms_opt_out_at=LONG_AGO,
        sms_opt_out_source=OptOutSource.IMPORT,
    )
    changed = [Contact.objects.create(organisation=org, last_name=f"C{n}") for n in range(3)]
    n = services.contacts_opt_out_set(
        contacts=Contact.objects.filter(organisation=org), opted_out=True, source=OptOutSource.API
    )
    assert n == 3
    kept.refresh_from_db()
    assert (kept.sms_opt_out_at, kept.sms_opt_out_source) == (LONG_AGO, OptOutSource.IMPORT)
    for contact in changed:
        contact.refresh_from_db()
        assert contact.sms_opt_out and contact.sms_opt_out_at >= before
        assert contact.sms_opt_out_source == OptOutSource.API


def test_create_update_and_bulk_stamp_through_the_service(org):
    created = services.contact_create(organisation=org, data={"last_name": "A"})
    assert (created.sms_opt_out, created.sms_opt_out_at) == (False, None)
    services.contact_update(contact=created, data={"sms_opt_out": True}, source=OptOutSource.IMPORT)
    created.refresh_from_db()
    assert created.sms_opt_out_source == OptOutSource.IMPORT
    bulk = services.contacts_bulk_create(
        organisation=org, rows=[{"last_name": "B", "sms_opt_out": True}, {"last_name": "C"}]
    )
    assert [(c.sms_opt_out_source, c.sms_opt_out_at is not None) for c in bulk] == [
        (OptOutSource.API, True),
        ("", False),
    ]


def _admin_post(client: Client, contact: Contact, opted_out: bool) -> None:
    data = {
        "organisation": contact.organisation_id,
        "last_name": contact.last_name,
        "language": contact.language,
        "legal_basis": contact.legal_basis,
    }
    if opted_out:
        data["sms_opt_out"] = "on"
    response = client.post(f"/admin/crm/contact/{contact.pk}/change/", data)
    assert response.status_code == 302


def test_the_admin_stamps_a_change_of_the_flag_only(superuser_client, org):
    contact = Contact.objects.create(organisation=org, last_name="Admin")
    client = superuser_client
    _admin_post(client, contact, opted_out=False)
    contact.refresh_from_db()
    assert (contact.sms_opt_out, contact.sms_opt_out_at) == (False, None)
    _admin_post(client, contact, opted_out=True)
    contact.refresh_from_db()
    assert contact.sms_opt_out and contact.sms_opt_out_source == OptOutSource.ADMIN
    stamped = contact.sms_opt_out_at
    _admin_post(client, contact, opted_out=True)
    contact.refresh_from_db()
    assert contact.sms_opt_out_at == stamped

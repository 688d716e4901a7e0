"""Each contact's opt-out code (``Contact.optout_code``): made with the contact,
and given to every existing contact by migration ``crm/0008``."""

import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from crm.models import Contact
from tests.factories import ContactFactory

CODE = re.compile(r"[0-9A-Za-z]{8}")
BEFORE = ("crm", "0007_contact_phone_not_mobile")


def test_every_new_contact_has_a_code_of_its_own(org):
    contacts = ContactFactory.create_batch(20, organisation=org)
    codes = {c.optout_code for c in Contact.objects.filter(pk__in=[c.pk for c in contacts])}
    assert len(codes) == 20
    assert all(CODE.fullmatch(code) for code in codes)


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_each_existing_contact_its_own_code_and_reverses():
    call_command("migrate", *BEFORE, verbosity=0)
    try:
        apps = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        organisation = apps.get_model("crm", "Organisation").objects.create(name="O", slug="o")
        old = apps.get_model("crm", "Contact")
        old.objects.bulk_create(
            [old(organisation=organisation, first_name=f"N{i}") for i in range(1500)]
        )
        call_command("migrate", "crm", "0008", verbosity=0)
        codes = list(Contact.objects.values_list("optout_code", flat=True))
        assert len(codes) == 1500
        assert len(set(codes)) == 1500
        assert all(CODE.fullmatch(code) for code in codes)
        call_command("migrate", *BEFORE, verbosity=0)
        assert "optout_code" not in {
            column.name
            for column in connection.introspection.get_table_description(
                connection.cursor(), "crm_contact"
            )
        }
    finally:
        call_command("migrate", verbosity=0)

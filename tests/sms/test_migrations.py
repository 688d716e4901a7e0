"""The reversals of the SMS migrations that carry hand-written SQL or data
(``sms/0019``: the contact's constraint replaced by a trigger on PostgreSQL;
``sms/0020``: ``Sendout.messages_written``), forwards and back on a database
with a message in it."""

import pytest
from django.core.management import call_command
from django.db import connection

from sms.models import OutboundMessage, Sendout
from tests.factories import SmsSettingsFactory, create_sendout, sendable_contacts

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BEFORE = ("sms", "0018_outbound_message_lighter")


def _contact_constraint() -> bool:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "sms_outboundmessage")
    return any(
        c["foreign_key"] == ("crm_contact", "id") and c["columns"] == ["contact_id"]
        for c in constraints.values()
    )


def _trigger() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_trigger WHERE tgname = 'sms_contact_deleted'")
        return cursor.fetchone() is not None


def _columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return {c.name for c in connection.introspection.get_table_description(cursor, table)}


def test_0019_and_0020_reverse_and_apply_again(org, user, town_group):
    SmsSettingsFactory(organisation=org, quota=10)
    [contact] = sendable_contacts(org, 1)
    sendout = create_sendout(target_group=town_group, created_by=user)
    assert (_trigger(), _contact_constraint()) == (True, False)
    assert "messages_written" in _columns("sms_sendout")
    try:
        call_command("migrate", *BEFORE, verbosity=0)
        assert (_trigger(), _contact_constraint()) == (False, True)
        assert "messages_written" not in _columns("sms_sendout")
        with connection.cursor() as cursor:
            cursor.execute("SELECT contact_id FROM sms_outboundmessage")
            assert cursor.fetchall() == [(contact.pk,)]
    finally:
        call_command("migrate", verbosity=0)
    assert (_trigger(), _contact_constraint()) == (True, False)
    assert Sendout.objects.get(pk=sendout.pk).messages_written  # the default: written
    contact.delete()  # the trigger blanks the message's contact
    assert OutboundMessage.objects.get().contact_id is None

"""The provider has answered but PostgreSQL dropped our connection meanwhile:
the outcomes are written on a fresh connection, so accepted messages end `sent`
(not `unknown`) and nothing is recorded twice. A real terminated backend."""

import psycopg
import pytest
from django.db import connection

from sms.backends import locmem
from sms.statuses import MessageStatus
from tests.factories import SmsSettingsFactory, create_sendout, sendable_contacts
from tests.sms.books import assert_books_balance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class ConnectionKillingBackend(locmem.SmsBackend):
    """Sends like locmem, then has PostgreSQL terminate the caller's session."""

    def send_messages(self, messages):
        results = super().send_messages(messages)
        pid = connection.connection.info.backend_pid
        params = connection.get_connection_params()
        with psycopg.connect(**params, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return results


def test_results_are_recorded_on_a_fresh_connection(
    org, user, town_group, settings, sms_outbox, send_to_the_end
):
    settings.SMS_BACKEND = f"{__name__}.ConnectionKillingBackend"
    SmsSettingsFactory(organisation=org, quota=20)
    sendable_contacts(org, 4)
    sendout = create_sendout(
        target_group=town_group, created_by=user, body="Hei {{contact.first_name}}"
    )
    send_to_the_end(sendout)

    assert len(sms_outbox) == 4
    assert set(sendout.messages.values_list("status", flat=True)) == {MessageStatus.SENT}
    sendout.refresh_from_db()
    assert sendout.status == "completed"
    assert_books_balance(org, sendout, topped_up=20)

"""The provider has answered but PostgreSQL dropped our connection meanwhile:
the outcomes are written on a fresh connection, so accepted messages end `sent`
(not `unknown`) and nothing is recorded twice. A real terminated backend."""

import psycopg
import pytest
from django.db import connection

from sms.backends import locmem
from sms.sendouts.create import sendout_create
from sms.sendouts.send import sendout_dispatch, sendout_send_chunk
from sms.statuses import MessageStatus
from tests.sms.sending_helpers import assert_books_balance, enable_sms, make_contacts, make_group

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


def test_results_are_recorded_on_a_fresh_connection(org, user, settings, sms_outbox):
    settings.SMS_BACKEND = f"{__name__}.ConnectionKillingBackend"
    enable_sms(org, quota=20)
    make_contacts(org, 4)
    sendout, _ = sendout_create(
        target_group=make_group(org),
        created_by=user,
        sender="operator",
        phone_field="mobile_phone",
        body="Hei {{contact.first_name}}",
    )
    for chunk in sendout_dispatch(sendout_id=sendout.pk):
        sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunk)

    assert len(sms_outbox) == 4
    assert set(sendout.messages.values_list("status", flat=True)) == {MessageStatus.SENT}
    sendout.refresh_from_db()
    assert sendout.status == "completed"
    assert_books_balance(org, sendout, topped_up=20)

"""Claims are leases (issue #16): made in slices no larger than the backend's
concurrency, held by the worker that sends them, renewed while it works, and
ended when the outcome is recorded."""

import time
from collections.abc import Sequence

import pytest

from sms.backends import SendResult, SmsMessage
from sms.backends.locmem import SmsBackend as LocmemBackend
from sms.models import OutboundMessage
from sms.sendouts.send import sendout_dispatch, sendout_send_chunk
from sms.statuses import MessageStatus
from tests.factories import SmsSettingsFactory, create_sendout, sendable_contacts

seen: list[list[tuple[str, str, object]]] = []
"""For each call of the backend: (status, holder, lease end) of every message in the database."""


class WatchingBackend(LocmemBackend):
    """locmem, which notes what the database says while a slice is in flight and
    takes ``delay`` seconds per slice."""

    delay = 0.0

    def send_messages(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        seen.append(
            list(OutboundMessage.objects.values_list("status", "claimed_by", "claimed_until"))
        )
        time.sleep(self.delay)
        return super().send_messages(messages)


@pytest.fixture
def watching(settings, sms_outbox):
    settings.SMS_BACKEND = "tests.sms.sendouts.test_leases.WatchingBackend"
    seen.clear()
    yield seen
    WatchingBackend.delay = 0.0


@pytest.mark.django_db
def test_a_chunk_is_claimed_in_slices_of_the_backends_concurrency(
    org, user, town_group, settings, watching
):
    settings.SMS_SEND_CONCURRENCY = 3
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 8)
    sendout = create_sendout(target_group=town_group, created_by=user)
    [chunk] = sendout_dispatch(sendout_id=sendout.pk)
    sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunk)
    in_flight = [[row for row in rows if row[0] == MessageStatus.SENDING] for rows in watching]
    assert [len(rows) for rows in in_flight] == [3, 3, 2]  # never more than a slice
    holders = {holder for rows in in_flight for _status, holder, _until in rows}
    assert len(holders) == 1 and next(iter(holders)).startswith("worker:")
    assert all(until is not None for rows in in_flight for *_rest, until in rows)
    done = OutboundMessage.objects.filter(sendout=sendout)
    assert set(done.values_list("status", "claimed_by", "claimed_until")) == {
        (MessageStatus.SENT, "", None)
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_lease_is_renewed_while_the_worker_sends(org, user, town_group, settings, watching):
    settings.SMS_LEASE_SECONDS = 0.3
    WatchingBackend.delay = 1.0  # three times the lease
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 1)
    sendout = create_sendout(target_group=town_group, created_by=user)
    [chunk] = sendout_dispatch(sendout_id=sendout.pk)
    renewed: list[object] = []

    import threading

    def watch() -> None:
        from django.db import connection

        try:
            for _ in range(8):
                time.sleep(0.12)
                renewed.append(OutboundMessage.objects.get(pk=chunk[0]).claimed_until)
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunk)
    watcher.join()
    leases = [until for until in renewed if until is not None]
    assert len(set(leases)) >= 3, leases  # moved on again and again while it sent
    assert OutboundMessage.objects.get(pk=chunk[0]).status == MessageStatus.SENT

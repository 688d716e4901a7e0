"""``sms/sendouts/create.py``: many sendouts created at the same moment against a
quota that fits only some, on PostgreSQL with real transactions and one connection
per thread. (Creating one through the API: tests/sms/test_api_sendouts.py.)"""

import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction

from core.errors import DomainError
from crm.models import Contact
from sms.models import OutboundMessage, QuotaTransaction, Sendout
from sms.selectors import quota_balance
from tests.conftest import run_in_threads
from tests.factories import SmsSettingsFactory, create_sendout, sendable_contacts
from tests.sms.books import assert_books_balance
from tests.worker import app_using_broker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 12
RECIPIENTS = 10  # one message each: a sendout costs 10


@pytest.fixture(autouse=True)
def in_memory_broker():
    """Sendouts enqueue their work on commit: into an in-process broker here."""
    with app_using_broker("memory://"):
        yield


@pytest.mark.parametrize("quota", [55, 60, 5, 200])
def test_exactly_the_sendouts_that_fit_are_accepted(org, user, town_group, quota):
    SmsSettingsFactory(organisation=org, quota=quota)
    sendable_contacts(org, RECIPIENTS)
    accepted: list[int] = []
    refused: list[DomainError] = []

    def send() -> None:
        try:
            sendout = create_sendout(
                target_group=town_group, created_by=user, expected_messages=RECIPIENTS
            )
            accepted.append(sendout.pk)
        except DomainError as error:
            refused.append(error)

    # The same user, no idempotency key: each press is its own sendout.
    unexpected = run_in_threads([send] * THREADS)
    assert unexpected == []

    fits = min(THREADS, quota // RECIPIENTS)
    assert len(accepted) == fits
    assert len(refused) == THREADS - fits
    for error in refused:
        assert error.code == "insufficient_quota"
        assert error.status_code == 409
        assert error.extra["needs"] == RECIPIENTS
        assert error.extra["has"] < RECIPIENTS

    # Refused ones left nothing behind.
    assert sorted(Sendout.objects.values_list("id", flat=True)) == sorted(accepted)
    assert OutboundMessage.objects.count() == fits * RECIPIENTS
    assert QuotaTransaction.objects.filter(kind="reservation").count() == fits
    for sendout in Sendout.objects.all():
        assert sendout.messages_reserved == RECIPIENTS
        assert sendout.messages.count() == RECIPIENTS

    # The ledger is a chain that never dips below zero, and sums to the balance.
    assert_books_balance(org)
    assert quota_balance(organisation=org) == quota - fits * RECIPIENTS


# --- A contact deleted during a Yes (the foreign key has no constraint, #21) ----------


def _message_contacts() -> Counter:
    """How many messages name each contact (None: blanked)."""
    return Counter(OutboundMessage.objects.values_list("contact_id", flat=True))


def test_a_contact_deleted_during_a_yes_waits_for_it_and_blanks_its_message(org, user, town_group):
    """The Yes holds the organisation's contacts lock shared until it commits, and
    the trigger of migration sms/0019 takes it before a contact is deleted: the
    deletion waits, then finds the message the Yes wrote and blanks its contact.
    Without the lock it would finish first and leave the message naming a
    contact that is gone."""
    SmsSettingsFactory(organisation=org, quota=100)
    doomed, kept = sendable_contacts(org, 2)
    written = threading.Event()
    release = threading.Event()
    deleted_at: list[float] = []
    committed_at: list[float] = []

    def yes() -> None:
        try:
            with transaction.atomic():
                create_sendout(target_group=town_group, created_by=user)
                written.set()
                release.wait(10)
                committed_at.append(time.monotonic())
        finally:
            connection.close()

    def delete() -> None:
        try:
            written.wait(10)
            Contact.objects.filter(pk=doomed.pk).delete()
            deleted_at.append(time.monotonic())
        finally:
            connection.close()

    threads = [threading.Thread(target=yes), threading.Thread(target=delete)]
    for thread in threads:
        thread.start()
    assert written.wait(10)
    time.sleep(0.5)
    assert not deleted_at, "the deletion did not wait for the Yes"
    release.set()
    for thread in threads:
        thread.join(30)
    assert deleted_at and committed_at and deleted_at[0] > committed_at[0]
    assert not Contact.objects.filter(pk=doomed.pk).exists()
    assert _message_contacts() == Counter({kept.pk: 1, None: 1})


def test_a_contact_deleted_past_the_orm_blanks_its_messages(org, user, town_group):
    """The trigger does what the ORM's SET_NULL does, for a DELETE past the ORM too."""
    SmsSettingsFactory(organisation=org, quota=100)
    doomed, kept = sendable_contacts(org, 2)
    create_sendout(target_group=town_group, created_by=user)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM crm_contact WHERE id = %s", [doomed.pk])
    assert _message_contacts() == Counter({kept.pk: 1, None: 1})

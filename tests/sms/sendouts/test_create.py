"""``sms/sendouts/create.py``: many sendouts created at the same moment against a
quota that fits only some, on PostgreSQL with real transactions and one connection
per thread. (Creating one through the API: tests/sms/test_api_sendouts.py.)"""

import pytest

from core.errors import DomainError
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

"""Many sendouts created at the same moment against a quota that fits only some,
on PostgreSQL with real transactions and one connection per thread."""

import threading

import pytest
from django.db import connection
from django.db.models import Sum

from core.errors import DomainError
from sms import services
from sms.models import OutboundMessage, QuotaTransaction, Sendout
from sms.selectors import quota_balance
from tests.sms.sending_helpers import BODY, enable_sms, make_contacts, make_group
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
def test_exactly_the_sendouts_that_fit_are_accepted(org, user, quota):
    enable_sms(org, quota=quota)
    make_contacts(org, RECIPIENTS)
    group = make_group(org)
    users = [user] * THREADS  # no idempotency key: each press is its own sendout
    barrier = threading.Barrier(THREADS)
    accepted: list[int] = []
    refused: list[DomainError] = []
    unexpected: list[BaseException] = []

    def send(user) -> None:
        try:
            barrier.wait()
            sendout, created = services.sendout_create(
                target_group=group,
                created_by=user,
                sender="operator",
                phone_field="mobile_phone",
                body=BODY,
                expected_messages=RECIPIENTS,
            )
            assert created
            accepted.append(sendout.pk)
        except DomainError as error:
            refused.append(error)
        except BaseException as error:
            unexpected.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
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
    running = 0
    for amount, balance_after in (
        QuotaTransaction.objects.filter(organisation=org)
        .order_by("id")
        .values_list("amount", "balance_after")
    ):
        running += amount
        assert balance_after == running >= 0
    balance = quota_balance(organisation=org)
    assert balance == running == QuotaTransaction.objects.aggregate(n=Sum("amount"))["n"]
    assert balance == quota - fits * RECIPIENTS

"""The ledger under concurrent writers, on PostgreSQL with real transactions."""

import threading
from collections.abc import Callable

import pytest

from core.errors import DomainError
from sms.models import QuotaTransaction, Sendout
from sms.quota import quota_adjust, quota_balance, quota_reserve, quota_top_up
from tests.conftest import run_in_threads
from tests.factories import SendoutFactory
from tests.sms.books import assert_books_balance

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 16


def test_exactly_the_reservations_that_fit_succeed(org):
    quota_top_up(organisation=org, amount=100)
    sendouts = [SendoutFactory(organisation=org) for _ in range(THREADS)]
    outcomes: list[str] = []

    def reserve(sendout: Sendout) -> Callable[[], None]:
        def fn() -> None:
            try:
                quota_reserve(organisation=org, amount=10, sendout=sendout)
                outcomes.append("ok")
            except DomainError as error:
                assert error.code == "insufficient_quota"
                assert error.extra["has"] < 10
                outcomes.append("refused")

        return fn

    errors = run_in_threads([reserve(s) for s in sendouts])
    assert errors == []
    assert sorted(outcomes) == ["ok"] * 10 + ["refused"] * 6
    assert quota_balance(organisation=org) == 0
    reserved = sorted(Sendout.objects.values_list("messages_reserved", flat=True))
    assert reserved == [0] * 6 + [10] * 10
    assert_books_balance(org)


def test_mixed_top_ups_adjustments_and_reservations(org, other_org):
    quota_top_up(organisation=org, amount=30)
    quota_top_up(organisation=other_org, amount=7)
    sendouts = [SendoutFactory(organisation=org) for _ in range(THREADS)]
    applied: list[int] = []
    refused: list[int] = []
    lock = threading.Lock()

    def record(amount: int, fn: Callable[[], object]) -> None:
        try:
            fn()
        except DomainError as error:
            assert error.code == "insufficient_quota"
            with lock:
                refused.append(amount)
        else:
            with lock:
                applied.append(amount)

    def worker(index: int) -> Callable[[], None]:
        def fn() -> None:
            for step in range(10):
                kind = (index + step) % 4
                if kind == 0:
                    record(5, lambda: quota_top_up(organisation=org, amount=5))
                elif kind == 1:
                    record(-4, lambda: quota_adjust(organisation=org, amount=-4, reason="fix"))
                else:
                    sendout = sendouts[index]
                    record(
                        -3, lambda s=sendout: quota_reserve(organisation=org, amount=3, sendout=s)
                    )

        return fn

    errors = run_in_threads([worker(i) for i in range(THREADS)])
    assert errors == []
    assert len(applied) + len(refused) == THREADS * 10
    assert refused, "the test should drive the balance to the floor at least once"
    assert all(amount < 0 for amount in refused)
    expected = 30 + sum(applied)
    assert quota_balance(organisation=org) == expected
    ledger = QuotaTransaction.objects.filter(organisation=org)
    assert ledger.count() == 1 + len(applied)
    assert sum(ledger.values_list("amount", flat=True)) == expected
    assert_books_balance(org)
    reserved = sum(Sendout.objects.values_list("messages_reserved", flat=True))
    assert reserved == 3 * applied.count(-3)
    # The other organisation's quota is untouched.
    assert quota_balance(organisation=other_org) == 7

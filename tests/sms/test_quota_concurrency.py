"""The ledger under concurrent writers, on PostgreSQL with real transactions."""

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from core.errors import DomainError
from sms.models import QuotaTransaction, Sendout
from sms.quota import quota_adjust, quota_balance, quota_reserve, quota_top_up

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 16


def run_in_threads(work: list[Callable[[], None]]) -> list[BaseException]:
    """Run each callable in its own thread, all released at once; each thread closes
    its own database connection at the end."""
    barrier = threading.Barrier(len(work))
    errors: list[BaseException] = []

    def run(fn: Callable[[], None]) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def new_sendout(organisation) -> Sendout:
    return Sendout.objects.create(
        organisation=organisation,
        target_group=None,
        sender="operator",
        phone_field="mobile_phone",
        body="Hello",
    )


def assert_ledger_is_a_chain(organisation) -> None:
    """Rows in commit order: each balance_after is the previous one plus its amount,
    never below zero, and the last one is the stored balance."""
    running = 0
    for amount, balance_after in (
        QuotaTransaction.objects.filter(organisation=organisation)
        .order_by("id")
        .values_list("amount", "balance_after")
    ):
        running += amount
        assert balance_after == running
        assert running >= 0
    assert quota_balance(organisation=organisation) == running


def test_exactly_the_reservations_that_fit_succeed(org):
    quota_top_up(organisation=org, amount=100)
    sendouts = [new_sendout(org) for _ in range(THREADS)]
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
    assert_ledger_is_a_chain(org)


def test_mixed_top_ups_adjustments_and_reservations(org, other_org):
    quota_top_up(organisation=org, amount=30)
    quota_top_up(organisation=other_org, amount=7)
    sendouts = [new_sendout(org) for _ in range(THREADS)]
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
    assert_ledger_is_a_chain(org)
    reserved = sum(Sendout.objects.values_list("messages_reserved", flat=True))
    assert reserved == 3 * applied.count(-3)
    # The other organisation's quota is untouched.
    assert quota_balance(organisation=other_org) == 7

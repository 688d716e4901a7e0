"""The quota ledger services: every change is one ledger row, and the balance is
the sum of the ledger and never below zero."""

import pytest
from django.db import transaction

from core.errors import DomainError
from sms.models import QuotaKind, QuotaTransaction, Sendout, SmsSettings
from sms.quota import (
    QUOTA_MAX_AMOUNT,
    quota_adjust,
    quota_balance,
    quota_refund,
    quota_reserve,
    quota_top_up,
    sms_settings_for,
)
from tests.factories import SendoutFactory
from tests.sms.books import assert_books_balance


def snapshot(organisation) -> tuple:
    return (
        quota_balance(organisation=organisation),
        QuotaTransaction.objects.filter(organisation=organisation).count(),
        list(Sendout.objects.values_list("messages_reserved", "messages_refunded")),
    )


def test_settings_are_created_once_with_defaults(org):
    first = sms_settings_for(organisation=org)
    assert sms_settings_for(organisation=org).pk == first.pk
    assert (first.sms_enabled, first.quota_balance) == (False, 0)
    assert quota_balance(organisation=org) == 0


def test_balance_without_settings_is_zero_and_creates_nothing(org):
    assert quota_balance(organisation=org) == 0
    assert not SmsSettings.objects.exists()


def test_top_up_writes_one_row_and_the_balance(org, user):
    row = quota_top_up(organisation=org, amount=100, reason=" Invoice 7 ", created_by=user)
    assert (row.kind, row.amount, row.balance_after) == (QuotaKind.TOP_UP, 100, 100)
    assert (row.reason, row.created_by, row.sendout) == ("Invoice 7", user, None)
    row = quota_top_up(organisation=org, amount=50, reason="")
    assert row.balance_after == 150
    assert quota_balance(organisation=org) == 150
    assert QuotaTransaction.objects.count() == 2
    assert_books_balance(org)


def test_balances_are_per_organisation(org, other_org):
    quota_top_up(organisation=org, amount=10, reason="")
    quota_top_up(organisation=other_org, amount=3, reason="")
    assert quota_balance(organisation=org) == 10
    assert quota_balance(organisation=other_org) == 3


def test_adjust_either_way_with_a_reason(org, user):
    quota_top_up(organisation=org, amount=10)
    row = quota_adjust(organisation=org, amount=-4, reason="Double top-up", created_by=user)
    assert (row.kind, row.amount, row.balance_after, row.created_by) == (
        QuotaKind.ADJUSTMENT,
        -4,
        6,
        user,
    )
    quota_adjust(organisation=org, amount=5, reason="Goodwill")
    assert quota_balance(organisation=org) == 11
    assert_books_balance(org)


def test_adjust_to_exactly_zero_is_allowed(org):
    quota_top_up(organisation=org, amount=10)
    assert quota_adjust(organisation=org, amount=-10, reason="Closed").balance_after == 0
    assert_books_balance(org)


def test_adjust_below_zero_is_refused_and_changes_nothing(org):
    quota_top_up(organisation=org, amount=10)
    before = snapshot(org)
    with pytest.raises(DomainError) as info:
        quota_adjust(organisation=org, amount=-11, reason="Too much")
    assert info.value.code == "insufficient_quota"
    assert info.value.status_code == 409
    assert info.value.extra == {"needs": 11, "has": 10}
    assert snapshot(org) == before


@pytest.mark.parametrize("reason", ["", "   "])
def test_adjust_needs_a_reason(org, reason):
    quota_top_up(organisation=org, amount=10)
    before = snapshot(org)
    with pytest.raises(DomainError) as info:
        quota_adjust(organisation=org, amount=1, reason=reason)
    assert info.value.code == "reason_required"
    assert snapshot(org) == before


BAD_AMOUNTS = [0, -1, 1.0, "5", None, True, QUOTA_MAX_AMOUNT + 1]


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_top_up_refuses_bad_amounts(org, amount):
    quota_top_up(organisation=org, amount=5)
    before = snapshot(org)
    with pytest.raises(DomainError) as info:
        quota_top_up(organisation=org, amount=amount, reason="")
    assert info.value.code == "invalid_amount"
    assert info.value.status_code == 400
    assert snapshot(org) == before


@pytest.mark.parametrize("amount", [0, 1.5, "-1", None, False, -QUOTA_MAX_AMOUNT - 1])
def test_adjust_refuses_bad_amounts(org, amount):
    before = snapshot(org)
    with pytest.raises(DomainError) as info:
        quota_adjust(organisation=org, amount=amount, reason="Why")
    assert info.value.code == "invalid_amount"
    assert snapshot(org) == before


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_reserve_and_refund_refuse_bad_amounts(org, amount):
    quota_top_up(organisation=org, amount=5)
    sendout = SendoutFactory(organisation=org)
    quota_reserve(organisation=org, amount=2, sendout=sendout)
    before = snapshot(org)
    with pytest.raises(DomainError) as info:
        quota_reserve(organisation=org, amount=amount, sendout=sendout)
    assert info.value.code == "invalid_amount"
    with pytest.raises(DomainError) as info:
        quota_refund(organisation=org, amount=amount, sendout=sendout, reason="x")
    assert info.value.code == "invalid_amount"
    assert snapshot(org) == before


def test_balance_cannot_exceed_a_database_integer(org):
    for _ in range(214):
        quota_top_up(organisation=org, amount=QUOTA_MAX_AMOUNT)
    before = snapshot(org)
    with pytest.raises(DomainError) as info:
        quota_top_up(organisation=org, amount=QUOTA_MAX_AMOUNT)
    assert info.value.code == "quota_too_large"
    assert snapshot(org) == before


def test_reserve_takes_quota_and_marks_the_sendout(org, user):
    quota_top_up(organisation=org, amount=10)
    sendout = SendoutFactory(organisation=org)
    row = quota_reserve(organisation=org, amount=7, sendout=sendout, created_by=user)
    assert (row.kind, row.amount, row.balance_after) == (QuotaKind.RESERVATION, -7, 3)
    assert (row.sendout, row.created_by) == (sendout, user)
    assert sendout.messages_reserved == 7
    assert Sendout.objects.get(pk=sendout.pk).messages_reserved == 7
    assert quota_balance(organisation=org) == 3
    assert_books_balance(org)


def test_reserve_exactly_the_balance(org):
    quota_top_up(organisation=org, amount=10)
    quota_reserve(organisation=org, amount=10, sendout=SendoutFactory(organisation=org))
    assert quota_balance(organisation=org) == 0


def test_reserve_more_than_the_balance_is_refused_and_changes_nothing(org):
    quota_top_up(organisation=org, amount=10)
    sendout = SendoutFactory(organisation=org)
    before = snapshot(org)
    with pytest.raises(DomainError) as info:
        quota_reserve(organisation=org, amount=11, sendout=sendout)
    error = info.value
    assert (error.code, error.status_code, error.extra) == (
        "insufficient_quota",
        409,
        {"needs": 11, "has": 10},
    )
    assert "11" in error.message and "10" in error.message
    assert snapshot(org) == before


def test_reserve_without_settings_is_refused(org):
    with pytest.raises(DomainError) as info:
        quota_reserve(organisation=org, amount=1, sendout=SendoutFactory(organisation=org))
    assert info.value.extra == {"needs": 1, "has": 0}


def test_reserve_for_another_organisations_sendout_is_a_bug(org, other_org):
    quota_top_up(organisation=org, amount=10)
    with pytest.raises(ValueError):
        quota_reserve(organisation=org, amount=1, sendout=SendoutFactory(organisation=other_org))
    assert quota_balance(organisation=org) == 10


def test_refund_gives_back_and_marks_the_sendout(org):
    quota_top_up(organisation=org, amount=10)
    sendout = SendoutFactory(organisation=org)
    quota_reserve(organisation=org, amount=6, sendout=sendout)
    row = quota_refund(organisation=org, amount=2, sendout=sendout, reason="skipped")
    assert (row.kind, row.amount, row.balance_after, row.reason) == (
        QuotaKind.REFUND,
        2,
        6,
        "skipped",
    )
    assert (sendout.messages_reserved, sendout.messages_refunded) == (6, 2)
    assert sendout.messages_charged == 4
    quota_refund(organisation=org, amount=4, sendout=sendout, reason="cancelled")
    assert quota_balance(organisation=org) == 10
    assert_books_balance(org)


def test_refund_beyond_the_reservation_is_refused(org):
    quota_top_up(organisation=org, amount=10)
    sendout = SendoutFactory(organisation=org)
    quota_reserve(organisation=org, amount=3, sendout=sendout)
    quota_refund(organisation=org, amount=2, sendout=sendout, reason="skipped")
    before = snapshot(org)
    with pytest.raises(DomainError) as info:
        quota_refund(organisation=org, amount=2, sendout=sendout, reason="skipped")
    assert info.value.code == "refund_exceeds_reservation"
    assert snapshot(org) == before


def test_refund_needs_a_reason(org):
    quota_top_up(organisation=org, amount=10)
    sendout = SendoutFactory(organisation=org)
    quota_reserve(organisation=org, amount=3, sendout=sendout)
    with pytest.raises(DomainError):
        quota_refund(organisation=org, amount=1, sendout=sendout, reason="")


def test_a_failure_in_the_callers_transaction_undoes_the_reservation(org):
    quota_top_up(organisation=org, amount=10)
    sendout = SendoutFactory(organisation=org)
    before = snapshot(org)
    with pytest.raises(RuntimeError), transaction.atomic():
        quota_reserve(organisation=org, amount=4, sendout=sendout)
        assert quota_balance(organisation=org) == 6
        raise RuntimeError("the caller failed after reserving")
    assert snapshot(org) == before


def test_a_refused_reservation_inside_a_callers_transaction_leaves_it_usable(org):
    quota_top_up(organisation=org, amount=3)
    sendout = SendoutFactory(organisation=org)
    with transaction.atomic():
        with pytest.raises(DomainError):
            quota_reserve(organisation=org, amount=4, sendout=sendout)
        quota_reserve(organisation=org, amount=3, sendout=sendout)
    assert quota_balance(organisation=org) == 0
    assert_books_balance(org)


def test_ledger_invariant_after_every_step(org):
    sendouts = [SendoutFactory(organisation=org) for _ in range(3)]
    steps = [
        lambda: quota_top_up(organisation=org, amount=20),
        lambda: quota_reserve(organisation=org, amount=8, sendout=sendouts[0]),
        lambda: quota_adjust(organisation=org, amount=-5, reason="fix"),
        lambda: quota_reserve(organisation=org, amount=7, sendout=sendouts[1]),
        lambda: quota_refund(organisation=org, amount=3, sendout=sendouts[0], reason="r"),
        lambda: quota_reserve(organisation=org, amount=3, sendout=sendouts[2]),
        lambda: quota_adjust(organisation=org, amount=2, reason="fix"),
        lambda: quota_refund(organisation=org, amount=7, sendout=sendouts[1], reason="r"),
    ]
    expected = [20, 12, 7, 0, 3, 0, 2, 9]
    for step, balance in zip(steps, expected, strict=True):
        step()
        assert quota_balance(organisation=org) == balance
        assert_books_balance(org)

"""``manage.py sms_quota``: top-ups and adjustments through the ledger."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from sms.models import QuotaKind, QuotaTransaction
from sms.quota import quota_balance


def run(*args: str) -> str:
    out = StringIO()
    call_command("sms_quota", *args, stdout=out)
    return out.getvalue()


def test_top_up_by_slug_prints_the_new_balance(org):
    output = run(org.slug, "--add", "500", "--reason", "Invoice 42")
    assert "500" in output
    assert quota_balance(organisation=org) == 500
    row = QuotaTransaction.objects.get()
    assert (row.kind, row.amount, row.reason, row.organisation) == (
        QuotaKind.TOP_UP,
        500,
        "Invoice 42",
        org,
    )
    output = run(org.slug, "--add", "25")
    assert "now 525" in output
    assert QuotaTransaction.objects.first().reason  # a default reason is recorded


def test_by_name_ignoring_case(org):
    run("ACME OY", "--add", "3")
    assert quota_balance(organisation=org) == 3


def test_negative_is_an_adjustment(org):
    run(org.slug, "--add", "10")
    output = run(org.slug, "--add", "-4", "--reason", "Mistake")
    assert "now 6" in output
    row = QuotaTransaction.objects.first()
    assert (row.kind, row.amount, row.balance_after, row.reason) == (
        QuotaKind.ADJUSTMENT,
        -4,
        6,
        "Mistake",
    )


def test_below_zero_is_refused_and_changes_nothing(org):
    run(org.slug, "--add", "10")
    with pytest.raises(CommandError, match="Not enough message quota: 11 needed, 10 left"):
        run(org.slug, "--add", "-11")
    assert quota_balance(organisation=org) == 10
    assert QuotaTransaction.objects.count() == 1


def test_zero_is_refused(org):
    with pytest.raises(CommandError, match="must not be zero"):
        run(org.slug, "--add", "0")
    assert not QuotaTransaction.objects.exists()


def test_too_large_is_refused(org):
    with pytest.raises(CommandError, match="at most"):
        run(org.slug, "--add", "999999999")
    assert not QuotaTransaction.objects.exists()


def test_unknown_organisation(org):
    with pytest.raises(CommandError, match="No organisation"):
        run("nobody", "--add", "5")
    assert not QuotaTransaction.objects.exists()


def test_ambiguous_name(make_org):
    make_org("Twin Oy")
    make_org("twin oy")
    with pytest.raises(CommandError, match="give the slug"):
        run("Twin Oy", "--add", "5")


def test_amount_must_be_a_number(org):
    with pytest.raises(CommandError):
        run(org.slug, "--add", "lots")

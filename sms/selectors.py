"""Reads of the SMS app. Every function is scoped to one organisation."""

from django.db.models import QuerySet

from crm.models import Organisation
from sms.models import QuotaTransaction, SmsSettings


def quota_balance(*, organisation: Organisation) -> int:
    """The messages the organisation may still send (0 without SMS settings)."""
    balance = (
        SmsSettings.objects.filter(organisation=organisation)
        .values_list("quota_balance", flat=True)
        .first()
    )
    return balance or 0


def quota_transaction_list(*, organisation: Organisation) -> QuerySet[QuotaTransaction]:
    """The organisation's quota ledger, latest first."""
    return (
        QuotaTransaction.objects.filter(organisation=organisation)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )

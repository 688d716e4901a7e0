"""The quota's books, checked the same way by every test that moves quota."""

from django.db.models import Sum

from crm.models import Organisation
from sms.models import OutboundMessage, QuotaKind, QuotaTransaction, Sendout
from sms.selectors import quota_balance
from sms.statuses import MessageStatus

# Messages that left (or may have): charged and never refunded.
CHARGED_STATUSES = (
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.UNDELIVERED,
    MessageStatus.UNKNOWN,
)
FINAL_STATUSES = (
    *CHARGED_STATUSES,
    MessageStatus.FAILED,
    MessageStatus.SKIPPED,
    MessageStatus.CANCELLED,
)


def _sum(rows, field: str) -> int:
    return rows.aggregate(n=Sum(field))["n"] or 0


def assert_books_balance(
    organisation: Organisation, *sendouts: Sendout, topped_up: int | None = None
) -> None:
    """The books of ``organisation`` balance:

    - the ledger is a chain: in id (commit) order every row's ``balance_after`` is
      the running sum of the amounts, never below zero, and the stored balance is
      the sum of the ledger;
    - for each of ``sendouts`` (finished: nothing pending or sending), its reserved
      and refunded counts are its ledger rows, and charged = reserved - refunded =
      the billed messages that left (sent, delivered, undelivered, unknown);
    - with ``topped_up``: balance = topped_up - what ``sendouts`` charged.
    """
    running = 0
    for amount, balance_after in (
        QuotaTransaction.objects.filter(organisation=organisation)
        .order_by("id")
        .values_list("amount", "balance_after")
    ):
        running += amount
        assert balance_after == running >= 0, (organisation.pk, amount, balance_after, running)
    balance = quota_balance(organisation=organisation)
    assert balance == running
    charged = 0
    for sendout in sendouts:
        sendout.refresh_from_db()
        own = QuotaTransaction.objects.filter(sendout=sendout)
        reserved = -_sum(own.filter(kind=QuotaKind.RESERVATION), "amount")
        refunded = _sum(own.filter(kind=QuotaKind.REFUND), "amount")
        assert (sendout.messages_reserved, sendout.messages_refunded) == (reserved, refunded)
        left = OutboundMessage.objects.filter(sendout=sendout, status__in=CHARGED_STATUSES)
        assert sendout.messages_charged == reserved - refunded == _sum(left, "messages"), sendout.pk
        charged += sendout.messages_charged
    if topped_up is not None:
        assert balance == topped_up - charged

"""Building blocks for the sending tests: an organisation ready to send, contacts,
a target group, and the bookkeeping checks every sending test makes."""

from django.db.models import Sum

from crm.models import Contact, Organisation
from sms.models import OutboundMessage, QuotaTransaction, Sendout, SmsSettings
from sms.quota import quota_top_up, sms_settings_for
from sms.selectors import quota_balance
from sms.statuses import MessageStatus
from targetgroups.models import TargetGroup

OPERATOR_NUMBER = "+358401111111"
CITY = "Testikylä"
BODY = "Hei {{contact.first_name}}, tervetuloa!"
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


def number(i: int) -> str:
    return f"+35840{2_000_000 + i}"


def enable_sms(organisation: Organisation, *, quota: int) -> SmsSettings:
    sms_settings = sms_settings_for(organisation=organisation)
    sms_settings.sms_enabled = True
    sms_settings.operator_number = OPERATOR_NUMBER
    sms_settings.save()
    if quota:
        quota_top_up(organisation=organisation, amount=quota, reason="test")
    return sms_settings


def make_contacts(organisation: Organisation, count: int, *, start: int = 0) -> list[Contact]:
    """``count`` sendable contacts in CITY with distinct numbers."""
    return Contact.objects.bulk_create(
        Contact(
            organisation=organisation,
            first_name=f"Etu{i}",
            last_name="Suku",
            mobile_phone=number(i),
            city=CITY,
        )
        for i in range(start, start + count)
    )


def make_unsendable_contacts(organisation: Organisation) -> list[Contact]:
    """One contact per skip reason that the data can cause."""
    return Contact.objects.bulk_create(
        [
            Contact(organisation=organisation, first_name="Opted", city=CITY, sms_opt_out=True,
                    mobile_phone=number(90_001)),
            Contact(organisation=organisation, first_name="NoNumber", city=CITY),
            Contact(organisation=organisation, first_name="Local", city=CITY,
                    mobile_phone="040 123 4567"),
            Contact(organisation=organisation, first_name="Bad", city=CITY,
                    mobile_phone="+358 12"),
            # Same number as contact 0: texted once, the lower id keeps it.
            Contact(organisation=organisation, first_name="Twin", city=CITY,
                    mobile_phone=number(0)),
        ]
    )  # fmt: skip


def make_group(organisation: Organisation) -> TargetGroup:
    return TargetGroup.objects.create(
        organisation=organisation,
        name="Everybody in the test town",
        conditions=[{"field": "contact.city", "operator": "equals", "value": CITY}],
    )


def assert_books_balance(organisation: Organisation, sendout: Sendout, *, topped_up: int) -> None:
    """Quota == ledger; charged == reserved - refunded == billed messages that left."""
    sendout.refresh_from_db()
    ledger = QuotaTransaction.objects.filter(organisation=organisation).aggregate(n=Sum("amount"))[
        "n"
    ]
    balance = quota_balance(organisation=organisation)
    assert balance == ledger
    assert balance >= 0
    own = QuotaTransaction.objects.filter(sendout=sendout)
    reserved = -(own.filter(kind="reservation").aggregate(n=Sum("amount"))["n"] or 0)
    refunded = own.filter(kind="refund").aggregate(n=Sum("amount"))["n"] or 0
    assert (sendout.messages_reserved, sendout.messages_refunded) == (reserved, refunded)
    billed_left = (
        OutboundMessage.objects.filter(sendout=sendout, status__in=CHARGED_STATUSES).aggregate(
            n=Sum("messages")
        )["n"]
        or 0
    )
    assert sendout.messages_charged == reserved - refunded == billed_left
    assert balance == topped_up - sendout.messages_charged

"""The suppression list: phone numbers an organisation never texts.

An opt-out belongs to the number, not only to a contact: two contacts may hold
the same number, and the person behind it asked once. A STOP reply
(``sms.delivery.inbound_reply``), the provider's "unsubscribed at the carrier"
answer (21610, ``sms.sendouts.record``), an admin, the person on the opt-out
page of a marketing text's link (``sms.optout``) and a user with the contact
page's switch (``contact_sms_opt_out_set``) put the number here; START, or the
switch turned back, lifts it. Recipient resolution
(``sms.recipients``) skips a listed number as ``opted_out``.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from crm.models import Contact, Organisation
from crm.services import contact_update
from sms.models import SuppressedNumber, SuppressionSource
from sms.rules import RuleError
from sms.rules.numbers import normalise_number


def _e164(number: str) -> str:
    result = normalise_number(number)
    if result.e164 is None:
        raise RuleError(
            "invalid_number",
            _("Enter the number with its country code, such as +358401234567."),
            field="number",
        )
    return result.e164


@transaction.atomic
def number_suppress(
    *, organisation: Organisation, number: str, source: SuppressionSource | str, sender: str = ""
) -> bool:
    """Put ``number`` (any form with its country code; stored as E.164) on the
    organisation's suppression list. Answers whether it was added: a number
    already listed keeps its first date, source and sender. Raises
    ``RuleError`` (``invalid_number``, field "number") for a number that cannot
    be texted.
    Safe when two requests add the same number at once."""
    _row, created = SuppressedNumber.objects.get_or_create(
        organisation=organisation,
        number=_e164(number),
        defaults={"source": SuppressionSource(source), "sender": sender[:34]},
    )
    return created


@transaction.atomic
def number_unsuppress(*, organisation: Organisation, number: str) -> bool:
    """Lift ``number`` from the organisation's suppression list (a START reply,
    or an admin). Answers whether it was listed."""
    deleted, _by_model = SuppressedNumber.objects.filter(
        organisation=organisation, number=_e164(number)
    ).delete()
    return bool(deleted)


def suppressed_numbers(*, organisation_id: int) -> set[str]:
    """Every number on the organisation's suppression list (E.164), for
    resolving recipients in one pass."""
    return set(
        SuppressedNumber.objects.filter(organisation_id=organisation_id).values_list(
            "number", flat=True
        )
    )


PHONE_E164_FIELDS = ("mobile_phone_e164", "work_phone_e164")


@transaction.atomic
def contact_sms_opt_out_set(*, contact: Contact, opted_out: bool, source: str) -> Contact:
    """The contact page's opt-out switch: the contact's flag (stamped with
    ``source``) and, in the same transaction, every valid number the contact
    holds on the organisation's suppression list (source ``contact``), so that no
    other contact with the number is texted either; switched back, the contact's
    numbers are lifted from the list, whatever put them there (the user decides,
    as an admin deleting the entry does)."""
    contact = contact_update(contact=contact, data={"sms_opt_out": opted_out}, source=source)
    numbers = {getattr(contact, name) for name in PHONE_E164_FIELDS} - {""}
    for number in sorted(numbers):
        if opted_out:
            number_suppress(
                organisation=contact.organisation, number=number, source=SuppressionSource.CONTACT
            )
        else:
            number_unsuppress(organisation=contact.organisation, number=number)
    return contact

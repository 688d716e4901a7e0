"""The suppression list: phone numbers an organisation never texts.

An opt-out belongs to the number, not only to a contact: two contacts may hold
the same number, and the person behind it asked once. A STOP reply
(``sms.delivery.inbound_reply``), the provider's "unsubscribed at the carrier"
answer (21610, ``sms.sendouts.record``), an admin, and (later) the person on an
opt-out page put the number here; START lifts it. Recipient resolution
(``sms.recipients``) skips a listed number as ``opted_out``.
"""

from django.db import transaction
from django.utils.translation import gettext as _

from crm.models import Organisation
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

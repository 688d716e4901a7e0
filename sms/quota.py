"""The message quota ledger: the only code that changes ``SmsSettings.quota_balance``.

Invariants every function here keeps, in one transaction each:

- the stored balance changes only together with exactly one ``QuotaTransaction``
  row whose ``amount`` is the change and whose ``balance_after`` is the new balance,
  so the balance always equals the sum of the organisation's ledger;
- the balance never goes below zero: a change that would is refused with a
  ``DomainError`` and changes nothing (the database's CHECK constraint is the
  last line of defence, not the mechanism);
- a sendout's ``messages_reserved``/``messages_refunded`` change together with its
  reservation/refund rows, and a refund never exceeds what was reserved.

Concurrency: each change first locks the organisation's ``SmsSettings`` row with
``SELECT ... FOR UPDATE``, then reads the balance, decides, writes the balance and
inserts the ledger row, and the lock is released at commit. A conditional
``UPDATE ... SET quota_balance = quota_balance + n WHERE quota_balance + n >= 0``
would hold the same row lock for the same time (until commit), so it is not
cheaper; locking first instead gives an exact ``has`` in a refusal, a
``balance_after`` read under the lock, and one plain code path that works the same
inside a caller's transaction. On SQLite ``FOR UPDATE`` is a no-op, and the
project opens SQLite transactions with ``BEGIN IMMEDIATE``, which serialises
writers for the whole database.

Lock order, to rule out deadlocks: a sendout's row first, then the SMS settings
row. A caller that locks both must take them in that order too.

Callers may wrap these in their own transaction (the sendout service reserves
inside its own): ``transaction.atomic`` nests as a savepoint, and the row lock is
then held until the outer transaction commits.
"""

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from core.errors import DomainError
from crm.models import Organisation
from sms.models import QuotaKind, QuotaTransaction, Sendout, SmsSettings
from sms.selectors import quota_balance

__all__ = [
    "QUOTA_MAX_AMOUNT",
    "QUOTA_MAX_BALANCE",
    "quota_adjust",
    "quota_balance",
    "quota_refund",
    "quota_reserve",
    "quota_top_up",
    "sms_settings_create_with_organisation",
    "sms_settings_for",
]

# One change at a time stays within reason (a typo of three extra zeros is refused),
# and the balance within a PostgreSQL integer.
QUOTA_MAX_AMOUNT = 10_000_000
QUOTA_MAX_BALANCE = 2_147_483_647


def sms_settings_for(*, organisation: Organisation) -> SmsSettings:
    """The organisation's SMS settings, created with the defaults (SMS off, no
    quota) when missing. Safe when two requests create them at once."""
    sms_settings, _created = SmsSettings.objects.get_or_create(organisation=organisation)
    return sms_settings


def sms_settings_create_with_organisation(
    sender: type[Organisation],
    *,
    instance: Organisation,
    created: bool,
    raw: bool = False,
    **kwargs,
) -> None:
    """``post_save`` receiver of ``crm.Organisation`` (connected in ``sms/apps.py``:
    ``crm`` may not import ``sms``): every organisation gets its SMS settings (SMS
    off, no quota) when it is created, so that reads never have to create them.

    On commit, not at once: the admin's add page saves the organisation and then
    its settings inline in one transaction, and the row it writes must not collide
    with ours. A loaded fixture (``raw``) brings its own rows."""
    if created and not raw:
        # By id: creating it with ``organisation=instance`` would cache this fresh
        # row on the caller's organisation, where a later ``org.sms_settings`` would
        # read (and save back) a stale copy.
        organisation_id = instance.pk
        transaction.on_commit(
            lambda: SmsSettings.objects.get_or_create(organisation_id=organisation_id)
        )


def _check_amount(amount: Any, *, positive: bool) -> int:
    # bool is an int in Python; True must not top up one message.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise DomainError("invalid_amount", _("The amount must be a whole number."))
    if positive and amount <= 0:
        raise DomainError("invalid_amount", _("The amount must be greater than zero."))
    if amount == 0:
        raise DomainError("invalid_amount", _("The amount must not be zero."))
    if abs(amount) > QUOTA_MAX_AMOUNT:
        raise DomainError(
            "invalid_amount",
            _("One change may be at most %(max)s messages.") % {"max": f"{QUOTA_MAX_AMOUNT:,}"},
        )
    return amount


def _check_reason(reason: Any, *, required: bool) -> str:
    if not isinstance(reason, str):
        raise DomainError("invalid_reason", _("The reason must be text."))
    reason = reason.strip()
    if required and not reason:
        raise DomainError("reason_required", _("Say why the quota changes."))
    return reason


def _locked_settings(organisation: Organisation) -> SmsSettings:
    sms_settings_for(organisation=organisation)
    return SmsSettings.objects.select_for_update().get(organisation=organisation)


def _insufficient(*, needs: int, has: int) -> DomainError:
    return DomainError(
        "insufficient_quota",
        _("Not enough message quota: %(needs)s needed, %(has)s left.")
        % {"needs": f"{needs:,}", "has": f"{has:,}"},
        status_code=409,
        needs=needs,
        has=has,
    )


def _apply(
    *,
    organisation: Organisation,
    kind: str,
    amount: int,
    reason: str,
    sendout: Sendout | None = None,
    created_by: Any = None,
) -> QuotaTransaction:
    """Lock, check, write the balance and its ledger row. Inside a transaction."""
    sms_settings = _locked_settings(organisation)
    new_balance = sms_settings.quota_balance + amount
    if new_balance < 0:
        raise _insufficient(needs=-amount, has=sms_settings.quota_balance)
    if new_balance > QUOTA_MAX_BALANCE:
        raise DomainError(
            "quota_too_large",
            _("The quota can hold at most %(max)s messages.") % {"max": f"{QUOTA_MAX_BALANCE:,}"},
        )
    SmsSettings.objects.filter(pk=sms_settings.pk).update(quota_balance=new_balance)
    return QuotaTransaction.objects.create(
        organisation=organisation,
        kind=kind,
        amount=amount,
        balance_after=new_balance,
        reason=reason,
        sendout=sendout,
        created_by=created_by if created_by is not None and created_by.pk else None,
    )


def _check_sendout(sendout: Sendout, organisation: Organisation) -> None:
    if sendout.organisation_id != organisation.pk:
        # A programming error, never something a user can cause.
        raise ValueError("The sendout belongs to another organisation.")


@transaction.atomic
def quota_top_up(
    *, organisation: Organisation, amount: int, reason: str = "", created_by: Any = None
) -> QuotaTransaction:
    """Add ``amount`` (> 0) messages to the quota; one ``top_up`` ledger row."""
    amount = _check_amount(amount, positive=True)
    reason = _check_reason(reason, required=False)
    return _apply(
        organisation=organisation,
        kind=QuotaKind.TOP_UP,
        amount=amount,
        reason=reason,
        created_by=created_by,
    )


@transaction.atomic
def quota_adjust(
    *, organisation: Organisation, amount: int, reason: str, created_by: Any = None
) -> QuotaTransaction:
    """Correct the quota by ``amount`` (either sign, not zero) with a reason.

    Refused with ``insufficient_quota`` (409) and no change when the balance would
    go below zero."""
    amount = _check_amount(amount, positive=False)
    reason = _check_reason(reason, required=True)
    return _apply(
        organisation=organisation,
        kind=QuotaKind.ADJUSTMENT,
        amount=amount,
        reason=reason,
        created_by=created_by,
    )


@transaction.atomic
def quota_reserve(
    *, organisation: Organisation, amount: int, sendout: Sendout, created_by: Any = None
) -> QuotaTransaction:
    """Reserve ``amount`` (> 0) messages for ``sendout``: a ``reservation`` row of
    ``-amount``, and ``sendout.messages_reserved`` grows by ``amount``.

    Raises ``DomainError("insufficient_quota", status_code=409, needs=, has=)``
    and changes nothing when the quota does not cover it."""
    amount = _check_amount(amount, positive=True)
    _check_sendout(sendout, organisation)
    Sendout.objects.select_for_update().only("pk").get(pk=sendout.pk)
    row = _apply(
        organisation=organisation,
        kind=QuotaKind.RESERVATION,
        amount=-amount,
        reason=_("Sendout %(id)s") % {"id": sendout.pk},
        sendout=sendout,
        created_by=created_by,
    )
    Sendout.objects.filter(pk=sendout.pk).update(messages_reserved=F("messages_reserved") + amount)
    sendout.refresh_from_db(fields=["messages_reserved", "messages_refunded"])
    return row


@transaction.atomic
def quota_refund(
    *, organisation: Organisation, amount: int, sendout: Sendout, reason: str
) -> QuotaTransaction:
    """Give back ``amount`` (> 0) reserved messages that never left: a ``refund``
    row, and ``sendout.messages_refunded`` grows by ``amount``.

    Refused (``refund_exceeds_reservation``, 409) when the sendout's refunds would
    exceed its reservations; nothing changes then."""
    amount = _check_amount(amount, positive=True)
    reason = _check_reason(reason, required=True)
    _check_sendout(sendout, organisation)
    # The sendout's lock makes two refunds of one sendout wait for each other.
    locked = Sendout.objects.select_for_update().get(pk=sendout.pk)
    if locked.messages_refunded + amount > locked.messages_reserved:
        raise DomainError(
            "refund_exceeds_reservation",
            _("Cannot refund %(amount)s messages: only %(left)s of this sendout are reserved.")
            % {"amount": amount, "left": locked.messages_reserved - locked.messages_refunded},
            status_code=409,
        )
    row = _apply(
        organisation=organisation,
        kind=QuotaKind.REFUND,
        amount=amount,
        reason=reason,
        sendout=sendout,
    )
    Sendout.objects.filter(pk=sendout.pk).update(messages_refunded=F("messages_refunded") + amount)
    sendout.refresh_from_db(fields=["messages_reserved", "messages_refunded"])
    return row

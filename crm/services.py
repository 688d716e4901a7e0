"""Writes of the CRM core: one transaction each, keyword-only arguments."""

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.models import Account, Contact, OptOutSource, Organisation

BULK_MAX = 5000


@transaction.atomic
def account_create(*, organisation: Organisation, data: Mapping[str, Any]) -> Account:
    account = Account(organisation=organisation, **data)
    account.full_clean(exclude=["organisation"])
    account.save()
    return account


@transaction.atomic
def account_update(*, account: Account, data: Mapping[str, Any]) -> Account:
    for field, value in data.items():
        setattr(account, field, value)
    account.full_clean(exclude=["organisation"])
    account.save()
    return account


@transaction.atomic
def account_delete(*, account: Account) -> None:
    account.delete()


def _apply_opt_out(contact: Contact, opted_out: bool, source: str, was: bool | None) -> None:
    """Record when and by whom an opt-out changed, whenever it changes."""
    if was is None or was != opted_out:
        contact.sms_opt_out = opted_out
        contact.sms_opt_out_at = timezone.now()
        contact.sms_opt_out_source = source


@transaction.atomic
def contact_create(
    *, organisation: Organisation, data: Mapping[str, Any], source: str = OptOutSource.API
) -> Contact:
    data = dict(data)
    opted_out = data.pop("sms_opt_out", False)
    contact = Contact(organisation=organisation, **data)
    if opted_out:
        _apply_opt_out(contact, True, source, None)
    contact.normalise_phones()
    contact.save()
    return contact


@transaction.atomic
def contact_update(
    *, contact: Contact, data: Mapping[str, Any], source: str = OptOutSource.API
) -> Contact:
    data = dict(data)
    if "sms_opt_out" in data:
        _apply_opt_out(contact, data.pop("sms_opt_out"), source, contact.sms_opt_out)
    for field, value in data.items():
        setattr(contact, field, value)
    contact.normalise_phones()
    contact.save()
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    contact.delete()


@transaction.atomic
def contacts_bulk_create(
    *, organisation: Organisation, rows: Iterable[Mapping[str, Any]], source: str = OptOutSource.API
) -> list[Contact]:
    """Create validated contacts in bulk: all of them or, on any error, none.

    ``bulk_create`` skips ``Contact.save()``, so the normalised phone fields are
    set here."""
    now = timezone.now()
    contacts = []
    for row in rows:
        data = dict(row)
        opted_out = bool(data.pop("sms_opt_out", False))
        contact = Contact(organisation=organisation, **data)
        if opted_out:
            contact.sms_opt_out = True
            contact.sms_opt_out_at = now
            contact.sms_opt_out_source = source
        contact.normalise_phones()
        contacts.append(contact)
    return Contact.objects.bulk_create(contacts, batch_size=1000)

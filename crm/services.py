"""Writes of the CRM core: one transaction each, keyword-only arguments."""

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
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


def contact_opt_out_set(
    *, contact: Contact, opted_out: bool, source: str, at: datetime.datetime | None = None
) -> bool:
    """Set one contact's SMS opt-out in memory; the caller saves the contact.

    Invariant (shared with ``contacts_opt_out_set``): ``sms_opt_out_at`` and
    ``sms_opt_out_source`` say when and from where the flag last changed, so they are
    written exactly when the flag changes and never when it stays as it was. A new
    contact starts opted in. Answers whether the flag changed.
    """
    if contact.sms_opt_out == opted_out:
        return False
    contact.sms_opt_out = opted_out
    contact.sms_opt_out_at = at or timezone.now()
    contact.sms_opt_out_source = source
    return True


@transaction.atomic
def contacts_opt_out_set(*, contacts: QuerySet[Contact], opted_out: bool, source: str) -> int:
    """Set the SMS opt-out of many saved contacts in one UPDATE, stamping only those
    whose flag changes (the invariant of ``contact_opt_out_set``). Answers how many
    contacts changed."""
    return contacts.exclude(sms_opt_out=opted_out).update(
        sms_opt_out=opted_out, sms_opt_out_at=timezone.now(), sms_opt_out_source=source
    )


@transaction.atomic
def contact_create(
    *, organisation: Organisation, data: Mapping[str, Any], source: str = OptOutSource.API
) -> Contact:
    data = dict(data)
    opted_out = data.pop("sms_opt_out", False)
    contact = Contact(organisation=organisation, **data)
    contact_opt_out_set(contact=contact, opted_out=opted_out, source=source)
    contact.normalise_phones()
    contact.save()
    return contact


@transaction.atomic
def contact_update(
    *, contact: Contact, data: Mapping[str, Any], source: str = OptOutSource.API
) -> Contact:
    data = dict(data)
    if "sms_opt_out" in data:
        contact_opt_out_set(contact=contact, opted_out=data.pop("sms_opt_out"), source=source)
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
        contact_opt_out_set(contact=contact, opted_out=opted_out, source=source, at=now)
        contact.normalise_phones()
        contacts.append(contact)
    return Contact.objects.bulk_create(contacts, batch_size=1000)

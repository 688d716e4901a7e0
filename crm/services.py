"""Writes of the CRM core: one transaction each, keyword-only arguments."""

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import DomainError
from crm.legal import LEGAL_BASIS_FIELDS, LegalBasis, LegalBasisSource, legal_basis_errors
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


def _basis(contact: Contact) -> tuple:
    return tuple(getattr(contact, name) for name in LEGAL_BASIS_FIELDS)


UNSET_BASIS = (LegalBasis.NONE, None, "", "")


def legal_basis_stamp(
    *,
    contact: Contact,
    before: tuple,
    changed_by: AbstractBaseUser | None,
    source: str,
    at: datetime.datetime | None = None,
) -> bool:
    """Stamp who set the contact's legal basis, when and where (``source``: an
    ``OptOutSource`` or ``LegalBasisSource`` value), in memory, when the basis
    fields differ from ``before``; the caller saves. Answers whether they did."""
    if _basis(contact) == before:
        return False
    contact.legal_basis_changed_at = at or timezone.now()
    contact.legal_basis_changed_by = changed_by
    contact.legal_basis_changed_via = (
        source if source in LegalBasisSource.values else LegalBasisSource.API
    )
    return True


@transaction.atomic
def contact_create(
    *,
    organisation: Organisation,
    data: Mapping[str, Any],
    source: str = OptOutSource.API,
    changed_by: AbstractBaseUser | None = None,
) -> Contact:
    data = dict(data)
    opted_out = data.pop("sms_opt_out", False)
    contact = Contact(organisation=organisation, **data)
    contact_opt_out_set(contact=contact, opted_out=opted_out, source=source)
    legal_basis_stamp(contact=contact, before=UNSET_BASIS, changed_by=changed_by, source=source)
    contact.normalise_phones()
    contact.save()
    return contact


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    data: Mapping[str, Any],
    source: str = OptOutSource.API,
    changed_by: AbstractBaseUser | None = None,
) -> Contact:
    data = dict(data)
    if "sms_opt_out" in data:
        contact_opt_out_set(contact=contact, opted_out=data.pop("sms_opt_out"), source=source)
    before = _basis(contact)
    for field, value in data.items():
        setattr(contact, field, value)
    legal_basis_stamp(contact=contact, before=before, changed_by=changed_by, source=source)
    contact.normalise_phones()
    contact.save()
    return contact


@transaction.atomic
def contacts_legal_basis_set(
    *,
    contacts: QuerySet[Contact],
    legal_basis: str,
    consent_at: datetime.date | None = None,
    consent_source: str = "",
    consent_evidence: str = "",
    changed_by: AbstractBaseUser | None,
    source: str = LegalBasisSource.BULK,
) -> int:
    """Set one legal basis on many contacts in one UPDATE, stamped with who, when
    and ``source``: the way to fix the ``no_legal_basis`` skips of a sendout.
    The basis is what the user records (consent needs its date and source: the
    rules of ``crm.legal``); nothing is assumed. Answers how many contacts."""
    errors = legal_basis_errors(
        legal_basis=legal_basis, consent_at=consent_at, consent_source=consent_source
    )
    if legal_basis not in LegalBasis.values:
        errors = {"legal_basis": gettext("Choose a legal basis.")}
    if errors:
        field, message = next(iter(errors.items()))
        error = DomainError("legal_basis_invalid", message)
        error.field = field  # answered as a 400 at that field
        raise error
    consent = legal_basis == LegalBasis.CONSENT
    return contacts.update(
        legal_basis=legal_basis,
        consent_at=consent_at if consent else None,
        consent_source=consent_source if consent else "",
        consent_evidence=consent_evidence if consent else "",
        legal_basis_changed_at=timezone.now(),
        legal_basis_changed_by=changed_by,
        legal_basis_changed_via=source,
        updated_at=timezone.now(),
    )


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    contact.delete()


@transaction.atomic
def contacts_bulk_create(
    *,
    organisation: Organisation,
    rows: Iterable[Mapping[str, Any]],
    source: str = OptOutSource.API,
    changed_by: AbstractBaseUser | None = None,
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
        legal_basis_stamp(
            contact=contact, before=UNSET_BASIS, changed_by=changed_by, source=source, at=now
        )
        contact.normalise_phones()
        contacts.append(contact)
    return Contact.objects.bulk_create(contacts, batch_size=1000)

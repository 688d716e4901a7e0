"""Fix numbers without a country code (#20): preview, apply, undo.

A phone field whose number lacks its country code ("040 123 4567") is read in a
default country (Finland preselected): the preview lists each number it would change
("040 123 4567" → "+358 40 123 4567") and each that stays invalid with why. Applying
changes only the numbers the user confirmed, in one transaction, with an undo record
(``PhoneFix``) and an entry in each contact's history (``ContactChange``, old value
kept). Undo puts the old values back where nobody has changed the number since.
Plain functions with keyword-only arguments; callers pass the contacts in scope (the
organisation's, or a target group's members) as a queryset.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from crm.models import (
    CONTACT_PHONE_FIELDS,
    Contact,
    ContactChange,
    ContactChangeReason,
    Organisation,
    PhoneFix,
)
from crm.phones import PhoneProblem, phone_display

DEFAULT_COUNTRY = "FI"
PREVIEW_MAX = 5000
_Reason = phonenumbers.ValidationResult


def countries() -> list[str]:
    """Regions a default country may be (ISO 3166 alpha-2 codes phonenumbers knows)."""
    return sorted(phonenumbers.SUPPORTED_REGIONS)


@dataclass(frozen=True)
class Proposal:
    contact_id: int
    contact_name: str
    field: str
    old: str
    new: str  # "" when the number stays invalid
    problem: str  # why it stays invalid, "" when it can be fixed

    def as_json(self) -> dict[str, Any]:
        data = {
            "contact": self.contact_id,
            "name": self.contact_name,
            "field": self.field,
            "old": self.old,
        }
        return data | ({"new": self.new} if self.new else {"problem": self.problem})


def _why(number: phonenumbers.PhoneNumber | None, country: str) -> str:
    if number is None:
        return _("Not a phone number.")
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == _Reason.TOO_SHORT:
        return _("Too short for a number in %(country)s.") % {"country": country}
    if reason == _Reason.TOO_LONG:
        return _("Too long for a number in %(country)s.") % {"country": country}
    return _("Not a valid number in %(country)s.") % {"country": country}


def propose(raw: str, *, country: str) -> tuple[str, str]:
    """``(new, "")`` with the number in international form, or ``("", why)``."""
    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        return "", _why(None, country)
    if number.extension or not phonenumbers.is_valid_number(number):
        return "", _why(number, country)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phone_display(e164), ""


def _check_country(country: Any) -> str:
    if not isinstance(country, str) or country.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise DomainError(
            "invalid_country",
            _("Choose a country by its two-letter code, e.g. FI."),
            country=[_("Choose a country by its two-letter code, e.g. FI.")],
        )
    return country.upper()


def phone_fix_preview(*, contacts: QuerySet[Contact], country: Any) -> list[Proposal]:
    """What fixing would do to the numbers without a country code among ``contacts``:
    one proposal per phone field, fixable (``new``) or not (``problem``)."""
    country = _check_country(country)
    missing = Q()
    for name in CONTACT_PHONE_FIELDS:
        missing |= Q(**{f"{name}_problem": PhoneProblem.MISSING_COUNTRY_CODE})
    found = []
    rows = contacts.filter(missing).order_by("last_name", "first_name", "pk")[:PREVIEW_MAX]
    for contact in rows:
        for name in CONTACT_PHONE_FIELDS:
            if getattr(contact, f"{name}_problem") != PhoneProblem.MISSING_COUNTRY_CODE:
                continue
            old = getattr(contact, name)
            new, problem = propose(old, country=country)
            found.append(
                Proposal(contact.pk, contact.full_name or str(contact), name, old, new, problem)
            )
    return found


@transaction.atomic
def phone_fix_apply(
    *,
    organisation: Organisation,
    contacts: QuerySet[Contact],
    country: Any,
    fixes: Iterable[dict[str, Any]],
    user: Any = None,
) -> PhoneFix:
    """Apply the confirmed fixes (``{"contact": id, "field": name}``) among ``contacts``:
    all of them or, when any is no longer a number without a country code that the
    country fixes (changed since the preview, another organisation's, unknown field),
    none (DomainError naming them)."""
    country = _check_country(country)
    wanted = [(f.get("contact"), f.get("field")) for f in fixes]
    if not wanted:
        raise DomainError("no_fixes", _("Choose at least one number to fix."))
    ids = {contact_id for contact_id, _field in wanted}
    in_scope = contacts.filter(pk__in=ids).values("pk")
    locked = Contact.objects.select_for_update().filter(pk__in=in_scope)
    by_id = {c.pk: c for c in locked}
    bad = []
    planned = []
    for contact_id, field in wanted:
        contact = by_id.get(contact_id)
        if contact is None or field not in CONTACT_PHONE_FIELDS:
            bad.append(f"{contact_id}/{field}")
            continue
        if getattr(contact, f"{field}_problem") != PhoneProblem.MISSING_COUNTRY_CODE:
            bad.append(f"{contact_id}/{field}")
            continue
        new, _problem = propose(getattr(contact, field), country=country)
        if not new:
            bad.append(f"{contact_id}/{field}")
            continue
        planned.append((contact, field, new))
    if bad:
        message = _("These numbers cannot be fixed now (changed, fixed or not found): %(n)s.") % {
            "n": ", ".join(bad)
        }
        raise DomainError("not_fixable", message, fixes=[message])
    fix = PhoneFix.objects.create(
        organisation=organisation,
        country=country,
        created_by=user if getattr(user, "pk", None) else None,
    )
    changes = []
    for contact, field, new in planned:
        old = getattr(contact, field)
        setattr(contact, field, new)
        contact.save(update_fields=[field, "updated_at"])
        changes.append(
            ContactChange(
                contact=contact,
                field=field,
                old_value=old,
                new_value=new,
                reason=ContactChangeReason.PHONE_FIX,
                phone_fix=fix,
                created_by=fix.created_by,
            )
        )
    ContactChange.objects.bulk_create(changes)
    return fix


@transaction.atomic
def phone_fix_undo(*, phone_fix: PhoneFix, user: Any = None) -> tuple[int, int]:
    """Put back the old numbers of a fix: ``(restored, kept)``, ``kept`` counting the
    numbers someone has changed since (left as they are). Once only."""
    fix = PhoneFix.objects.select_for_update().get(pk=phone_fix.pk)
    if fix.undone_at is not None:
        raise DomainError("already_undone", _("This fix has already been undone."))
    restored = kept = 0
    entries = []
    done = fix.changes.filter(reason=ContactChangeReason.PHONE_FIX).select_related("contact")
    for change in done:
        contact = Contact.objects.select_for_update().get(pk=change.contact_id)
        if getattr(contact, change.field) != change.new_value:
            kept += 1
            continue
        setattr(contact, change.field, change.old_value)
        contact.save(update_fields=[change.field, "updated_at"])
        restored += 1
        entries.append(
            ContactChange(
                contact=contact,
                field=change.field,
                old_value=change.new_value,
                new_value=change.old_value,
                reason=ContactChangeReason.PHONE_FIX_UNDONE,
                phone_fix=fix,
                created_by=user if getattr(user, "pk", None) else None,
            )
        )
    ContactChange.objects.bulk_create(entries)
    fix.undone_at = timezone.now()
    fix.save(update_fields=["undone_at"])
    phone_fix.undone_at = fix.undone_at
    return restored, kept


def contact_history(*, contact: Contact) -> QuerySet[ContactChange]:
    return ContactChange.objects.filter(contact=contact).select_related("created_by")

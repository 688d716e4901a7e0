"""Reads of the CRM core. Every function is scoped to one organisation."""

import re

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from crm.models import (
    Account,
    Contact,
    ContactChange,
    ContactChangeReason,
    Membership,
    Organisation,
    PhoneFix,
)


def membership_for(user: AbstractBaseUser | AnonymousUser) -> Membership | None:
    if not user.is_authenticated:
        return None
    try:
        return Membership.objects.select_related("organisation").get(user=user)
    except Membership.DoesNotExist:
        return None


def account_list(*, organisation: Organisation, search: str = "") -> QuerySet[Account]:
    qs = Account.objects.filter(organisation=organisation)
    if search:
        qs = qs.filter(
            Q(name__icontains=search)
            | Q(business_id__icontains=search)
            | Q(city__icontains=search)
            | Q(industry__icontains=search)
        )
    return qs


def account_list_with_counts(*, organisation: Organisation, search: str = "") -> QuerySet:
    # An aggregate drops Meta.ordering, so the order is said again for pagination.
    return (
        account_list(organisation=organisation, search=search)
        .annotate(contact_count=Count("contacts"))
        .order_by("name", "id")
    )


_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")
PHONE_SEARCH_MIN_DIGITS = 3


def _phone_search_q(search: str) -> Q | None:
    """A search that is a phone number, matched by its digits whatever the spacing or
    prefix: "0509964256", "050 996 4256", "+358 50 996 4256" and "00358509964256" all
    find the contact stored as "+358 50 996 4256". ``None`` when it is not a number.

    The stored E.164 columns are searched with the national significant part (the
    leading "0" trunk prefix or "00"/"+" dropped); the raw phone fields (numbers
    stored without a country code) with the digits as typed, any separators between.
    """
    if not _PHONE_LIKE.match(search):
        return None
    digits = re.sub(r"\D", "", search)
    if len(digits) < PHONE_SEARCH_MIN_DIGITS:
        return None
    core = digits[2:] if digits.startswith("00") else digits
    national = core[1:] if core.startswith("0") and not search.lstrip().startswith("+") else core
    spaced = r"[^0-9]*".join(digits)
    q = Q()
    for field in ("mobile_phone", "work_phone"):
        q |= Q(**{f"{field}_e164__contains": national}) | Q(**{f"{field}__regex": spaced})
    return q


def contact_list(*, organisation: Organisation, search: str = "") -> QuerySet[Contact]:
    qs = Contact.objects.filter(organisation=organisation).select_related("account")
    search = search.strip()
    if not search:
        return qs
    words = Q()
    for term in search.split():
        words &= (
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(email__icontains=term)
            | Q(city__icontains=term)
            | Q(mobile_phone__icontains=term)
            | Q(account__name__icontains=term)
        )
    phone = _phone_search_q(search)
    return qs.filter(words | phone if phone is not None else words)


def account_ids(*, organisation: Organisation) -> set[int]:
    return set(Account.objects.filter(organisation=organisation).values_list("id", flat=True))


def phone_fix_list(*, organisation: Organisation) -> QuerySet[PhoneFix]:
    """The organisation's batches of fixed numbers."""
    return PhoneFix.objects.filter(organisation=organisation)


def phone_fix_changes(*, fix: PhoneFix) -> QuerySet[ContactChange]:
    """The numbers a batch changed, each with its contact and old value."""
    return fix.changes.filter(reason=ContactChangeReason.PHONE_FIX).select_related("contact")

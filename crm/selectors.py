"""Reads of the CRM core. Every function is scoped to one organisation."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from crm.models import Account, Contact, Membership, Organisation


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


def contact_list(*, organisation: Organisation, search: str = "") -> QuerySet[Contact]:
    qs = Contact.objects.filter(organisation=organisation).select_related("account")
    if search:
        terms = search.split()
        for term in terms:
            qs = qs.filter(
                Q(first_name__icontains=term)
                | Q(last_name__icontains=term)
                | Q(email__icontains=term)
                | Q(city__icontains=term)
                | Q(mobile_phone__icontains=term)
                | Q(account__name__icontains=term)
            )
    return qs


def account_ids(*, organisation: Organisation) -> set[int]:
    return set(Account.objects.filter(organisation=organisation).values_list("id", flat=True))

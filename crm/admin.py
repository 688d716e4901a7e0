"""Django admin of the CRM core, and the mixins every app's admin uses: organisation
scoping, and read-only views of rows that only services write."""

from typing import Any

from django.contrib import admin
from django.db.models import Field, QuerySet
from django.forms import Field as FormField
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from crm.legal import LEGAL_BASIS_FIELDS, LegalBasisSource
from crm.models import Account, Contact, Membership, OptOutSource, Organisation
from crm.services import UNSET_BASIS, contact_opt_out_set, legal_basis_stamp


class OrganisationScopedAdminMixin:
    """A superuser sees every organisation's rows; other staff only their own
    organisation's (nothing without a membership).

    Another organisation's row is as absent as a deleted one: its change page answers
    the admin's "does not exist" redirect, never a page that confirms it exists.
    Foreign keys and many-to-many fields to the organisation, or to a model of one
    organisation, offer (and accept) only the staff user's own organisation's rows.
    """

    # The path from the model to its organisation's id ("pk" on Organisation itself).
    organisation_lookup = "organisation"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)  # type: ignore[misc]
        if request.user.is_superuser:
            return qs
        organisation_id = _own_organisation_id(request)
        if organisation_id is None:
            return qs.none()
        return qs.filter(**{self.organisation_lookup: organisation_id})

    def formfield_for_foreignkey(
        self, db_field: Field, request: HttpRequest, **kwargs: Any
    ) -> FormField | None:
        _scope_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(
        self, db_field: Field, request: HttpRequest, **kwargs: Any
    ) -> FormField | None:
        _scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]


class ReadOnlyAdminMixin:
    """Rows written by services only: viewable, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _own_organisation_id(request: HttpRequest) -> int | None:
    membership = request.membership  # type: ignore[attr-defined]
    return membership.organisation_id if membership else None


def _scope_choices(db_field: Field, request: HttpRequest, kwargs: dict[str, Any]) -> None:
    """Limit a relation's choices to the staff user's organisation (a superuser: all)."""
    if request.user.is_superuser or "queryset" in kwargs:
        return
    related = db_field.related_model
    organisation_id = _own_organisation_id(request)
    if related is Organisation:
        kwargs["queryset"] = Organisation.objects.filter(pk=organisation_id)
    elif any(f.name == "organisation" for f in related._meta.concrete_fields):
        kwargs["queryset"] = related._default_manager.filter(organisation_id=organisation_id)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(OrganisationScopedAdminMixin, admin.ModelAdmin):
    organisation_lookup = "pk"
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(OrganisationScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role", ("organisation", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__email", "organisation__name"]
    autocomplete_fields = ["user", "organisation"]


@admin.register(Account)
class AccountAdmin(OrganisationScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "business_id", "industry", "city", "country", "organisation"]
    list_filter = [("organisation", admin.RelatedOnlyFieldListFilter), "country", "industry"]
    search_fields = ["name", "business_id", "city"]
    list_select_related = ["organisation"]
    autocomplete_fields = ["organisation"]


@admin.register(Contact)
class ContactAdmin(OrganisationScopedAdminMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "account",
        "mobile_phone",
        "city",
        "sms_opt_out",
        "sms_opt_out_at",
        "organisation",
    ]
    list_filter = [
        ("organisation", admin.RelatedOnlyFieldListFilter),
        "sms_opt_out",
        "legal_basis",
        "language",
    ]
    search_fields = ["first_name", "last_name", "email", "mobile_phone", "work_phone"]
    list_select_related = ["account", "organisation"]
    autocomplete_fields = ["organisation", "account"]
    readonly_fields = [
        "sms_opt_out_at",
        "sms_opt_out_source",
        "legal_basis_changed_at",
        "legal_basis_changed_by",
        "legal_basis_changed_via",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["organisation", "account", "first_name", "last_name", "title"]}),
        (_("Contact details"), {"fields": ["email", "mobile_phone", "work_phone", "city"]}),
        (_("Language"), {"fields": ["language"]}),
        (_("SMS"), {"fields": ["sms_opt_out", "sms_opt_out_at", "sms_opt_out_source"]}),
        (
            _("Legal basis for marketing"),
            {
                "fields": [
                    "legal_basis",
                    "consent_at",
                    "consent_source",
                    "consent_evidence",
                    "legal_basis_changed_at",
                    "legal_basis_changed_by",
                    "legal_basis_changed_via",
                ]
            },
        ),
        (_("History"), {"fields": ["created_at", "updated_at"]}),
    ]

    def save_model(self, request, obj: Contact, form, change: bool) -> None:
        # The form has already set the new flag: the service compares it with the
        # flag as it was, and stamps the change as made in admin.
        opted_out = obj.sms_opt_out
        obj.sms_opt_out = form.initial.get("sms_opt_out", False)
        contact_opt_out_set(contact=obj, opted_out=opted_out, source=OptOutSource.ADMIN)
        legal_basis_stamp(
            contact=obj,
            before=tuple(form.initial.get(name) for name in LEGAL_BASIS_FIELDS)
            if change
            else UNSET_BASIS,
            changed_by=request.user,
            source=LegalBasisSource.ADMIN,
        )
        super().save_model(request, obj, form, change)

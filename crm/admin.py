from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Account, Contact, Membership, OptOutSource, Organisation


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organisation", "role", "created_at"]
    list_filter = ["role", "organisation"]
    search_fields = ["user__username", "user__email", "organisation__name"]
    autocomplete_fields = ["user", "organisation"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "business_id", "industry", "city", "country", "organisation"]
    list_filter = ["organisation", "country", "industry"]
    search_fields = ["name", "business_id", "city"]
    list_select_related = ["organisation"]
    autocomplete_fields = ["organisation"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "account",
        "mobile_phone",
        "city",
        "sms_opt_out",
        "sms_opt_out_at",
        "organisation",
    ]
    list_filter = ["organisation", "sms_opt_out", "language"]
    search_fields = ["first_name", "last_name", "email", "mobile_phone", "work_phone"]
    list_select_related = ["account", "organisation"]
    autocomplete_fields = ["organisation", "account"]
    readonly_fields = ["sms_opt_out_at", "sms_opt_out_source", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["organisation", "account", "first_name", "last_name", "title"]}),
        (_("Contact details"), {"fields": ["email", "mobile_phone", "work_phone", "city"]}),
        (_("Language"), {"fields": ["language"]}),
        (_("SMS"), {"fields": ["sms_opt_out", "sms_opt_out_at", "sms_opt_out_source"]}),
        (_("History"), {"fields": ["created_at", "updated_at"]}),
    ]

    def save_model(self, request, obj: Contact, form, change: bool) -> None:
        if "sms_opt_out" in form.changed_data:
            obj.sms_opt_out_at = timezone.now()
            obj.sms_opt_out_source = OptOutSource.ADMIN
        super().save_model(request, obj, form, change)

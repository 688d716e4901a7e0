from django.contrib import admin

from crm.admin import OrganisationScopedAdminMixin
from targetgroups.models import TargetGroup


@admin.register(TargetGroup)
class TargetGroupAdmin(OrganisationScopedAdminMixin, admin.ModelAdmin):
    list_display = ["name", "organisation", "match", "created_by", "updated_at"]
    list_filter = [("organisation", admin.RelatedOnlyFieldListFilter), "match"]
    search_fields = ["name", "description"]
    list_select_related = ["organisation", "created_by"]
    autocomplete_fields = ["organisation"]
    # Raw ids, not a multi-select of every contact of every organisation; the model's
    # clean() checks the conditions against the field catalogue.
    raw_id_fields = ["included_contacts", "excluded_contacts", "created_by"]
    readonly_fields = ["created_at", "updated_at"]

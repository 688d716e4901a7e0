"""Django admin for the SMS function: settings and sender names on the
organisation, quota top-ups and adjustments (``sms/admin_organisation.py``), and
read-only views of the ledger, sendouts and outbound messages, and the
suppression list (here: numbers are added and lifted through
``sms/suppression.py``, never edited).

Staff who are not superusers see only their own organisation's rows, and each
part needs its Django permission (``sms.change_quota`` for the quota actions).
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, ngettext

from core.errors import DomainError
from crm.admin import OrganisationScopedAdminMixin, ReadOnlyAdminMixin
from crm.models import Organisation
from sms.admin_organisation import OrganisationSmsAdmin
from sms.models import (
    OutboundMessage,
    QuotaTransaction,
    Sendout,
    SuppressedNumber,
    SuppressionSource,
)
from sms.rules.numbers import normalise_number
from sms.sendouts.lifecycle import sendout_cancel
from sms.statuses import MessageStatus
from sms.suppression import number_suppress, number_unsuppress

admin.site.unregister(Organisation)
admin.site.register(Organisation, OrganisationSmsAdmin)


# --- the ledger, sendouts and messages (read only) --------------------------------------


@admin.register(QuotaTransaction)
class QuotaTransactionAdmin(OrganisationScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "organisation",
        "kind",
        "amount",
        "balance_after",
        "reason",
        "sendout",
        "created_by",
    ]
    list_filter = ["kind", ("organisation", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["reason", "organisation__name", "created_by__username"]
    list_select_related = ["organisation", "created_by", "sendout"]
    date_hierarchy = "created_at"


class _CountsMixin:
    @admin.display(description=gettext_lazy("messages by status"))
    def status_counts(self, obj: Sendout) -> str:
        counts = dict(
            obj.messages.order_by()
            .values("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        return (
            ", ".join(
                f"{label}: {counts[value]}"
                for value, label in MessageStatus.choices
                if counts.get(value)
            )
            or "-"
        )


@admin.register(Sendout)
class SendoutAdmin(
    OrganisationScopedAdminMixin, ReadOnlyAdminMixin, _CountsMixin, admin.ModelAdmin
):
    list_display = [
        "id",
        "organisation",
        "status",
        "sender",
        "recipients_total",
        "messages_reserved",
        "messages_charged",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", ("organisation", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["=id", "sender", "body", "created_by__username"]
    list_select_related = ["organisation", "created_by"]
    date_hierarchy = "created_at"
    readonly_fields = ["status_counts", "messages_charged"]
    actions = ["cancel_sendouts"]

    @admin.display(description=gettext_lazy("messages charged"))
    def messages_charged(self, obj: Sendout) -> int:
        return obj.messages_charged

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sms.change_sendout")

    @admin.action(
        description=gettext_lazy("Cancel the selected sendouts (refunds what has not left)"),
        permissions=["cancel"],
    )
    def cancel_sendouts(self, request: HttpRequest, queryset: QuerySet[Sendout]) -> None:
        cancelled = 0
        for sendout in queryset:
            try:
                sendout_cancel(sendout=sendout, cancelled_by=request.user)
            except DomainError as error:
                self.message_user(request, f"{sendout}: {error.message}", messages.WARNING)
            else:
                cancelled += 1
        if cancelled:
            self.message_user(
                request,
                ngettext("%(n)s sendout cancelled.", "%(n)s sendouts cancelled.", cancelled)
                % {"n": cancelled},
                messages.SUCCESS,
            )


@admin.register(OutboundMessage)
class OutboundMessageAdmin(OrganisationScopedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    organisation_lookup = "sendout__organisation"
    list_display = [
        "id",
        "sendout",
        "contact",
        "to",
        "status",
        "messages",
        "reason",
        "error_code",
        "provider_id",
        "updated_at",
    ]
    list_filter = [
        "status",
        ("sendout__organisation", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    search_fields = [
        "to",
        "=provider_id",
        "contact__first_name",
        "contact__last_name",
        "contact__mobile_phone",
        "=sendout__id",
    ]
    list_select_related = ["sendout", "contact"]
    # Counting a large table on every page is slow: the admin shows "Show all" instead.
    show_full_result_count = False


# --- the suppression list ----------------------------------------------------------------


class SuppressedNumberForm(forms.ModelForm):
    class Meta:
        model = SuppressedNumber
        fields = ["organisation", "number"]

    def clean_number(self) -> str:
        result = normalise_number(self.cleaned_data.get("number", ""))
        if result.e164 is None:
            raise forms.ValidationError(
                gettext_lazy("Enter the number with its country code, such as +358401234567."),
                code="invalid_number",
            )
        return result.e164


@admin.register(SuppressedNumber)
class SuppressedNumberAdmin(OrganisationScopedAdminMixin, admin.ModelAdmin):
    """Numbers the organisation never texts. An admin may add one (source
    "admin") or lift one (delete); the other entries come from STOP replies, the
    carrier and the person. Entries are never edited."""

    form = SuppressedNumberForm
    list_display = ["number", "organisation", "source", "sender", "created_at"]
    list_filter = ["source", ("organisation", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["number", "sender"]
    list_select_related = ["organisation"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: SuppressedNumber, form: forms.Form, change: bool
    ) -> None:
        number_suppress(
            organisation=obj.organisation, number=obj.number, source=SuppressionSource.ADMIN
        )
        saved = SuppressedNumber.objects.get(organisation=obj.organisation, number=obj.number)
        obj.pk, obj.source, obj.created_at = saved.pk, saved.source, saved.created_at

    def delete_model(self, request: HttpRequest, obj: SuppressedNumber) -> None:
        number_unsuppress(organisation=obj.organisation, number=obj.number)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[SuppressedNumber]) -> None:
        for entry in queryset.select_related("organisation"):
            number_unsuppress(organisation=entry.organisation, number=entry.number)

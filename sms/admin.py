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
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.errors import DomainError
from crm.admin import OrganisationScopedAdminMixin, ReadOnlyAdminMixin
from crm.models import Organisation
from sms.admin_organisation import OrganisationSmsAdmin, grouped
from sms.models import (
    OutboundMessage,
    QuotaTransaction,
    Sendout,
    SuppressedNumber,
    SuppressionSource,
)
from sms.rules.numbers import PHONE_FIELDS, normalise_number
from sms.rules.senders import sender_label
from sms.sendouts.lifecycle import messages_reconcile_unknown, sendout_cancel
from sms.sendouts.reconcile import reconciliation_summary
from sms.statuses import MessageStatus, reason_label
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
        "amount_display",
        "balance_after_display",
        "reason",
        "sendout",
        "created_by",
    ]
    list_filter = ["kind", ("organisation", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["reason", "organisation__name", "created_by__username"]
    list_select_related = ["organisation", "created_by", "sendout"]
    date_hierarchy = "created_at"

    @admin.display(description=gettext_lazy("amount"), ordering="amount")
    def amount_display(self, obj: QuotaTransaction) -> str:
        return grouped(obj.amount, signed=True)

    @admin.display(description=gettext_lazy("balance after"), ordering="balance_after")
    def balance_after_display(self, obj: QuotaTransaction) -> str:
        return grouped(obj.balance_after)


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
        "sender_display",
        "phone_field_display",
        "recipients_total",
        "messages_reserved",
        "messages_charged",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", ("organisation", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["=id", "sender", "body", "created_by__username"]
    list_select_related = ["organisation", "organisation__sms_settings", "created_by"]
    date_hierarchy = "created_at"
    readonly_fields = ["status_counts", "messages_charged", "sender_display", "phone_field_display"]
    actions = ["cancel_sendouts", "reconcile_unknown"]

    def get_fields(self, request: HttpRequest, obj: Sendout | None = None) -> list:
        # The codes in words, in their places.
        words = {"sender": "sender_display", "phone_field": "phone_field_display"}
        fields = [words.get(f, f) for f in super().get_fields(request, obj)]
        return list(dict.fromkeys(fields))

    @admin.display(description=gettext_lazy("sender"), ordering="sender")
    def sender_display(self, obj: Sendout) -> str:
        sms_settings = getattr(obj.organisation, "sms_settings", None)
        return sender_label(
            obj.sender, operator_number=sms_settings.operator_number if sms_settings else ""
        )

    @admin.display(description=gettext_lazy("phone field"), ordering="phone_field")
    def phone_field_display(self, obj: Sendout) -> str:
        return str(PHONE_FIELDS.get(obj.phone_field, obj.phone_field))

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

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sms.change_sendout")

    @admin.action(
        description=gettext_lazy("Look up unknown messages at the provider"),
        permissions=["reconcile"],
    )
    def reconcile_unknown(self, request: HttpRequest, queryset: QuerySet[Sendout]) -> None:
        reconcile_unknown_and_report(
            self, request, OutboundMessage.objects.filter(sendout__in=queryset)
        )


def reconcile_unknown_and_report(
    model_admin: admin.ModelAdmin, request: HttpRequest, messages_qs: QuerySet[OutboundMessage]
) -> None:
    outcomes = messages_reconcile_unknown(messages=messages_qs)
    if not outcomes:
        model_admin.message_user(request, _("No unknown messages selected."), messages.INFO)
        return
    model_admin.message_user(request, reconciliation_summary(outcomes), messages.SUCCESS)


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
        "reason_display",
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
    actions = ["reconcile_unknown"]
    # Counting a large table on every page is slow: the admin shows "Show all" instead.
    show_full_result_count = False

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sms.change_sendout")

    @admin.action(
        description=gettext_lazy("Look up unknown messages at the provider"),
        permissions=["reconcile"],
    )
    def reconcile_unknown(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        reconcile_unknown_and_report(self, request, queryset)

    readonly_fields = ["reason_display"]

    def get_fields(self, request: HttpRequest, obj: OutboundMessage | None = None) -> list:
        fields = [
            "reason_display" if f == "reason" else f for f in super().get_fields(request, obj)
        ]
        return list(dict.fromkeys(fields))

    @admin.display(description=gettext_lazy("reason"), ordering="reason")
    def reason_display(self, obj: OutboundMessage) -> str:
        return reason_label(obj.reason) or "-"


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

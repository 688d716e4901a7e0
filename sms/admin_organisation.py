"""The SMS function on the organisation's admin page: SMS settings, sender names,
the quota ledger, and the quota top-up and adjustment actions (through
``sms/quota.py`` only, so that the ledger and the balance always agree).

Registered in place of the CRM's organisation admin by ``sms/admin.py``. Staff who
are not superusers see only their own organisation, and the quota actions need the
``sms.change_quota`` permission.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from core.errors import DomainError
from crm.admin import OrganisationAdmin, ReadOnlyAdminMixin
from crm.models import Organisation
from sms.models import QuotaTransaction, SenderName, SmsSettings
from sms.quota import QUOTA_MAX_AMOUNT, quota_adjust, quota_top_up


def grouped(number: int, *, signed: bool = False) -> str:
    """A count as the admin's language writes it: "4,976" (English), "4 976" (Finnish);
    ``signed`` puts "+" before a positive one (a ledger amount)."""
    text = number_format(number, force_grouping=True)
    return f"+{text}" if signed and number > 0 else text


class SmsSettingsInline(admin.StackedInline):
    model = SmsSettings
    can_delete = False
    max_num = 1
    fields = [
        "sms_enabled",
        "named_senders_enabled",
        "operator_number",
        "messaging_service_sid",
        "optout_by_reply",
        "messages_per_second",
        "time_zone",
        "send_windows",
        "closed_on_public_holidays",
        "quota_balance_display",
        "updated_at",
    ]
    # The balance is never posted: it changes only through the quota actions.
    readonly_fields = ["quota_balance_display", "updated_at"]

    @admin.display(description=gettext_lazy("message quota"))
    def quota_balance_display(self, obj: SmsSettings) -> str:
        return grouped(obj.quota_balance)


class SenderNameInline(admin.TabularInline):
    model = SenderName
    extra = 0
    fields = [
        "name",
        "approved",
        "authorisation",
        "authorised_on",
        "authorisation_reference",
        "created_at",
    ]
    readonly_fields = ["created_at"]


class QuotaTransactionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = QuotaTransaction
    extra = 0
    fields = [
        "created_at",
        "kind",
        "amount_display",
        "balance_after_display",
        "reason",
        "sendout",
        "created_by",
    ]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    verbose_name_plural = gettext_lazy("quota ledger")

    @admin.display(description=gettext_lazy("amount"))
    def amount_display(self, obj: QuotaTransaction) -> str:
        return grouped(obj.amount, signed=True)

    @admin.display(description=gettext_lazy("balance after"))
    def balance_after_display(self, obj: QuotaTransaction) -> str:
        return grouped(obj.balance_after)


class QuotaTopUpForm(forms.Form):
    amount = forms.IntegerField(
        label=gettext_lazy("Messages to add"), min_value=1, max_value=QUOTA_MAX_AMOUNT
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=500,
        help_text=gettext_lazy("For example the invoice or order it was paid with."),
    )


class QuotaAdjustForm(forms.Form):
    amount = forms.IntegerField(
        label=gettext_lazy("Change"),
        min_value=-QUOTA_MAX_AMOUNT,
        max_value=QUOTA_MAX_AMOUNT,
        help_text=gettext_lazy("Negative to take messages away; refused below zero."),
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500)

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError(_("The change must not be zero."), code="zero")
        return amount


class OrganisationSmsAdmin(OrganisationAdmin):
    """The CRM's organisation admin (scoped to the staff user's own organisation),
    with the SMS settings, names and quota on it."""

    inlines = [*OrganisationAdmin.inlines, SmsSettingsInline, SenderNameInline]
    list_display = [*OrganisationAdmin.list_display, "sms_enabled", "quota"]
    actions = ["top_up_quota", "adjust_quota"]

    def get_inlines(self, request: HttpRequest, obj: Organisation | None) -> list:
        # The ledger is history: shown on an existing organisation only.
        return [*self.inlines, QuotaTransactionInline] if obj is not None else self.inlines

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("sms_settings")

    @admin.display(boolean=True, description=gettext_lazy("SMS"))
    def sms_enabled(self, obj: Organisation) -> bool:
        sms_settings = getattr(obj, "sms_settings", None)
        return bool(sms_settings and sms_settings.sms_enabled)

    @admin.display(
        description=gettext_lazy("message quota"), ordering="sms_settings__quota_balance"
    )
    def quota(self, obj: Organisation) -> str:
        sms_settings = getattr(obj, "sms_settings", None)
        return grouped(sms_settings.quota_balance if sms_settings else 0)

    def has_change_quota_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("sms.change_quota")

    @admin.action(description=gettext_lazy("Top up message quota"), permissions=["change_quota"])
    def top_up_quota(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._quota_action(
            request,
            queryset,
            action="top_up_quota",
            form_class=QuotaTopUpForm,
            service=quota_top_up,
            title=_("Top up message quota"),
            intro=_("Add messages to the quota of these organisations."),
        )

    @admin.action(description=gettext_lazy("Adjust message quota"), permissions=["change_quota"])
    def adjust_quota(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._quota_action(
            request,
            queryset,
            action="adjust_quota",
            form_class=QuotaAdjustForm,
            service=quota_adjust,
            title=_("Adjust message quota"),
            intro=_(
                "Correct the quota of these organisations. A correction that would take "
                "a quota below zero is refused, and then nothing changes."
            ),
        )

    def _quota_action(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        *,
        action: str,
        form_class: type[forms.Form],
        service: Any,
        title: str,
        intro: str,
    ) -> HttpResponse | None:
        organisations = list(queryset.order_by("name"))
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
            try:
                # All or none: one refusal leaves every quota as it was.
                with transaction.atomic():
                    for organisation in organisations:
                        try:
                            service(
                                organisation=organisation,
                                amount=amount,
                                reason=reason,
                                created_by=request.user,
                            )
                        except DomainError as error:
                            raise DomainError(
                                error.code, f"{organisation.name}: {error.message}"
                            ) from error
            except DomainError as error:
                form.add_error(None, error.message + " " + _("Nothing was changed."))
            else:
                self.message_user(
                    request,
                    ngettext(
                        "The message quota of %(count)d organisation changed by %(amount)+d.",
                        "The message quotas of %(count)d organisations changed by %(amount)+d.",
                        len(organisations),
                    )
                    % {"count": len(organisations), "amount": amount},
                    messages.SUCCESS,
                )
                return None
        balances = dict(
            SmsSettings.objects.filter(organisation__in=organisations).values_list(
                "organisation_id", "quota_balance"
            )
        )
        for organisation in organisations:
            organisation.quota_now = balances.get(organisation.pk, 0)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "opts": self.model._meta,
            "organisations": organisations,
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "submit_label": title,
        }
        return TemplateResponse(request, "sms/admin/quota_change.html", context)

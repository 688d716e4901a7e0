"""SMS pages: the sendout page. The modal and the SMS tab are templates that
the target-group pages include (see TARGET_GROUP_* settings)."""

from django.urls import reverse
from django.views.generic import DetailView

from crm.views import OrganisationMixin
from sms import selectors
from sms.api import recipients_csv_response
from sms.models import Sendout
from sms.rules.numbers import PHONE_FIELDS, SkipReason
from sms.rules.senders import sender_label
from sms.statuses import MessageReason, MessageStatus, SendoutStatus


class SendoutExportView(OrganisationMixin, DetailView):
    """The sendout's recipients as a CSV download (the same file as the API's)."""

    def get_queryset(self):
        return Sendout.objects.filter(organisation=self.organisation)

    def get(self, request, *args, **kwargs):
        return recipients_csv_response(self.get_object())


class SendoutDetailView(OrganisationMixin, DetailView):
    template_name = "sms/sendout_detail.html"
    context_object_name = "sendout"
    extra_context = {"nav_section": "target-groups"}

    def get_queryset(self):
        return selectors.sendout_list(organisation=self.organisation).select_related("target_group")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sendout = self.object
        sms_settings = selectors.sms_settings_or_defaults(organisation=self.organisation)
        context["sender_label"] = sender_label(
            sendout.sender, operator_number=sms_settings.operator_number
        )
        context["phone_field_label"] = PHONE_FIELDS.get(sendout.phone_field, sendout.phone_field)
        # The contact page of each recipient: the JavaScript puts the contact's id for 0.
        context["contact_url"] = reverse("contact-detail", args=[0])
        context["statuses"] = MessageStatus.choices
        context["labels"] = {
            "sendout_statuses": {value: str(label) for value, label in SendoutStatus.choices},
            "message_statuses": {value: str(label) for value, label in MessageStatus.choices},
            "reasons": {
                **{reason.value: str(reason.label) for reason in SkipReason},
                **{value: str(label) for value, label in MessageReason.choices},
            },
        }
        return context

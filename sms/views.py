"""SMS pages: the sendout page. The modal and the SMS tab are templates that
the target-group pages include (see TARGET_GROUP_* settings)."""

from django.views.generic import DetailView

from crm.views import OrganisationMixin
from sms import selectors
from sms.rules.numbers import SkipReason
from sms.statuses import MessageReason, MessageStatus, SendoutStatus


class SendoutDetailView(OrganisationMixin, DetailView):
    template_name = "sms/sendout_detail.html"
    context_object_name = "sendout"

    def get_queryset(self):
        return selectors.sendout_list(organisation=self.organisation).select_related("target_group")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
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

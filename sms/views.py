"""SMS pages: the sendout page. The modal and the SMS tab are templates that
the target-group pages include (see TARGET_GROUP_* settings)."""

from django.views.generic import DetailView

from crm.views import OrganisationMixin
from sms import selectors


class SendoutDetailView(OrganisationMixin, DetailView):
    template_name = "sms/sendout_detail.html"
    context_object_name = "sendout"

    def get_queryset(self):
        return selectors.sendout_list(organisation=self.organisation).select_related("target_group")

from django.views.generic import TemplateView

from crm.views import OrganisationMixin


class TargetGroupListView(OrganisationMixin, TemplateView):
    """Placeholder until target groups land (the target-groups issue)."""

    template_name = "targetgroups/targetgroup_list.html"

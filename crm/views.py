"""HTML pages of the CRM core: thin views over selectors."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.generic import DetailView, ListView

from crm import selectors
from crm.models import Organisation


class OrganisationMixin(LoginRequiredMixin):
    """Pages for members of an organisation; another organisation's rows are 404."""

    request: HttpRequest

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and not request.membership:  # type: ignore[attr-defined]
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    @property
    def organisation(self) -> Organisation:
        # ``request.membership`` (crm.middleware) looks it up once per request.
        return self.request.membership.organisation  # type: ignore[attr-defined]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["search"] = self.request.GET.get("q", "")
        return context


class AccountListView(OrganisationMixin, ListView):
    template_name = "crm/account_list.html"
    context_object_name = "accounts"
    paginate_by = 50

    def get_queryset(self):
        return selectors.account_list_with_counts(
            organisation=self.organisation, search=self.request.GET.get("q", "").strip()
        )


class AccountDetailView(OrganisationMixin, DetailView):
    template_name = "crm/account_detail.html"
    context_object_name = "account"

    def get_queryset(self):
        return selectors.account_list(organisation=self.organisation)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["contacts"] = self.object.contacts.all()
        return context


class ContactListView(OrganisationMixin, ListView):
    template_name = "crm/contact_list.html"
    context_object_name = "contacts"
    paginate_by = 50

    def get_queryset(self):
        return selectors.contact_list(
            organisation=self.organisation, search=self.request.GET.get("q", "").strip()
        )


class ContactDetailView(OrganisationMixin, DetailView):
    template_name = "crm/contact_detail.html"
    context_object_name = "contact"

    def get_queryset(self):
        return selectors.contact_list(organisation=self.organisation)

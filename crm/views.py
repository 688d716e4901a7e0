"""HTML pages of the CRM core: thin views over selectors."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.defaults import page_not_found
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


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
    return redirect("contact-list")


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


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 for a path no route matches: the API answers JSON like its own 404s."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found."), "code": "not_found"}, status=404)
    return page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """400 for a request Django refuses before any view (too many form fields, a
    suspicious header): the API answers JSON like its own refusals."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Bad request."), "code": "bad_request"}, status=400)
    return defaults.bad_request(request, exception)

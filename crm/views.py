"""HTML pages of the CRM core: thin views over selectors."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import DetailView, ListView

from crm import selectors, services
from crm.models import OptOutSource, Organisation


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

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["organisation"] = self.organisation
        context["can_write"] = self.request.membership.can_write  # type: ignore[attr-defined]
        context["sms_history_template"] = settings.CONTACT_SMS_HISTORY_TEMPLATE
        return context


class ContactOptOutView(OrganisationMixin, View):
    """POST ``sms_opt_out`` "1" (no SMS messages) or "0" (accepts them) from the
    contact's page; stamped as changed by a user. Viewers may not."""

    http_method_names = ["post"]
    values = {"1": True, "0": False}

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not request.membership.can_write:  # type: ignore[attr-defined]
            raise PermissionDenied
        contact = get_object_or_404(selectors.contact_list(organisation=self.organisation), pk=pk)
        wanted = self.values.get(request.POST.get("sms_opt_out", ""))
        if wanted is None:
            return HttpResponseBadRequest(_("Choose whether the contact accepts SMS messages."))
        if wanted != contact.sms_opt_out:
            services.contact_update(
                contact=contact, data={"sms_opt_out": wanted}, source=OptOutSource.USER
            )
            done = (
                _("%(name)s no longer receives SMS messages.")
                if wanted
                else _("%(name)s receives SMS messages again.")
            )
            messages.success(request, done % {"name": contact})
        return redirect("contact-detail", pk=contact.pk)

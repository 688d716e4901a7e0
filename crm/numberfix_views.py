"""The "Fix numbers without a country code" page (#20): GET previews for the chosen
default country (Finland preselected), POST applies the ticked fixes, a fix's page
offers its undo. ``targetgroups.views`` scopes the same page to a group's members."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from core.errors import DomainError
from crm import numberfix
from crm.models import CONTACT_PHONE_FIELDS, Contact, PhoneFix
from crm.selectors import contact_list, phone_fix_changes, phone_fix_list
from crm.views import OrganisationMixin


class _Write:
    def require_write(self) -> None:
        membership = self.request.membership  # type: ignore[attr-defined]
        if not (membership and membership.can_write):
            raise PermissionDenied


class PhoneFixView(OrganisationMixin, _Write, TemplateView):
    template_name = "crm/phone_fix.html"

    def get_contacts(self) -> QuerySet[Contact]:
        return contact_list(organisation=self.organisation).select_related(None)

    def back_url(self) -> str:
        return reverse("contact-list")

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and request.membership:  # type: ignore[attr-defined]
            self.require_write()
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        country = (self.request.GET.get("country") or numberfix.DEFAULT_COUNTRY).upper()
        error = ""
        proposals: list = []
        try:
            proposals = numberfix.phone_fix_preview(contacts=self.get_contacts(), country=country)
        except DomainError as exc:
            error = exc.message
        context.update(
            country=country,
            countries=numberfix.countries(),
            error=error,
            fixable=[p for p in proposals if p.new],
            invalid=[p for p in proposals if not p.new],
            back_url=self.back_url(),
        )
        return context

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        fixes = []
        for value in request.POST.getlist("fix"):
            contact_id, _sep, field = value.partition(":")
            if (
                not contact_id.isdigit()
                or len(contact_id) > 18
                or field not in CONTACT_PHONE_FIELDS
            ):
                messages.error(request, _("Choose numbers from the list."))
                return redirect(request.get_full_path())
            fixes.append({"contact": int(contact_id), "field": field})
        try:
            fix = numberfix.phone_fix_apply(
                organisation=self.organisation,
                contacts=self.get_contacts(),
                country=request.POST.get("country", ""),
                fixes=fixes,
                user=request.user,
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect(request.get_full_path())
        messages.success(request, _("Numbers fixed: %(n)s.") % {"n": len(fixes)})
        return redirect("phone-fix-detail", pk=fix.pk)


class PhoneFixDetailView(OrganisationMixin, _Write, TemplateView):
    template_name = "crm/phone_fix_detail.html"

    def get_fix(self) -> PhoneFix:
        return get_object_or_404(
            phone_fix_list(organisation=self.organisation), pk=self.kwargs["pk"]
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        fix = self.get_fix()
        context.update(fix=fix, changes=phone_fix_changes(fix=fix))
        return context


class PhoneFixUndoView(OrganisationMixin, _Write, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.require_write()
        fix = get_object_or_404(phone_fix_list(organisation=self.organisation), pk=pk)
        try:
            restored, kept = numberfix.phone_fix_undo(phone_fix=fix, user=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("Undone: %(restored)s numbers put back, %(kept)s changed since and kept.")
                % {"restored": restored, "kept": kept},
            )
        return redirect("phone-fix-detail", pk=pk)

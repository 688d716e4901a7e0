"""HTML pages of target groups: thin views over selectors and services."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from core.errors import DomainError
from crm import selectors as crm_selectors
from crm.numberfix_views import PhoneFixView
from crm.views import OrganisationMixin
from targetgroups import selectors, services
from targetgroups.fields import catalogue_json, operator_labels_json
from targetgroups.models import TargetGroup

SEARCH_RESULTS = 20


class _WriteMixin:
    def can_write(self) -> bool:
        membership = self.request.membership  # type: ignore[attr-defined]
        return bool(membership) and membership.can_write

    def require_write(self) -> None:
        if not self.can_write():
            raise PermissionDenied


class TargetGroupListView(OrganisationMixin, _WriteMixin, ListView):
    template_name = "targetgroups/targetgroup_list.html"
    context_object_name = "target_groups"
    paginate_by = 25

    def get_queryset(self):
        return selectors.target_group_list(organisation=self.organisation)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        groups = list(context["target_groups"])
        counts = selectors.target_group_member_counts(
            organisation=self.organisation, target_groups=groups
        )
        context["rows"] = [(group, counts[group.pk]) for group in groups]
        context["can_write"] = self.can_write()
        return context


class TargetGroupForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class TargetGroupCreateView(OrganisationMixin, _WriteMixin, FormView):
    template_name = "targetgroups/targetgroup_form.html"
    form_class = TargetGroupForm

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated and request.membership:  # type: ignore[attr-defined]
            self.require_write()
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form: TargetGroupForm) -> HttpResponse:
        group = services.target_group_create(
            organisation=self.organisation, created_by=self.request.user, **form.cleaned_data
        )
        messages.success(self.request, _("Target group created. Now add its conditions."))
        return redirect("targetgroup-detail", pk=group.pk)


class _GroupMixin(OrganisationMixin, _WriteMixin):
    tab = ""

    def get_group(self) -> TargetGroup:
        if not hasattr(self, "_group"):
            self._group = get_object_or_404(
                selectors.target_group_list(organisation=self.organisation), pk=self.kwargs["pk"]
            )
        return self._group

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        group = self.get_group()
        context.update(
            target_group=group,
            organisation=self.organisation,
            tab=self.tab,
            can_write=self.can_write(),
            member_count=selectors.target_group_member_count(target_group=group),
        )
        return context


class TargetGroupDetailView(_GroupMixin, TemplateView):
    """The Conditions tab: the condition builder and the Actions section."""

    template_name = "targetgroups/targetgroup_conditions.html"
    tab = "conditions"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        group = self.get_group()
        included, excluded = selectors.target_group_contact_ids(target_group=group)
        context.update(
            builder={
                "id": group.pk,
                "name": group.name,
                "description": group.description,
                "match": group.match,
                "conditions": selectors.target_group_conditions(target_group=group),
                "included_contacts": included,
                "excluded_contacts": excluded,
                "api_url": reverse("api-targetgroup-detail", args=[group.pk]),
                "count_url": reverse("api-targetgroup-count"),
                "can_write": context["can_write"],
            },
            catalogue=catalogue_json(),
            operator_labels=operator_labels_json(),
            actions_template=settings.TARGET_GROUP_ACTIONS_TEMPLATE,
        )
        return context


class TargetGroupMembersView(_GroupMixin, ListView):
    """The Members tab: members page by page, hand-picked contacts, add by search."""

    template_name = "targetgroups/targetgroup_members.html"
    context_object_name = "members"
    paginate_by = 50
    tab = "members"

    def get_queryset(self):
        return selectors.target_group_members(target_group=self.get_group())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        group = self.get_group()
        search = self.request.GET.get("add", "").strip()
        found = (
            list(
                crm_selectors.contact_list(organisation=self.organisation, search=search)[
                    :SEARCH_RESULTS
                ]
            )
            if search
            else []
        )
        # A contact who is a member already is shown as one, not offered "Include".
        members = set(
            selectors.target_group_members(target_group=group)
            .filter(pk__in=[contact.pk for contact in found])
            .values_list("pk", flat=True)
        )
        context.update(
            included=group.included_contacts.order_by("last_name", "first_name", "pk"),
            excluded=group.excluded_contacts.order_by("last_name", "first_name", "pk"),
            add_search=search,
            found=[(contact, contact.pk in members) for contact in found],
        )
        return context


class TargetGroupSmsView(_GroupMixin, TemplateView):
    template_name = "targetgroups/targetgroup_sms.html"
    tab = "sms"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sms_tab_template"] = settings.TARGET_GROUP_SMS_TAB_TEMPLATE
        return context


class TargetGroupHandPickView(_GroupMixin, View):
    """POST a contact id to include, exclude or reset it; then back to the Members tab."""

    http_method_names = ["post"]
    actions = {
        "include": services.target_group_include_contacts,
        "exclude": services.target_group_exclude_contacts,
        "reset": services.target_group_reset_contacts,
    }
    done = {
        "include": gettext_lazy("Contact included."),
        "exclude": gettext_lazy("Contact excluded."),
        "reset": gettext_lazy("The conditions decide about this contact again."),
    }

    def post(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        self.require_write()
        group = self.get_group()
        try:
            contact_id = int(request.POST.get("contact", ""))
            self.actions[action](target_group=group, contact_ids=[contact_id])
        except ValueError:
            messages.error(request, _("Choose a contact."))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, self.done[action])
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, {request.get_host()}):
            back = reverse("targetgroup-members", args=[group.pk])
        return HttpResponseRedirect(back)


class TargetGroupDeleteView(_GroupMixin, TemplateView):
    template_name = "targetgroups/targetgroup_confirm_delete.html"

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        self.require_write()
        group = self.get_group()
        services.target_group_delete(target_group=group)
        messages.success(request, _("Target group “%(name)s” deleted.") % {"name": group.name})
        return redirect("targetgroup-list")


class TargetGroupPhoneFixView(PhoneFixView):
    """ "Fix numbers without a country code" among a group's members."""

    def get_group(self) -> TargetGroup:
        return get_object_or_404(
            selectors.target_group_list(organisation=self.organisation), pk=self.kwargs["pk"]
        )

    def get_contacts(self):
        return selectors.target_group_members(target_group=self.get_group())

    def back_url(self) -> str:
        return reverse("targetgroup-detail", args=[self.kwargs["pk"]])

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | {"target_group": self.get_group()}

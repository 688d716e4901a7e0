"""SMS pages: the sendout page. The modal and the SMS tab are templates that
the target-group pages include (see TARGET_GROUP_* settings)."""

from urllib.parse import urlsplit, urlunsplit

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.http import require_safe
from django.views.generic import DetailView, ListView

from crm.views import OrganisationMixin
from sms import replies, selectors
from sms.api import recipients_csv_response
from sms.links import Visit, link_follow, sendout_click_figures
from sms.models import Sendout
from sms.rules.numbers import PHONE_FIELDS, SkipReason
from sms.rules.senders import sender_label
from sms.statuses import MessageReason, MessageStatus, SendoutStatus

REPLIES_SHOWN = 20
"""Replies listed on a sendout's page and a contact's (the API pages through all)."""


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
        context["clicks"] = sendout_click_figures(sendout=sendout)
        context["replies"] = list(replies.sendout_replies(sendout=sendout)[:REPLIES_SHOWN])
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


def _ascii_host(url: str) -> str:
    """``url`` with a non-ASCII host in its IDNA form (kauppa.äö.fi →
    kauppa.xn--4ca0b.fi): a Location header is ASCII, and browsers open both."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.isascii():
        return url
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return url
    netloc = parts.netloc.replace(parts.netloc.rsplit("@", 1)[-1].split(":")[0], ascii_host, 1)
    return urlunsplit(parts._replace(netloc=netloc))


@require_safe
def short_link(request: HttpRequest, code: str) -> HttpResponse:
    """A recipient's short link: records the visit (``sms.links.link_follow``)
    and redirects (302) to the message's URL. No login; a code that names no
    link is the site's plain 404, whatever was wrong with it."""
    target = link_follow(
        code=code,
        visit=Visit(
            method=request.method or "GET",
            user_agent=request.headers.get("User-Agent", ""),
            purpose=request.headers.get("Sec-Purpose", "") or request.headers.get("Purpose", ""),
        ),
    )
    if target is None:
        raise Http404
    response = HttpResponseRedirect(_ascii_host(target))
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


class ReplyListView(OrganisationMixin, ListView):
    """Your replies: the texts answering the sendouts you sent, unread first."""

    template_name = "sms/reply_list.html"
    context_object_name = "replies"
    paginate_by = 50
    extra_context = {"nav_section": "replies"}

    def get_queryset(self):
        return replies.replies_of_owner(organisation=self.organisation, user=self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["unread"] = replies.unread_count(
            organisation=self.organisation, user=self.request.user
        )
        return context


class RepliesReadView(OrganisationMixin, View):
    """POST: mark your unread replies read (``reply`` ids, or all of them)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        wanted = request.POST.getlist("reply")
        if not all(value.isascii() and value.isdigit() and len(value) < 19 for value in wanted):
            raise Http404
        marked = replies.replies_mark_read(
            user=request.user,
            organisation=self.organisation,
            ids=[int(value) for value in wanted] if wanted else None,
        )
        if marked:
            messages.success(
                request,
                ngettext("%(n)s reply marked read.", "%(n)s replies marked read.", marked)
                % {"n": marked},
            )
        else:
            messages.info(request, _("No unread replies."))
        return redirect("sms-replies")

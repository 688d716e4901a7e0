"""SMS pages: the sendout page, and the opt-out page of marketing texts' links.
The modal and the SMS tab are templates that the target-group pages include
(see TARGET_GROUP_* settings)."""

from urllib.parse import urlsplit, urlunsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe
from django.views.generic import DetailView, ListView

from core.errors import DomainError
from crm.models import Contact, OptOutSource, Role
from crm.views import ContactOptOutView, OrganisationMixin
from sms import replies, schedule, selectors
from sms.api import recipients_csv_response
from sms.links import Visit, link_follow, sendout_click_figures
from sms.models import Sendout
from sms.optout import optout_by_token, optout_find
from sms.pacing import expected_finish
from sms.rules.numbers import PHONE_FIELDS, SkipReason
from sms.rules.senders import sender_label
from sms.sendouts.lifecycle import sendout_cancel
from sms.statuses import MessageReason, MessageStatus, SendoutStatus
from sms.suppression import contact_sms_opt_out_set

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
        context["time_zone"] = sms_settings.time_zone
        counts = sendout.counts
        context["expected_finish"] = expected_finish(
            sendout=sendout, pending=counts["pending"] + counts["sending"]
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


OPTOUT_LANGUAGES = ("fi", "sv", "en")


# No CSRF token: the token in the path is the secret (nobody else can post it),
# and a phone's in-app browser may hold no cookie. Opening the link (GET) writes
# nothing, since link previews and scanners open links too; the one click (POST)
# opts the number out.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def optout_page(request: HttpRequest, token: str) -> HttpResponse:
    """The opt-out page of a marketing text's link: one click opts the number out
    (idempotent, no login) and confirms, in Finnish, Swedish or English
    (``?lang=``, else the contact's language, else Finnish). Shows the
    organisation's name and the number's last two digits, nothing else; a bad
    token is a 404 that writes nothing."""
    confirm = optout_by_token if request.method == "POST" else optout_find
    result = confirm(token=token)
    asked = request.GET.get("lang", "")
    if asked in OPTOUT_LANGUAGES:
        language = asked
    elif result is not None and result.language in OPTOUT_LANGUAGES:
        language = result.language
    else:
        language = "fi"
    context = {
        "result": result,
        "number_end": result.number[-2:] if result else "",
        "language": language,
        "languages": [("fi", "Suomeksi"), ("sv", "På svenska"), ("en", "In English")],
    }
    with translation.override(language):
        response = render(request, "sms/optout.html", context, status=200 if result else 404)
    response["Content-Language"] = language
    response["Cache-Control"] = "no-store"
    return response


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


class ContactSmsOptOutView(ContactOptOutView):
    """The contact page's opt-out switch (``contact-opt-out``): the contact's flag
    and its numbers on the suppression list, or both lifted."""

    def opt_out_set(self, *, contact: Contact, opted_out: bool) -> None:
        contact_sms_opt_out_set(contact=contact, opted_out=opted_out, source=OptOutSource.USER)


class ScheduledListView(OrganisationMixin, ListView):
    """The organisation's sendouts that have not finished: scheduled (with
    Reschedule and Cancel), queued, sending and paused."""

    template_name = "sms/scheduled_list.html"
    context_object_name = "sendouts"
    paginate_by = 50
    extra_context = {"nav_section": "sms-scheduled"}

    def get_queryset(self):
        return selectors.sendout_unfinished_list(organisation=self.organisation)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sms_settings = selectors.sms_settings_or_defaults(organisation=self.organisation)
        context["time_zone"] = sms_settings.time_zone
        return context


class SendoutActionView(OrganisationMixin, View):
    """A form's POST on one sendout: the service acts, the page says what happened."""

    def back(self, request: HttpRequest) -> HttpResponse:
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse("sms-scheduled")
        return HttpResponseRedirect(target)

    def sendout(self, pk: int):
        """The organisation's sendout (404 otherwise); changing it is for its creator
        or an administrator (403), as the API's cancel says."""
        sendout = get_object_or_404(selectors.sendout_list(organisation=self.organisation), pk=pk)
        membership = self.request.membership  # type: ignore[attr-defined]
        may = membership.can_write and (
            membership.role == Role.ADMIN or sendout.created_by_id == self.request.user.pk
        )
        if not may:
            raise PermissionDenied(
                _(
                    "Only the sendout's creator or an administrator of the organisation "
                    "may change it."
                )
            )
        return sendout


class SendoutCancelView(SendoutActionView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        try:
            sendout_cancel(sendout=self.sendout(pk), cancelled_by=request.user)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("The sendout was cancelled and its quota refunded."))
        return self.back(request)


class SendoutRescheduleView(SendoutActionView):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        sendout = self.sendout(pk)
        sms_settings = selectors.sms_settings_or_defaults(organisation=self.organisation)
        try:
            send_at = schedule.send_at_read(
                send_at=None,
                send_at_local=request.POST.get("send_at_local", "") or "-",
                sms_settings=sms_settings,
            )
            schedule.sendout_reschedule(
                sendout=sendout, send_at=send_at, rescheduled_by=request.user
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("The sendout was moved."))
        return self.back(request)


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

"""The SMS part of the HTTP API: options, preview, sendouts and the quota. Thin
views: an input serializer validates, a service acts, an output serializer answers."""

from django.conf import settings
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import Pagination
from core.throttling import ScopedUserRateThrottle
from crm.api import OrganisationScopedMixin
from crm.models import Contact, Role
from crm.permissions import IsOrganisationMember
from crm.serializers import LegalBasisSetOutSerializer, LegalBasisSetSerializer
from crm.services import contacts_legal_basis_set
from sms import checks, message_templates, replies, report, schedule, selectors, windows
from sms.models import MessageTemplate, OutboundMessage, QuotaTransaction, Sendout
from sms.rules.numbers import SkipReason
from sms.rules.purposes import Purpose
from sms.sendouts.create import sendout_create
from sms.sendouts.lifecycle import sendout_cancel
from sms.sendouts.test_send import own_number, sendout_test_send
from sms.serializers import (
    ContactSmsHistorySerializer,
    LastMessageSerializer,
    MessageTemplateSerializer,
    OptionsSerializer,
    PreviewInSerializer,
    PreviewOutSerializer,
    QuotaSerializer,
    QuotaTransactionSerializer,
    RecipientSerializer,
    RepliesReadInSerializer,
    RepliesReadSerializer,
    ReplySerializer,
    ReportSerializer,
    RescheduleInSerializer,
    SendoutInSerializer,
    SendoutSerializer,
    SkippedInSerializer,
    SkippedSerializer,
    TestSendInSerializer,
)
from sms.statuses import MessageStatus
from targetgroups.models import TargetGroup


class QuotaView(OrganisationScopedMixin, generics.GenericAPIView):
    """The organisation's message quota and its ledger, latest first.

    Answers ``remaining`` and one page of ``transactions`` with the page's
    ``count``, ``next`` and ``previous`` beside them (``?page=``, ``?page_size=``).
    """

    serializer_class = QuotaTransactionSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return QuotaTransaction.objects.none()
        return selectors.quota_transaction_list(organisation=self.organisation)

    @extend_schema(responses=QuotaSerializer)
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        paginator = self.paginator
        return Response(
            {
                "remaining": selectors.quota_balance(organisation=self.organisation),
                "count": paginator.page.paginator.count,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "transactions": self.get_serializer(page, many=True).data,
            }
        )


class TargetGroupSmsView(OrganisationScopedMixin, APIView):
    def target_group(self, pk: int) -> TargetGroup:
        return get_object_or_404(TargetGroup, pk=pk, organisation=self.organisation)


class OptionsView(TargetGroupSmsView):
    @extend_schema(responses=OptionsSerializer)
    def get(self, request: Request, pk: int) -> Response:
        target_group = self.target_group(pk)
        sms_settings = selectors.sms_settings_or_defaults(organisation=self.organisation)
        options = selectors.sms_options(
            sms_settings=sms_settings,
            user=request.user,
            finnish_numbers=selectors.has_finnish_numbers(target_group=target_group),
        )
        options["send_window"] = windows.send_window_state(
            sms_settings=sms_settings, user=request.user
        )
        options["quota_reserved_scheduled"] = selectors.quota_reserved_scheduled(
            organisation=self.organisation
        )
        last = message_templates.last_message(target_group=target_group)
        options["last_message"] = LastMessageSerializer(last).data if last else None
        options["own_number"] = own_number(user=request.user)
        options["test_sends_per_hour"] = settings.SMS_TEST_SENDS_PER_HOUR
        return Response(OptionsSerializer(options).data)


class PreviewView(TargetGroupSmsView):
    throttle_classes = [ScopedUserRateThrottle]
    throttle_scope = "sms_preview"

    @extend_schema(request=PreviewInSerializer, responses=PreviewOutSerializer)
    def post(self, request: Request, pk: int) -> Response:
        target_group = self.target_group(pk)
        sms_settings = selectors.sms_settings_or_defaults(organisation=self.organisation)
        # Refused before the input is read: a 403 says more than a 400 would.
        checks.sms_enabled_or_refuse(sms_settings=sms_settings)
        data = PreviewInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        preview = selectors.sendout_preview(
            target_group=target_group,
            sms_settings=sms_settings,
            user=request.user,
            **data.validated_data,
        )
        return Response(PreviewOutSerializer(preview).data)


class SkippedView(TargetGroupSmsView):
    """The members a preview skips for one reason, page by page: what the user
    can check before sending. Query: ``sender, phone_field, body, reason``,
    ``page``, ``page_size``."""

    throttle_classes = [ScopedUserRateThrottle]
    throttle_scope = "sms_preview"
    pagination_class = Pagination

    @extend_schema(parameters=[SkippedInSerializer], responses=SkippedSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        target_group = self.target_group(pk)
        sms_settings = selectors.sms_settings_or_defaults(organisation=self.organisation)
        checks.sms_enabled_or_refuse(sms_settings=sms_settings)
        data = SkippedInSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        asked = data.validated_data
        skipped = selectors.preview_skipped(
            target_group=target_group,
            sms_settings=sms_settings,
            sender=asked["sender"],
            phone_field=asked["phone_field"],
            body=asked["body"],
            reason=SkipReason(asked["reason"]),
            purpose=asked["purpose"],
            user=request.user,
            link_tracking=asked["link_tracking"],
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(skipped, request, view=self)
        return paginator.get_paginated_response(SkippedSerializer(page, many=True).data)


class LegalBasisView(TargetGroupSmsView):
    """Record a legal basis for the members a marketing sendout skips as
    ``no_legal_basis`` (all of them, or the listed ``contacts`` among them),
    stamped with who, when and "bulk": the preview's way to fix those skips.
    Nothing is assumed: the user states the basis (consent with its date and
    source)."""

    @extend_schema(request=LegalBasisSetSerializer, responses=LegalBasisSetOutSerializer)
    def post(self, request: Request, pk: int) -> Response:
        target_group = self.target_group(pk)
        data = LegalBasisSetSerializer(
            data=request.data, context={"organisation": self.organisation}
        )
        data.is_valid(raise_exception=True)
        asked = dict(data.validated_data)
        ids = asked.pop("contacts", None)
        contacts = selectors.members_without_basis(target_group=target_group)
        if ids is not None:
            contacts = contacts.filter(id__in=ids)
            outside = set(ids) - set(contacts.values_list("id", flat=True))
            if outside:
                raise ValidationError(
                    {
                        "contacts": [
                            _("Not a member skipped for want of a legal basis: %(ids)s.")
                            % {"ids": ", ".join(map(str, sorted(outside)[:10]))}
                        ]
                    }
                )
        updated = contacts_legal_basis_set(
            contacts=Contact.objects.filter(id__in=contacts.values("id")),
            changed_by=request.user,
            **asked,
        )
        return Response({"updated": updated})


class SendoutCreateView(TargetGroupSmsView):
    throttle_classes = [ScopedUserRateThrottle]
    throttle_scope = "sms_send"

    @extend_schema(
        request=SendoutInSerializer,
        responses={202: SendoutSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def post(self, request: Request, pk: int) -> Response:
        target_group = self.target_group(pk)
        data = SendoutInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()
        if len(key) > 100:
            raise ValidationError({"Idempotency-Key": [_("Use at most 100 characters.")]})
        fields = dict(data.validated_data)
        send_at = schedule.send_at_read(
            send_at=fields.pop("send_at", None),
            send_at_local=fields.pop("send_at_local", None),
            sms_settings=selectors.sms_settings_or_defaults(organisation=self.organisation),
        )
        sendout, _created = sendout_create(
            target_group=target_group,
            created_by=request.user,
            idempotency_key=key,
            send_at=send_at,
            **fields,
        )
        sendout = selectors.sendout_list(organisation=self.organisation).get(pk=sendout.pk)
        return Response(SendoutSerializer(sendout).data, status=status.HTTP_202_ACCEPTED)


class TestSendView(TargetGroupSmsView):
    """ "Send a test": the message as one member would get it, to the user's own
    number; a sendout of purpose ``test`` (charged, in the ledger)."""

    @extend_schema(request=TestSendInSerializer, responses={202: SendoutSerializer})
    def post(self, request: Request, pk: int) -> Response:
        target_group = self.target_group(pk)
        data = TestSendInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sendout = sendout_test_send(
            target_group=target_group, created_by=request.user, **data.validated_data
        )
        sendout = selectors.sendout_list(organisation=self.organisation).get(pk=sendout.pk)
        return Response(SendoutSerializer(sendout).data, status=status.HTTP_202_ACCEPTED)


class MayCancelSendout(BasePermission):
    """Cancelling stops messages someone decided to send: the sendout's creator or an
    administrator of its organisation may; other members (and viewers) get 403."""

    message = _("Only the sendout's creator or an administrator of the organisation may cancel it.")

    def has_object_permission(self, request: Request, view: object, obj: Sendout) -> bool:
        membership = request.membership  # type: ignore[attr-defined]
        if not membership:
            return False
        return membership.role == Role.ADMIN or obj.created_by_id == request.user.pk


class SendoutViewSet(
    OrganisationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = SendoutSerializer

    def get_queryset(self) -> QuerySet[Sendout]:
        if getattr(self, "swagger_fake_view", False):
            return Sendout.objects.none()
        target_group = self.request.query_params.get("target_group")
        qs = selectors.sendout_list(organisation=self.organisation)
        if target_group:
            # ASCII digits only (int("²") fails) and within 64 bits (SQLite overflows).
            if not (target_group.isascii() and target_group.isdigit() and len(target_group) < 19):
                raise ValidationError({"target_group": [_("A valid integer is required.")]})
            qs = qs.filter(target_group_id=int(target_group))
        if self.action == "list":
            # Test messages are not campaigns: listed only when asked for.
            purpose = self.request.query_params.get("purpose", "")
            if purpose and purpose not in Purpose.values:
                raise ValidationError(
                    {
                        "purpose": [
                            _("Choose one of: %(purposes)s.")
                            % {"purposes": ", ".join(Purpose.values)}
                        ]
                    }
                )
            qs = qs.filter(purpose=purpose) if purpose else qs.exclude(purpose=Purpose.TEST)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("target_group", int),
            OpenApiParameter(
                "purpose",
                str,
                enum=list(Purpose.values),
                description=_("Only sendouts of this purpose; left out: all but tests."),
            ),
        ]
    )
    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        responses=RecipientSerializer(many=True),
        parameters=[OpenApiParameter("status", str, enum=[s.value for s in MessageStatus])],
    )
    @action(detail=True, methods=["get"])
    # **kwargs: the router's format-suffix route (recipients.json) passes `format`.
    def recipients(self, request: Request, pk: int, **kwargs: object) -> Response:
        sendout = self.get_object()
        wanted = request.query_params.get("status", "")
        if wanted and wanted not in MessageStatus.values:
            raise ValidationError(
                {
                    "status": [
                        _("Choose one of: %(statuses)s.")
                        % {"statuses": ", ".join(MessageStatus.values)}
                    ]
                }
            )
        qs: QuerySet[OutboundMessage] = selectors.sendout_recipients(sendout=sendout, status=wanted)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(RecipientSerializer(page, many=True).data)

    @extend_schema(responses=ReplySerializer(many=True))
    @action(detail=True, methods=["get"], url_path="replies", url_name="replies")
    def sendout_replies(self, request: Request, pk: int, **kwargs: object) -> Response:
        """The replies this sendout caused, newest first."""
        sendout = self.get_object()
        page = self.paginate_queryset(replies.sendout_replies(sendout=sendout))
        return self.get_paginated_response(ReplySerializer(page, many=True).data)

    @extend_schema(responses=ReportSerializer)
    @action(detail=True, methods=["get"])
    def report(self, request: Request, pk: int, **kwargs: object) -> Response:
        """Delivery rate, opt-outs the sendout caused and its figures by hour."""
        sendout = self.get_object()
        return Response(ReportSerializer(report.sendout_report(sendout=sendout)).data)

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description=_(
                    "One line per recipient: contact_id, name, number, status, reason, "
                    "reason_text, error_code, messages_charged, sent_at, delivered_at, "
                    "clicks, reply."
                ),
            )
        }
    )
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: int, **kwargs: object) -> StreamingHttpResponse:
        """The recipients as CSV, streamed (any number of rows in constant memory)."""
        return recipients_csv_response(self.get_object())

    @extend_schema(request=None, responses=SendoutSerializer)
    @action(
        detail=True, methods=["post"], permission_classes=[IsOrganisationMember, MayCancelSendout]
    )
    def cancel(self, request: Request, pk: int, **kwargs: object) -> Response:
        sendout = self.get_object()
        sendout_cancel(sendout=sendout, cancelled_by=request.user)
        return Response(SendoutSerializer(self.get_queryset().get(pk=sendout.pk)).data)

    @extend_schema(request=RescheduleInSerializer, responses=SendoutSerializer)
    @action(
        detail=True, methods=["post"], permission_classes=[IsOrganisationMember, MayCancelSendout]
    )
    def reschedule(self, request: Request, pk: int, **kwargs: object) -> Response:
        """Move a scheduled sendout to another time (409 once it started)."""
        sendout = self.get_object()
        data = RescheduleInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        send_at = schedule.send_at_read(
            send_at=data.validated_data.get("send_at"),
            send_at_local=data.validated_data.get("send_at_local"),
            sms_settings=selectors.sms_settings_or_defaults(organisation=self.organisation),
        )
        schedule.sendout_reschedule(sendout=sendout, send_at=send_at, rescheduled_by=request.user)
        return Response(SendoutSerializer(self.get_queryset().get(pk=sendout.pk)).data)


class ContactSmsHistoryView(OrganisationScopedMixin, generics.ListAPIView):
    """Every text sent to one contact, newest first, with its sender, purpose and
    the legal basis it was sent on: the answer to a data subject's access
    request. Another organisation's contact is a 404."""

    serializer_class = ContactSmsHistorySerializer
    pagination_class = Pagination

    def get_queryset(self) -> QuerySet[OutboundMessage]:
        if getattr(self, "swagger_fake_view", False):
            return OutboundMessage.objects.none()
        contact = get_object_or_404(Contact, pk=self.kwargs["pk"], organisation=self.organisation)
        return selectors.contact_sms_history(organisation=self.organisation, contact_id=contact.pk)


class ReplyViewSet(OrganisationScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your replies: the inbound texts answering sendouts you sent, unread first.
    ``?unread=true`` lists only the unread ones."""

    serializer_class = ReplySerializer

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return replies.Reply.objects.none()
        qs = replies.replies_of_owner(organisation=self.organisation, user=self.request.user)
        unread = self.request.query_params.get("unread", "")
        if unread not in ("", "true", "false"):
            raise ValidationError({"unread": [_("Use true or false.")]})
        if unread:
            qs = qs.filter(read_at__isnull=unread == "true")
        return qs

    @extend_schema(
        parameters=[OpenApiParameter("unread", bool)],
        responses=ReplySerializer(many=True),
    )
    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=RepliesReadInSerializer, responses=RepliesReadSerializer)
    @action(detail=False, methods=["post"], permission_classes=[IsOrganisationMember])
    def read(self, request: Request, **kwargs: object) -> Response:
        """Mark your replies read: ``ids``, or every unread one."""
        data = RepliesReadInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        marked = replies.replies_mark_read(
            user=request.user, organisation=self.organisation, ids=data.validated_data.get("ids")
        )
        unread = replies.unread_count(organisation=self.organisation, user=request.user)
        return Response(RepliesReadSerializer({"marked": marked, "unread": unread}).data)


class MessageTemplateViewSet(
    OrganisationScopedMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The organisation's message templates: anyone who may send may save, change
    and delete them; a viewer reads them."""

    serializer_class = MessageTemplateSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[MessageTemplate]:
        if getattr(self, "swagger_fake_view", False):
            return MessageTemplate.objects.none()
        return message_templates.template_list(organisation=self.organisation)

    def perform_create(self, serializer: MessageTemplateSerializer) -> None:
        serializer.instance = message_templates.template_create(
            organisation=self.organisation,
            created_by=self.request.user,
            data=serializer.validated_data,
        )

    def perform_update(self, serializer: MessageTemplateSerializer) -> None:
        serializer.instance = message_templates.template_update(
            template=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance: MessageTemplate) -> None:
        message_templates.template_delete(template=instance)


def recipients_csv_response(sendout: Sendout) -> StreamingHttpResponse:
    """The CSV export of ``sendout``'s recipients as a download (page and API)."""
    response = StreamingHttpResponse(
        report.recipients_csv(sendout=sendout), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{report.export_filename(sendout)}"'
    return response

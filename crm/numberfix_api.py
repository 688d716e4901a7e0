"""The number-fixing part of the API (#20): preview, apply, undo, over the
organisation's contacts (a target group's members: ``targetgroups.api``)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm import numberfix
from crm.api import OrganisationScopedMixin
from crm.models import CONTACT_PHONE_FIELDS, Contact, ContactChangeReason, PhoneFix

MAX_FIXES = numberfix.PREVIEW_MAX * len(CONTACT_PHONE_FIELDS)


class PhoneFixPreviewInput(serializers.Serializer):
    country = serializers.CharField(max_length=2, default=numberfix.DEFAULT_COUNTRY)


class FixSerializer(serializers.Serializer):
    contact = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    field = serializers.ChoiceField(choices=list(CONTACT_PHONE_FIELDS))


class PhoneFixApplyInput(PhoneFixPreviewInput):
    fixes = serializers.ListField(child=FixSerializer(), min_length=1, max_length=MAX_FIXES)


class PhoneFixSerializer(serializers.ModelSerializer):
    changes = serializers.SerializerMethodField()

    class Meta:
        model = PhoneFix
        fields = ["id", "country", "created_at", "undone_at", "changes"]

    def get_changes(self, obj: PhoneFix) -> list[dict[str, Any]]:
        rows = obj.changes.filter(reason=ContactChangeReason.PHONE_FIX).order_by("pk")
        return [
            {"contact": c.contact_id, "field": c.field, "old": c.old_value, "new": c.new_value}
            for c in rows
        ]


def preview_response(contacts, data) -> Response:
    serializer = PhoneFixPreviewInput(data=data)
    serializer.is_valid(raise_exception=True)
    proposals = numberfix.phone_fix_preview(
        contacts=contacts, country=serializer.validated_data["country"]
    )
    return Response(
        {
            "country": serializer.validated_data["country"].upper(),
            "fixable": [p.as_json() for p in proposals if p.new],
            "invalid": [p.as_json() for p in proposals if not p.new],
        }
    )


def apply_response(organisation, contacts, data, user) -> Response:
    serializer = PhoneFixApplyInput(data=data)
    serializer.is_valid(raise_exception=True)
    fix = numberfix.phone_fix_apply(
        organisation=organisation,
        contacts=contacts,
        country=serializer.validated_data["country"],
        fixes=serializer.validated_data["fixes"],
        user=user,
    )
    return Response(PhoneFixSerializer(fix).data, status=status.HTTP_201_CREATED)


class PhoneFixViewSet(OrganisationScopedMixin, viewsets.GenericViewSet):
    """Fix numbers without a country code among the organisation's contacts."""

    serializer_class = PhoneFixSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PhoneFix.objects.none()
        return PhoneFix.objects.filter(organisation=self.organisation)

    def _contacts(self):
        return Contact.objects.filter(organisation=self.organisation)

    def retrieve(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=PhoneFixPreviewInput)
    @action(detail=False, methods=["post"])
    def preview(self, request: Request) -> Response:
        """What fixing would change, and which numbers stay invalid and why."""
        return preview_response(self._contacts(), request.data)

    @extend_schema(request=PhoneFixApplyInput, responses={201: PhoneFixSerializer})
    def create(self, request: Request) -> Response:
        """Apply the confirmed fixes: all or none, with an undo record."""
        return apply_response(self.organisation, self._contacts(), request.data, request.user)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def undo(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Put the old numbers back (those nobody has changed since)."""
        restored, kept = numberfix.phone_fix_undo(phone_fix=self.get_object(), user=request.user)
        return Response({"restored": restored, "kept": kept})

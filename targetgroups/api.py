"""The target-group part of the HTTP API: thin views over selectors and services."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm import numberfix_api
from crm.api import OrganisationScopedMixin
from crm.serializers import ContactSerializer
from targetgroups import selectors, services
from targetgroups.fields import catalogue_json
from targetgroups.models import TargetGroup
from targetgroups.serializers import (
    ContactIdsSerializer,
    CountInputSerializer,
    CountSerializer,
    FieldSerializer,
    TargetGroupSerializer,
)


def _with_int_indexes(errors: Any) -> Any:
    """DRF turns every leaf of an error into a string; a condition's ``index`` and
    ``path`` stay integers, so that clients can point at the row."""
    if isinstance(errors, dict):
        return {
            key: (
                int(value)
                if key == "index"
                else [int(i) for i in value]
                if key == "path"
                else _with_int_indexes(value)
            )
            for key, value in errors.items()
        }
    if isinstance(errors, list):
        return [_with_int_indexes(item) for item in errors]
    return errors


def _invalid(serializer) -> Response:
    return Response(_with_int_indexes(serializer.errors), status=status.HTTP_400_BAD_REQUEST)


class TargetGroupViewSet(
    OrganisationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Target groups of the user's organisation.

    A bad condition answers 400 ``{"conditions": [{"index": i, "errors":
    {"field"|"operator"|"value"|"non_field_errors": [...]}}]}`` and saves nothing.
    """

    serializer_class = TargetGroupSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TargetGroup.objects.none()
        return selectors.target_group_list(organisation=self.organisation)

    def list(self, request: Request, *args, **kwargs) -> Response:
        # The page's member counts and hand-picked ids in three queries, not three a row.
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        groups = list(queryset) if page is None else page
        context = {
            **self.get_serializer_context(),
            "member_counts": selectors.target_group_member_counts(
                organisation=self.organisation, target_groups=groups
            ),
            "contact_ids": selectors.target_groups_contact_ids(target_groups=groups),
        }
        data = self.get_serializer(groups, many=True, context=context).data
        return Response(data) if page is None else self.get_paginated_response(data)

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            return _invalid(serializer)
        group = services.target_group_create(
            organisation=self.organisation, created_by=request.user, **serializer.validated_data
        )
        return Response(self.get_serializer(group).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        group = self.get_object()
        serializer = self.get_serializer(group, data=request.data, partial=True)
        if not serializer.is_valid():
            return _invalid(serializer)
        group = services.target_group_update(target_group=group, data=serializer.validated_data)
        return Response(self.get_serializer(group).data)

    def perform_destroy(self, instance: TargetGroup) -> None:
        services.target_group_delete(target_group=instance)

    @extend_schema(responses=FieldSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None)
    def fields(self, request: Request) -> Response:
        """The field catalogue: which fields conditions may test, with their operators."""
        return Response(catalogue_json())

    @extend_schema(request=CountInputSerializer, responses=CountSerializer)
    @action(detail=False, methods=["post"])
    def count(self, request: Request) -> Response:
        """How many contacts unsaved conditions would select (for the live count)."""
        serializer = CountInputSerializer(data=request.data, context=self.get_serializer_context())
        if not serializer.is_valid():
            return _invalid(serializer)
        data = serializer.validated_data
        included, excluded = services.hand_picked_contacts_check(
            organisation=self.organisation,
            included=data.get("included_contacts", []),
            excluded=data.get("excluded_contacts", []),
        )
        count = (
            selectors.contacts_matching(
                organisation=self.organisation,
                conditions=data["conditions"],
                included=included or [],
                excluded=excluded or [],
            )
            .order_by()
            .count()
        )
        return Response({"count": count})

    @extend_schema(responses=ContactSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request: Request, pk: str | None = None) -> Response:
        """The group's members, paginated, in the contact list's order."""
        members = selectors.target_group_members(target_group=self.get_object())
        page = self.paginate_queryset(members)
        return self.get_paginated_response(
            ContactSerializer(page, many=True, context=self.get_serializer_context()).data
        )

    def _hand_pick(self, request: Request, service) -> Response:
        group = self.get_object()
        serializer = ContactIdsSerializer(data=request.data, context=self.get_serializer_context())
        if not serializer.is_valid():
            return _invalid(serializer)
        service(target_group=group, contact_ids=serializer.validated_data["contacts"])
        return Response(self.get_serializer(group).data)

    @extend_schema(request=ContactIdsSerializer, responses=TargetGroupSerializer)
    @action(detail=True, methods=["post"])
    def include(self, request: Request, pk: str | None = None) -> Response:
        """Include contacts by hand (they stop being excluded)."""
        return self._hand_pick(request, services.target_group_include_contacts)

    @extend_schema(request=ContactIdsSerializer, responses=TargetGroupSerializer)
    @action(detail=True, methods=["post"])
    def exclude(self, request: Request, pk: str | None = None) -> Response:
        """Exclude contacts by hand (they stop being included)."""
        return self._hand_pick(request, services.target_group_exclude_contacts)

    @extend_schema(request=ContactIdsSerializer, responses=TargetGroupSerializer)
    @action(detail=True, methods=["post"])
    def reset(self, request: Request, pk: str | None = None) -> Response:
        """Drop contacts from both hand-picked lists: the conditions decide again."""
        return self._hand_pick(request, services.target_group_reset_contacts)

    @extend_schema(request=numberfix_api.PhoneFixPreviewInput)
    @action(detail=True, methods=["post"], url_path="phone-fixes/preview")
    def phone_fixes_preview(self, request: Request, pk: str | None = None) -> Response:
        """Numbers without a country code among the group's members: what fixing would
        change, and which stay invalid and why."""
        members = selectors.target_group_members(target_group=self.get_object())
        return numberfix_api.preview_response(members, request.data)

    @extend_schema(
        request=numberfix_api.PhoneFixApplyInput,
        responses={201: numberfix_api.PhoneFixSerializer},
    )
    @action(detail=True, methods=["post"], url_path="phone-fixes")
    def phone_fixes(self, request: Request, pk: str | None = None) -> Response:
        """Apply confirmed fixes to the group's members (undo: /phone-fixes/{id}/undo/)."""
        members = selectors.target_group_members(target_group=self.get_object())
        return numberfix_api.apply_response(self.organisation, members, request.data, request.user)

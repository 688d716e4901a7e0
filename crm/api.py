"""The CRM part of the HTTP API: thin views over selectors and services."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from crm import selectors, services
from crm.models import Account, Contact, Organisation
from crm.serializers import (
    AccountSerializer,
    BulkCreatedSerializer,
    ContactSerializer,
    LegalBasisSetOutSerializer,
    LegalBasisSetSerializer,
)


class OrganisationScopedMixin:
    """The requesting user's organisation, for views behind IsOrganisationMember."""

    request: Request

    @property
    def organisation(self) -> Organisation:
        # ``request.membership`` (crm.middleware) looks it up once per request, after
        # DRF has authenticated the user.
        return self.request.membership.organisation  # type: ignore[attr-defined]

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()  # type: ignore[misc]
        if getattr(self, "swagger_fake_view", False):
            return context
        context["organisation"] = self.organisation
        return context


class _CrudViewSet(
    OrganisationScopedMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]


class AccountViewSet(_CrudViewSet):
    serializer_class = AccountSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Account.objects.none()
        return selectors.account_list(
            organisation=self.organisation, search=self.request.query_params.get("search", "")
        )

    def perform_create(self, serializer: AccountSerializer) -> None:
        serializer.instance = services.account_create(
            organisation=self.organisation, data=serializer.validated_data
        )

    def perform_update(self, serializer: AccountSerializer) -> None:
        serializer.instance = services.account_update(
            account=serializer.instance, data=serializer.validated_data
        )

    def perform_destroy(self, instance) -> None:
        services.account_delete(account=instance)


class ContactViewSet(_CrudViewSet):
    serializer_class = ContactSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Contact.objects.none()
        return selectors.contact_list(
            organisation=self.organisation, search=self.request.query_params.get("search", "")
        )

    def perform_create(self, serializer: ContactSerializer) -> None:
        serializer.instance = services.contact_create(
            organisation=self.organisation,
            data=serializer.validated_data,
            changed_by=self.request.user,
        )

    def perform_update(self, serializer: ContactSerializer) -> None:
        serializer.instance = services.contact_update(
            contact=serializer.instance,
            data=serializer.validated_data,
            changed_by=self.request.user,
        )

    def perform_destroy(self, instance) -> None:
        services.contact_delete(contact=instance)

    @extend_schema(request=ContactSerializer(many=True), responses={201: BulkCreatedSerializer})
    @action(detail=False, methods=["post"], url_path="bulk")
    def bulk(self, request: Request) -> Response:
        """Create up to 5,000 contacts: all of them, or none when any row is bad."""
        rows = request.data
        if not isinstance(rows, list) or not 1 <= len(rows) <= services.BULK_MAX:
            raise ValidationError(
                {
                    "non_field_errors": [
                        _("Send a JSON list of 1 to %(max)s contacts.")
                        % {"max": f"{services.BULK_MAX:,}"}
                    ]
                }
            )
        serializer = ContactSerializer(data=rows, many=True, context=self.get_serializer_context())
        if not serializer.is_valid():
            # LIST_SERIALIZER_ERRORS_AS_DICT: {index: errors} for the bad rows only.
            bad = [
                {"index": index, "errors": errors}
                for index, errors in sorted(serializer.errors.items())
            ]
            # Answered directly: ValidationError would turn the indexes into strings.
            return Response({"rows": bad}, status=status.HTTP_400_BAD_REQUEST)
        contacts = services.contacts_bulk_create(
            organisation=self.organisation,
            rows=serializer.validated_data,
            changed_by=request.user,
        )
        return Response(
            {"created": len(contacts), "ids": [c.pk for c in contacts]},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=LegalBasisSetSerializer, responses={200: LegalBasisSetOutSerializer})
    @action(detail=False, methods=["post"], url_path="legal-basis")
    def legal_basis(self, request: Request) -> Response:
        """Record one legal basis for the listed contacts (``contacts``: their ids),
        stamped with who, when and "bulk"; all of them or, on any error, none."""
        serializer = LegalBasisSetSerializer(
            data=request.data, context={**self.get_serializer_context(), "contacts_required": True}
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        ids = data.pop("contacts")
        updated = services.contacts_legal_basis_set(
            contacts=selectors.contact_list(organisation=self.organisation).filter(id__in=ids),
            changed_by=request.user,
            **data,
        )
        return Response({"updated": updated})

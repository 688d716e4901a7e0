"""The CSV import API (#20): upload a file (201, with the mapping suggested), preview
it for a mapping and country, start it (202; the worker imports), follow it."""

from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm import imports, numberfix
from crm.api import OrganisationScopedMixin
from imports import selectors, services
from imports.models import ContactImport, Duplicates


class ContactImportSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    progress = serializers.IntegerField(read_only=True)
    not_imported = serializers.SerializerMethodField()

    class Meta:
        model = ContactImport
        fields = [
            "id",
            "file_name",
            "status",
            "status_label",
            "header",
            "mapping",
            "country",
            "duplicates",
            "all_or_none",
            "target_group",
            "rows_total",
            "rows_done",
            "progress",
            "created",
            "updated",
            "skipped",
            "not_imported",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_not_imported(self, obj: ContactImport) -> int:
        return len(obj.rejected)


class UploadInput(serializers.Serializer):
    """A CSV file as multipart ``file``, or its text as JSON ``text`` (with a
    ``file_name``): one of the two."""

    file = serializers.FileField(max_length=255, allow_empty_file=True, required=False)
    text = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=imports.MAX_BYTES
    )
    file_name = serializers.CharField(required=False, max_length=255, default="contacts.csv")

    def validate_file(self, value: Any) -> Any:
        if value.size > imports.MAX_BYTES:
            raise serializers.ValidationError(_("The file is larger than 50 MB."))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("file" in attrs) == ("text" in attrs):
            message = _("Send the CSV as a file or as text, one of the two.")
            raise serializers.ValidationError({"file": [message]})
        return attrs


class MappingField(serializers.DictField):
    child = serializers.CharField(allow_blank=True, max_length=50)


class PreviewInput(serializers.Serializer):
    mapping = MappingField(required=False)
    country = serializers.CharField(max_length=2, default=numberfix.DEFAULT_COUNTRY)


class StartInput(serializers.Serializer):
    mapping = MappingField()
    country = serializers.CharField(max_length=2, default=numberfix.DEFAULT_COUNTRY)
    duplicates = serializers.ChoiceField(choices=Duplicates.choices, default=Duplicates.SKIP)
    all_or_none = serializers.BooleanField(default=False)
    target_group = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1
    )


class ContactImportViewSet(
    OrganisationScopedMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """CSV imports of contacts."""

    serializer_class = ContactImportSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ContactImport.objects.none()
        return selectors.import_list(organisation=self.organisation)

    @extend_schema(
        request={"multipart/form-data": UploadInput}, responses={201: ContactImportSerializer}
    )
    def create(self, request: Request) -> Response:
        """Upload a CSV file: answers its header and the mapping suggested from it."""
        serializer = UploadInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data.get("file")
        job = services.contact_import_upload(
            organisation=self.organisation,
            user=request.user,
            file_name=upload.name if upload else data["file_name"],
            data=upload.read() if upload else data["text"].encode(),
        )
        return Response(self.get_serializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PreviewInput)
    @action(detail=True, methods=["post"])
    def preview(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """The first rows, every problem by row and the duplicates, for a mapping."""
        job = self.get_object()
        serializer = PreviewInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        raw = serializer.validated_data.get("mapping", job.mapping)
        mapping = services.mapping_from(raw, job.header)
        country = services.country_check(serializer.validated_data["country"])
        data = selectors.import_data(job=job)
        return Response(
            imports.preview(
                organisation=self.organisation, data=data, mapping=mapping, country=country
            )
        )

    @extend_schema(request=StartInput, responses={202: ContactImportSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Start the import: the worker runs it; follow ``GET`` until ``status`` is
        ``done``, ``refused`` (nothing imported) or ``failed``."""
        job = self.get_object()
        serializer = StartInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = services.contact_import_start(
            contact_import=job,
            mapping=data["mapping"],
            country=data["country"],
            duplicates=data["duplicates"],
            all_or_none=data["all_or_none"],
            target_group_id=data.get("target_group"),
        )
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"], url_path="not-imported")
    def not_imported(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """The rows not imported, with their line and reasons."""
        job = self.get_object()
        return Response(job.rejected)

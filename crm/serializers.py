from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from crm.legal import LegalBasis, legal_basis_errors
from crm.models import Account, Contact
from crm.selectors import account_ids


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "business_id",
            "industry",
            "city",
            "country",
            "phone",
            "email",
            "website",
        ]

    def validate_country(self, value: str) -> str:
        return value.upper()

    def validate_business_id(self, value: str) -> str:
        if value:
            others = Account.objects.filter(
                organisation=self.context["organisation"], business_id=value
            )
            if self.instance is not None:
                others = others.exclude(pk=self.instance.pk)
            if others.exists():
                raise serializers.ValidationError(
                    _("Another account already has this business ID.")
                )
        return value


class ContactSerializer(serializers.ModelSerializer):
    # An id, checked against the organisation's accounts in one query for a whole
    # bulk request rather than one query per row.
    account = serializers.IntegerField(source="account_id", allow_null=True, required=False)

    class Meta:
        model = Contact
        fields = [
            "id",
            "first_name",
            "last_name",
            "title",
            "email",
            "mobile_phone",
            "work_phone",
            "city",
            "language",
            "account",
            "sms_opt_out",
            "legal_basis",
            "consent_at",
            "consent_source",
            "consent_evidence",
        ]

    def _account_ids(self) -> set[int]:
        if "account_ids" not in self.context:
            self.context["account_ids"] = account_ids(organisation=self.context["organisation"])
        return self.context["account_ids"]

    def validate_account(self, value: int | None) -> int | None:
        if value is not None and value not in self._account_ids():
            raise serializers.ValidationError(_("No account with this id."))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        first = attrs.get("first_name", getattr(self.instance, "first_name", ""))
        last = attrs.get("last_name", getattr(self.instance, "last_name", ""))
        if not (first or "").strip() and not (last or "").strip():
            raise serializers.ValidationError(
                {"last_name": [_("Enter a first name or a last name.")]}
            )
        basis_errors = legal_basis_errors(
            **{
                name: attrs.get(name, getattr(self.instance, name, default))
                for name, default in (
                    ("legal_basis", LegalBasis.NONE),
                    ("consent_at", None),
                    ("consent_source", ""),
                )
            }
        )
        if basis_errors:
            raise serializers.ValidationError({k: [v] for k, v in basis_errors.items()})
        return attrs


class BulkCreatedSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField())

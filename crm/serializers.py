from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from crm.legal import CONSENT_EVIDENCE_MAX, CONSENT_SOURCE_MAX, LegalBasis, legal_basis_errors
from crm.models import Account, Contact
from crm.selectors import account_ids, contact_list
from crm.services import BULK_MAX


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
            "legal_basis_changed_at",
            "legal_basis_changed_by",
            "legal_basis_changed_via",
        ]
        read_only_fields = [
            "legal_basis_changed_at",
            "legal_basis_changed_by",
            "legal_basis_changed_via",
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


ID_MAX = 2**63 - 1


class LegalBasisSetSerializer(serializers.Serializer):
    """One legal basis recorded for many contacts (``contacts``: ids of the
    organisation's contacts; optional where the view names them otherwise)."""

    contacts = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        min_length=1,
        max_length=BULK_MAX,
        required=False,
    )
    legal_basis = serializers.ChoiceField(choices=LegalBasis.choices)
    consent_at = serializers.DateField(required=False, allow_null=True, default=None)
    consent_source = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=CONSENT_SOURCE_MAX
    )
    consent_evidence = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=CONSENT_EVIDENCE_MAX
    )

    def validate_contacts(self, ids: list[int]) -> list[int]:
        ids = list(dict.fromkeys(ids))
        known = set(
            contact_list(organisation=self.context["organisation"])
            .filter(id__in=ids)
            .values_list("id", flat=True)
        )
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise serializers.ValidationError(
                _("No contact with the id %(ids)s.") % {"ids": ", ".join(map(str, unknown[:10]))}
            )
        return ids

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.context.get("contacts_required") and "contacts" not in attrs:
            raise serializers.ValidationError({"contacts": [_("List the contacts' ids.")]})
        errors = legal_basis_errors(
            legal_basis=attrs["legal_basis"],
            consent_at=attrs["consent_at"],
            consent_source=attrs["consent_source"],
        )
        if errors:
            raise serializers.ValidationError({k: [v] for k, v in errors.items()})
        return attrs


class LegalBasisSetOutSerializer(serializers.Serializer):
    updated = serializers.IntegerField(help_text=_("How many contacts got the basis."))

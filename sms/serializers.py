"""Serializers of the SMS API."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from sms.models import QuotaTransaction


class QuotaTransactionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = QuotaTransaction
        fields = [
            "id",
            "kind",
            "amount",
            "balance_after",
            "reason",
            "sendout",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class QuotaSerializer(serializers.Serializer):
    """The quota with one page of its ledger (latest first)."""

    remaining = serializers.IntegerField(help_text=_("Messages the organisation may still send."))
    count = serializers.IntegerField(help_text=_("Ledger rows in all."))
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    transactions = QuotaTransactionSerializer(many=True)

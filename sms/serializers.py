"""Serializers of the SMS API."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from sms.models import OutboundMessage, QuotaTransaction, Sendout


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


class ChoiceOptionSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    default = serializers.BooleanField()


class TagOptionSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    group = serializers.CharField()


class SkipReasonOptionSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class OptionsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    named_senders_enabled = serializers.BooleanField()
    quota_remaining = serializers.IntegerField()
    max_chars = serializers.IntegerField()
    chars_per_message = serializers.IntegerField()
    senders = ChoiceOptionSerializer(many=True)
    phone_fields = ChoiceOptionSerializer(many=True)
    skip_reasons = SkipReasonOptionSerializer(many=True)
    tags = TagOptionSerializer(many=True)


class MessageInSerializer(serializers.Serializer):
    sender = serializers.CharField(required=False, allow_blank=True, default="operator")
    phone_field = serializers.CharField(required=False, allow_blank=True, default="mobile_phone")
    # Kept as typed: line endings and spaces are part of the message.
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=10_000)


class PreviewInSerializer(MessageInSerializer):
    pass


class SendoutInSerializer(MessageInSerializer):
    expected_messages = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=10_000_000
    )


class RecipientsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    sendable = serializers.IntegerField()
    skipped = serializers.DictField(child=serializers.IntegerField())


class SampleSerializer(serializers.Serializer):
    contact = serializers.IntegerField()
    name = serializers.CharField()
    to = serializers.CharField()
    body = serializers.CharField()
    chars = serializers.IntegerField()
    messages = serializers.IntegerField()
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])
    carrier_segments = serializers.IntegerField()


class PreviewOutSerializer(serializers.Serializer):
    recipients = RecipientsSerializer()
    messages = serializers.IntegerField()
    quota_remaining = serializers.IntegerField()
    quota_after = serializers.IntegerField()
    chars = serializers.IntegerField()
    encoding = serializers.ChoiceField(
        choices=["GSM-7", "UCS-2"],
        help_text=_("UCS-2 when any sendable recipient's text needs it (the worst case)."),
    )
    carrier_segments = serializers.IntegerField(
        help_text=_("The most carrier segments of one recipient's text (the worst case).")
    )
    ucs2_recipients = serializers.IntegerField(
        help_text=_("Sendable recipients whose text a carrier sends as Unicode (UCS-2).")
    )
    warnings = serializers.ListField(child=serializers.CharField())
    samples = SampleSerializer(many=True)


class CountsSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    pending = serializers.IntegerField()
    sending = serializers.IntegerField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    undelivered = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    unknown = serializers.IntegerField()


class SendoutSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    messages_charged = serializers.IntegerField(read_only=True)
    counts = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField(
        help_text=_("Share of recipients with a final status, 0 to 100.")
    )

    class Meta:
        model = Sendout
        fields = [
            "id",
            "target_group",
            "sender",
            "phone_field",
            "body",
            "status",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "messages_reserved",
            "messages_charged",
            "counts",
            "progress",
        ]

    def get_counts(self, sendout: Sendout) -> dict[str, int]:
        return CountsSerializer(sendout.counts).data

    def get_progress(self, sendout: Sendout) -> int:
        counts = sendout.counts
        total = counts["recipients"]
        if not total:
            return 100
        open_ = counts["pending"] + counts["sending"]
        return int(100 * (total - open_) / total)


class RecipientSerializer(serializers.ModelSerializer):
    contact_name = serializers.SerializerMethodField()

    class Meta:
        model = OutboundMessage
        fields = [
            "contact",
            "contact_name",
            "to",
            "body",
            "messages",
            "encoding",
            "carrier_segments",
            "status",
            "reason",
            "error_code",
            "provider_id",
            "updated_at",
        ]

    def get_contact_name(self, message: OutboundMessage) -> str:
        return message.contact.full_name if message.contact else ""

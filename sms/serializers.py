"""Serializers of the SMS API."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.phones import phone_display
from sms.links import sendout_click_figures
from sms.models import (
    MessageTemplate,
    OutboundMessage,
    QuotaTransaction,
    Reply,
    Sendout,
)
from sms.pacing import expected_finish
from sms.rules.numbers import SkipReason
from sms.rules.purposes import CHOOSABLE_PURPOSE_CHOICES, DEFAULT_PURPOSE
from sms.statuses import MESSAGE_LEFT_STATUSES, MESSAGE_OPEN_STATUSES


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


class UnavailableSenderSerializer(serializers.Serializer):
    value = serializers.CharField()
    reason = serializers.CharField()


class SendWindowSerializer(serializers.Serializer):
    time_zone = serializers.CharField()
    open_now = serializers.BooleanField()
    next_opening = serializers.DateTimeField(allow_null=True)
    may_override = serializers.BooleanField(
        help_text=_("Whether this user may send regardless of the window.")
    )


class LastMessageSerializer(serializers.Serializer):
    sender = serializers.CharField()
    phone_field = serializers.CharField()
    body = serializers.CharField()
    purpose = serializers.CharField()
    created_at = serializers.DateTimeField()


class OptionsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    send_window = SendWindowSerializer()
    quota_reserved_scheduled = serializers.IntegerField(
        help_text=_("Messages reserved by scheduled sendouts that have not started.")
    )
    named_senders_enabled = serializers.BooleanField()
    quota_remaining = serializers.IntegerField()
    max_chars = serializers.IntegerField()
    chars_per_message = serializers.IntegerField()
    short_link_chars = serializers.IntegerField(
        help_text=_("The length of a short link: what each tracked URL costs in a text.")
    )
    senders = ChoiceOptionSerializer(many=True)
    senders_unavailable = UnavailableSenderSerializer(
        many=True, help_text=_("Sender names not offered for this group, with the reason.")
    )
    purposes = ChoiceOptionSerializer(many=True)
    phone_fields = ChoiceOptionSerializer(many=True)
    skip_reasons = SkipReasonOptionSerializer(many=True)
    tags = TagOptionSerializer(many=True)
    own_number = serializers.CharField(
        help_text=_("The user's own mobile number, where test messages go; empty when none.")
    )
    test_sends_per_hour = serializers.IntegerField()
    last_message = LastMessageSerializer(
        allow_null=True,
        help_text=_("The latest sendout to this group, for reuse; null before the first."),
    )


class MessageInSerializer(serializers.Serializer):
    sender = serializers.CharField(required=False, allow_blank=True, default="operator")
    phone_field = serializers.CharField(required=False, allow_blank=True, default="mobile_phone")
    # Kept as typed: line endings and spaces are part of the message.
    body = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=10_000)
    purpose = serializers.ChoiceField(
        choices=CHOOSABLE_PURPOSE_CHOICES,
        required=False,
        default=DEFAULT_PURPOSE,
    )
    link_tracking = serializers.BooleanField(
        required=False,
        default=True,
        help_text=_(
            "URLs in the message go out as short links per recipient that count clicks "
            "(true, the default), or as written (false)."
        ),
    )


class PreviewInSerializer(MessageInSerializer):
    pass


class SkippedInSerializer(MessageInSerializer):
    """The query of ``GET .../sms/skipped/``: the preview's input and one reason."""

    reason = serializers.ChoiceField(choices=[(r.value, r.label) for r in SkipReason])
    page = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=1000)


class SkippedSerializer(serializers.Serializer):
    contact = serializers.IntegerField(source="contact_id")
    name = serializers.CharField()
    to = serializers.CharField()
    reason = serializers.CharField()
    chars = serializers.IntegerField()


class SendAtInSerializer(serializers.Serializer):
    """When to send: ``send_at`` with its UTC offset, or ``send_at_local``, a wall
    time of the organisation's time zone. Read by ``sms.schedule.send_at_read``."""

    send_at = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=64,
        help_text=_(
            "ISO 8601 with its UTC offset, a minute to 90 days ahead: the sendout is "
            "scheduled. Absent or null: send now."
        ),
    )
    send_at_local = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=64,
        help_text=_("Instead of send_at: a time without offset, in the organisation's zone."),
    )


class SendoutInSerializer(MessageInSerializer, SendAtInSerializer):
    expected_messages = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=10_000_000
    )
    messages_per_hour = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=1_000_000,
        help_text=_("Pacing: at most this many messages per hour. Absent or null: no pace."),
    )
    ignore_send_window = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_("A service message sent regardless of the send window (administrators only)."),
    )


class RescheduleInSerializer(SendAtInSerializer):
    def validate(self, attrs: dict) -> dict:
        if not attrs.get("send_at") and not attrs.get("send_at_local"):
            raise serializers.ValidationError({"send_at": [_("Give the new time.")]})
        return attrs


class TestSendInSerializer(MessageInSerializer):
    """ "Send a test": the message, the member it is rendered for and the user's number."""

    contact = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text=_(
            "The member whose details fill the tags; the group's first member if left out."
        ),
    )
    to = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text=_("Your own mobile number, stored on your profile; left out: the stored one."),
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
    messages_per_recipient_max = serializers.IntegerField(
        help_text=_("The most messages one recipient's text bills, after tags.")
    )
    quota_remaining = serializers.IntegerField()
    quota_after = serializers.IntegerField()
    chars = serializers.IntegerField(
        help_text=_("The template's characters, each tracked URL counted as its short link.")
    )
    links = serializers.IntegerField(help_text=_("URLs that go out as tracked short links."))
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
    optout = serializers.ChoiceField(
        choices=["link", "reply", ""],
        help_text=_("How each text offers its opt-out: a link, “Vastaa LOPETA”, or none."),
    )
    optout_chars = serializers.IntegerField(
        help_text=_("Characters the opt-out adds to every text (counted and billed).")
    )


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


class ReconciliationSerializer(serializers.Serializer):
    recovered = serializers.IntegerField(
        help_text=_("Interrupted sends found at the provider: sent.")
    )
    resent = serializers.IntegerField(help_text=_("Not found at the provider: sent again."))
    refunded = serializers.IntegerField(help_text=_("Not found at the provider: refunded."))
    unresolved = serializers.IntegerField(
        help_text=_("The provider could not be asked: still unknown.")
    )


class ClicksSerializer(serializers.Serializer):
    unique = serializers.IntegerField(help_text=_("Recipients who clicked a link at least once."))
    total = serializers.IntegerField(help_text=_("Clicks in all."))
    bots = serializers.IntegerField(
        help_text=_("Visits of link previews and prefetchers, not counted as clicks.")
    )
    click_through_rate = serializers.FloatField(
        allow_null=True,
        help_text=_(
            "Unique clicks per recipient whose message left, 0 to 1; null before any left."
        ),
    )


class SendoutSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    messages_charged = serializers.IntegerField(read_only=True)
    counts = serializers.SerializerMethodField()
    reconciliation = ReconciliationSerializer(
        read_only=True,
        help_text=_("Messages whose send was interrupted, by what reconciliation made of them."),
    )
    progress = serializers.SerializerMethodField(
        help_text=_("Share of recipients with a final status, 0 to 100.")
    )
    expected_finish_at = serializers.SerializerMethodField(
        help_text=_("For a paced sendout: when it should finish at its pace (send windows aside).")
    )
    clicks = serializers.SerializerMethodField(
        help_text=_("Clicks of the message's short links (with link tracking on).")
    )
    replies = serializers.SerializerMethodField(
        help_text=_("Replies to this sendout that were not opt-out keywords.")
    )

    class Meta:
        model = Sendout
        fields = [
            "id",
            "target_group",
            "sender",
            "phone_field",
            "body",
            "purpose",
            "record",
            "status",
            "created_by",
            "created_at",
            "send_at",
            "resume_at",
            "ignore_send_window",
            "messages_per_hour",
            "expected_finish_at",
            "started_at",
            "finished_at",
            "messages_reserved",
            "messages_charged",
            "counts",
            "progress",
            "reconciliation",
            "link_tracking",
            "clicks",
            "replies",
            "messages_written",
        ]

    def get_counts(self, sendout: Sendout) -> dict[str, int]:
        return CountsSerializer(sendout.counts).data

    def get_expected_finish_at(self, sendout: Sendout) -> str | None:
        counts = sendout.counts
        finish = expected_finish(sendout=sendout, pending=counts["pending"] + counts["sending"])
        return serializers.DateTimeField().to_representation(finish) if finish else None

    @extend_schema_field(ClicksSerializer)
    def get_clicks(self, sendout: Sendout) -> dict:
        figures = sendout_click_figures(sendout=sendout)
        return ClicksSerializer(
            {
                "unique": figures.unique,
                "total": figures.total,
                "bots": figures.bots,
                "click_through_rate": figures.click_through_rate,
            }
        ).data

    def get_replies(self, sendout: Sendout) -> int:
        if hasattr(sendout, "replies_total"):
            return sendout.replies_total
        return sendout.replies.count()

    def get_progress(self, sendout: Sendout) -> int:
        counts = sendout.counts
        total = counts["recipients"]
        if not total:
            return 100
        open_ = counts["pending"] + counts["sending"]
        return int(100 * (total - open_) / total)


class RecipientSerializer(serializers.ModelSerializer):
    contact_name = serializers.SerializerMethodField()
    to_display = serializers.SerializerMethodField(
        help_text=_("The number grouped as people read it (+358 40 123 4567).")
    )
    messages_charged = serializers.SerializerMethodField(
        help_text=_(
            "Messages this recipient costs: the billed messages once the message has "
            "left; 0 when it was skipped, failed or cancelled (refunded); null while "
            "it is still reserved (pending or sending)."
        )
    )

    clicks = serializers.IntegerField(
        source="click_count",
        read_only=True,
        default=0,
        help_text=_("This recipient's clicks of the short links."),
    )
    first_click_at = serializers.DateTimeField(read_only=True, default=None, allow_null=True)

    class Meta:
        model = OutboundMessage
        fields = [
            "contact",
            "contact_name",
            "to",
            "to_display",
            "body",
            "messages",
            "messages_charged",
            "encoding",
            "carrier_segments",
            "status",
            "reason",
            "error_code",
            "provider_id",
            "recovery",
            "updated_at",
            "clicks",
            "first_click_at",
        ]

    def get_contact_name(self, message: OutboundMessage) -> str:
        return message.contact.full_name if message.contact else ""

    def get_to_display(self, message: OutboundMessage) -> str:
        return phone_display(message.to)

    def get_messages_charged(self, message: OutboundMessage) -> int | None:
        if message.status in MESSAGE_LEFT_STATUSES:
            return message.messages
        if message.status in MESSAGE_OPEN_STATUSES:
            return None
        return 0


class ContactSmsHistorySerializer(serializers.ModelSerializer):
    """One text sent (or meant) to a contact, with what it was sent on."""

    sender = serializers.CharField(source="sendout.sender")
    purpose = serializers.CharField(source="sendout.purpose")
    target_group = serializers.CharField(
        source="sendout.target_group.name", default=None, allow_null=True
    )

    class Meta:
        model = OutboundMessage
        fields = [
            "id",
            "sendout",
            "target_group",
            "created_at",
            "sent_at",
            "to",
            "sender",
            "purpose",
            "legal_basis",
            "body",
            "status",
            "reason",
        ]
        read_only_fields = fields


class ReplySerializer(serializers.ModelSerializer):
    contact_name = serializers.SerializerMethodField()
    from_display = serializers.SerializerMethodField(
        help_text=_("The number grouped as people read it (+358 40 123 4567).")
    )
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Reply
        fields = [
            "id",
            "contact",
            "contact_name",
            "sendout",
            "from_number",
            "from_display",
            "body",
            "received_at",
            "read_at",
            "unread",
        ]
        read_only_fields = fields

    def get_contact_name(self, reply: Reply) -> str:
        return reply.contact.full_name if reply.contact else ""

    def get_from_display(self, reply: Reply) -> str:
        return phone_display(reply.from_number)

    def get_unread(self, reply: Reply) -> bool:
        return reply.read_at is None


class RepliesReadInSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=1000,
        help_text=_("The replies to mark read; left out: every unread reply of yours."),
    )


class RepliesReadSerializer(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class MessageTemplateSerializer(serializers.ModelSerializer):
    """A template as the API shows and takes it. The rules of a sendout (body and
    tags, sender, phone field) are checked by ``sms.message_templates``."""

    name = serializers.CharField(max_length=200)
    body = serializers.CharField(trim_whitespace=False, max_length=10_000)
    sender = serializers.CharField(required=False, max_length=100, default="operator")
    phone_field = serializers.CharField(required=False, max_length=100, default="mobile_phone")
    purpose = serializers.ChoiceField(
        choices=CHOOSABLE_PURPOSE_CHOICES,
        required=False,
        default=DEFAULT_PURPOSE,
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = MessageTemplate
        fields = [
            "id",
            "name",
            "body",
            "sender",
            "phone_field",
            "purpose",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]


class ReportPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text=_("The start of the hour (or day)."))
    n = serializers.IntegerField()


class ReportSeriesSerializer(serializers.Serializer):
    key = serializers.CharField(help_text=_("sent, delivered, ..."))
    label = serializers.CharField()
    points = ReportPointSerializer(many=True)


class ReportTimelineSerializer(serializers.Serializer):
    bucket = serializers.ChoiceField(choices=["hour", "day"])
    series = ReportSeriesSerializer(many=True)


class ReportSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    left = serializers.IntegerField(
        help_text=_("Messages that left for the provider: sent, delivered, undelivered, unknown.")
    )
    delivered = serializers.IntegerField()
    undelivered = serializers.IntegerField()
    delivery_rate = serializers.FloatField(
        allow_null=True,
        help_text=_("Delivered of the messages that left, 0 to 1; null while none has left."),
    )
    opt_outs = serializers.IntegerField(
        help_text=_(
            "Numbers texted by this sendout that opted out afterwards (a STOP reply, the "
            "opt-out page) before another sendout texted them."
        )
    )
    clicks_unique = serializers.IntegerField(help_text=_("Recipients who clicked a link."))
    clicks_total = serializers.IntegerField(help_text=_("Clicks in all."))
    click_through_rate = serializers.FloatField(
        allow_null=True,
        help_text=_("Unique clicks per recipient whose message left, 0 to 1."),
    )
    replies = serializers.IntegerField(help_text=_("Replies to this sendout."))
    timeline = ReportTimelineSerializer()

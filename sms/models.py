"""SMS data: per-organisation settings, sender names, sendouts, outbound messages
and the quota ledger.

Models hold data and their invariants (as database constraints where a database
can hold them); the workflows live in ``sms/quota.py`` and ``sms/sendouts/``.
The statuses and the table of their allowed moves are in ``sms/statuses.py``.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from crm.legal import LegalBasis
from crm.phones import phone_display
from sms.rules.purposes import CHOOSABLE_PURPOSE_CHOICES, Purpose
from sms.rules.senders import OPERATOR_SENDER, sender_label
from sms.rules.windows import default_send_windows
from sms.statuses import MessageStatus, Recovery, SendoutStatus
from sms.validators import (
    validate_e164,
    validate_messaging_service_sid,
    validate_send_windows,
    validate_sender_name,
    validate_time_zone,
)


class QuotaKind(models.TextChoices):
    TOP_UP = "top_up", _("Top-up")
    RESERVATION = "reservation", _("Reservation")
    REFUND = "refund", _("Refund")
    ADJUSTMENT = "adjustment", _("Adjustment")


class SmsSettings(models.Model):
    """One organisation's SMS settings and its message quota.

    ``quota_balance`` is the sum of the organisation's quota ledger, stored for
    fast reads. Only ``sms/quota.py`` changes it, together with its ledger row.
    """

    organisation = models.OneToOneField(
        "crm.Organisation",
        on_delete=models.CASCADE,
        related_name="sms_settings",
        verbose_name=_("organisation"),
    )
    sms_enabled = models.BooleanField(_("SMS function active"), default=False)
    named_senders_enabled = models.BooleanField(_("named senders active"), default=False)
    operator_number = models.CharField(
        _("operator number"),
        max_length=16,
        blank=True,
        validators=[validate_e164],
        help_text=_("The default sender, in E.164 form (+358...). Blank: the project default."),
    )
    messaging_service_sid = models.CharField(
        _("Twilio messaging service"),
        max_length=34,
        blank=True,
        validators=[validate_messaging_service_sid],
        help_text=_("MG followed by 32 hexadecimal characters; used instead of a number."),
    )
    optout_by_reply = models.BooleanField(
        _("opt-out by reply"),
        default=False,
        help_text=_(
            "Marketing texts from the operator number end with “Vastaa LOPETA” instead of "
            "an opt-out link. Named senders cannot receive replies and always get the link."
        ),
    )
    quota_balance = models.PositiveIntegerField(
        _("message quota"),
        default=0,
        editable=False,
        help_text=_("Messages left. Changed only by top-ups, adjustments and sendouts."),
    )
    messages_per_second = models.PositiveIntegerField(
        _("messages per second"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("An optional cap on the sending rate. Blank: no cap of our own."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default="Europe/Helsinki",
        validators=[validate_time_zone],
        help_text=_("The zone of scheduled times and send windows, e.g. Europe/Helsinki."),
    )
    send_windows = models.JSONField(
        _("send windows"),
        default=default_send_windows,
        validators=[validate_send_windows],
        help_text=_(
            'When texts may go out: seven entries, Monday first, like "09:00-20:00", '
            '"" for a day without sending.'
        ),
    )
    closed_on_public_holidays = models.BooleanField(
        _("no sending on Finnish public holidays"), default=True
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("SMS settings")
        verbose_name_plural = _("SMS settings")
        permissions = [("change_quota", _("Can top up and adjust the message quota"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(quota_balance__gte=0), name="sms_settings_quota_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(messages_per_second__isnull=True) | Q(messages_per_second__gte=1),
                name="sms_settings_messages_per_second_positive",
            ),
        ]

    def __str__(self) -> str:
        return str(_("SMS settings of %(organisation)s") % {"organisation": self.organisation})

    def save(self, *args, **kwargs) -> None:
        # The balance belongs to sms/quota.py, which changes it with an UPDATE under
        # a row lock. A plain save() of a loaded copy (admin, scripts) must never
        # write its possibly stale balance back over a concurrent reservation.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name != "quota_balance"
            ]
        super().save(*args, **kwargs)

    def approved_sender_names(self) -> list[str]:
        return list(
            SenderName.objects.filter(organisation_id=self.organisation_id, approved=True)
            .order_by("name")
            .values_list("name", flat=True)
        )

    def sender_name_authorisations(self) -> dict[str, str]:
        """Each approved sender name with its authorisation (``SenderAuthorisation``)."""
        return dict(
            SenderName.objects.filter(organisation_id=self.organisation_id, approved=True)
            .order_by("name")
            .values_list("name", "authorisation")
        )

    def operator_label(self) -> str:
        """The operator sender as the modal offers it: the number grouped as on the
        sendout page ("Operator number (+358 40 123 4567)")."""
        return sender_label(OPERATOR_SENDER, operator_number=self.operator_number)


class SenderAuthorisation(models.TextChoices):
    """Where a sender name stands in Traficom's register of sender IDs: from
    4 May 2026 operators block or rename, towards Finnish numbers, a name that is
    not authorised in advance."""

    PENDING = "pending", _("Authorisation pending")
    AUTHORISED = "authorised", _("Authorised")
    REJECTED = "rejected", _("Authorisation rejected")


class SenderName(models.Model):
    """An alphanumeric sender name approved for one organisation, with its
    authorisation in Traficom's sender ID register."""

    organisation = models.ForeignKey(
        "crm.Organisation",
        on_delete=models.CASCADE,
        related_name="sms_sender_names",
        verbose_name=_("organisation"),
    )
    name = models.CharField(_("name"), max_length=11, validators=[validate_sender_name])
    approved = models.BooleanField(_("approved"), default=True)
    authorisation = models.CharField(
        _("Traficom authorisation"),
        max_length=16,
        choices=SenderAuthorisation.choices,
        default=SenderAuthorisation.PENDING,
        help_text=_("Only an authorised name is offered for texts to Finnish numbers."),
    )
    authorised_on = models.DateField(_("authorised on"), null=True, blank=True)
    authorisation_reference = models.CharField(
        _("authorisation reference"), max_length=100, blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sender name")
        verbose_name_plural = _("sender names")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name"], name="sms_sender_name_unique_per_organisation"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.authorisation == SenderAuthorisation.AUTHORISED:
            errors = {}
            if self.authorised_on is None:
                errors["authorised_on"] = _("An authorised name needs the date of authorisation.")
            if not self.authorisation_reference.strip():
                errors["authorisation_reference"] = _(
                    "An authorised name needs Traficom's reference."
                )
            if errors:
                raise ValidationError(errors)

    @property
    def authorised(self) -> bool:
        return self.authorisation == SenderAuthorisation.AUTHORISED


class Sendout(models.Model):
    """One press of Send: a message template to the members of a target group.

    ``messages_reserved`` and ``messages_refunded`` mirror the sendout's ledger
    rows (``sms/quota.py`` changes both together): the sum of its reservations is
    ``-messages_reserved`` and the sum of its refunds is ``messages_refunded``.
    """

    organisation = models.ForeignKey(
        "crm.Organisation",
        on_delete=models.CASCADE,
        related_name="sms_sendouts",
        verbose_name=_("organisation"),
    )
    # SET_NULL: deleting a target group keeps the history of what was sent.
    target_group = models.ForeignKey(
        "targetgroups.TargetGroup",
        on_delete=models.SET_NULL,
        null=True,
        related_name="sms_sendouts",
        verbose_name=_("target group"),
    )
    sender = models.CharField(_("sender"), max_length=34)
    phone_field = models.CharField(_("phone field"), max_length=32)
    body = models.TextField(_("message template"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=SendoutStatus.choices,
        default=SendoutStatus.QUEUED,
        db_index=True,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sms_sendouts",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    recipients_total = models.PositiveIntegerField(_("recipients"), default=0)
    messages_reserved = models.PositiveIntegerField(_("messages reserved"), default=0)
    messages_refunded = models.PositiveIntegerField(_("messages refunded"), default=0)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, blank=True)
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.MARKETING
    )
    # What the user was shown and confirmed, written once when the sendout is
    # created and never changed (the accountability record): recipients, skips by
    # reason, messages, and the sendable recipients per legal basis.
    record = models.JSONField(_("record at creation"), default=dict, blank=True, editable=False)
    # Set for a scheduled sendout: the dispatcher queues it at this time.
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    # Paused outside the send window: the dispatcher queues it again at this time.
    resume_at = models.DateTimeField(_("resumes at"), null=True, blank=True)
    # A service message sent regardless of the send window (allowed to admins).
    ignore_send_window = models.BooleanField(_("sent regardless of the send window"), default=False)
    # Pacing: at most this many recipients per hour of the clock (``sms/pacing.py``),
    # counted in ``pace_used`` for the hour starting ``pace_hour``, by every worker.
    messages_per_hour = models.PositiveIntegerField(
        _("at most per hour"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    pace_hour = models.DateTimeField(_("pacing hour"), null=True, blank=True, editable=False)
    pace_used = models.PositiveIntegerField(_("sent in the pacing hour"), default=0, editable=False)
    link_tracking = models.BooleanField(
        _("link tracking"),
        default=True,
        help_text=_("URLs in the message go out as short links that count clicks."),
    )
    # A large group's messages are written by the worker after the Yes
    # (``sms.sendouts.write``); until then the record stands for them.
    messages_written = models.BooleanField(
        _("messages written"),
        default=True,
        editable=False,
        help_text=_("Whether the recipients' messages have been written for sending."),
    )

    class Meta:
        verbose_name = _("sendout")
        verbose_name_plural = _("sendouts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="sms_sendout_idempotency_key_unique_per_user",
            ),
            models.CheckConstraint(
                condition=Q(messages_refunded__lte=F("messages_reserved")),
                name="sms_sendout_refunded_within_reserved",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "-created_at"]),
            # The dispatcher's look for scheduled sendouts that are due.
            models.Index(
                fields=["send_at"],
                condition=Q(status=SendoutStatus.SCHEDULED),
                name="sms_sendout_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return str(_("Sendout %(id)s") % {"id": self.pk})

    @property
    def messages_charged(self) -> int:
        return self.messages_reserved - self.messages_refunded

    @property
    def counts(self) -> dict[str, int]:
        """Recipients per message status: from ``count_*`` annotations when the
        selector added them (one query for a list), else counted now."""
        if not self.messages_written:
            return self._counts_recorded()
        if hasattr(self, "count_recipients"):
            counts = {
                status.value: getattr(self, f"count_{status.value}") for status in MessageStatus
            }
            counts["recipients"] = self.count_recipients
            return counts
        found = dict(self.messages.order_by().values_list("status").annotate(n=models.Count("id")))
        counts = {status.value: found.get(status.value, 0) for status in MessageStatus}
        counts["recipients"] = sum(found.values())
        return counts

    def _counts_recorded(self) -> dict[str, int]:
        """The counts before the messages are written: the record's figures,
        every sendable recipient pending (a cancelled sendout's cancelled)."""
        recipients = self.record.get("recipients", {})
        sendable = recipients.get("sendable", 0)
        counts = {status.value: 0 for status in MessageStatus}
        cancelled = self.status == SendoutStatus.CANCELLED
        open_status = MessageStatus.CANCELLED if cancelled else MessageStatus.PENDING
        counts[open_status.value] = sendable
        counts[MessageStatus.SKIPPED.value] = sum(recipients.get("skipped", {}).values())
        counts["recipients"] = recipients.get("total", 0)
        return counts

    @property
    def reconciliation(self) -> dict[str, int]:
        """Messages settled by reconciliation with the provider, per outcome
        (``Recovery``): from ``recovery_*`` annotations when the selector added
        them, else counted now."""
        if hasattr(self, f"recovery_{Recovery.RECOVERED.value}"):
            return {r.value: getattr(self, f"recovery_{r.value}") for r in Recovery}
        found = dict(
            self.messages.exclude(recovery="")
            .order_by()
            .values_list("recovery")
            .annotate(n=models.Count("id"))
        )
        return {r.value: found.get(r.value, 0) for r in Recovery}


class OutboundMessage(models.Model):
    """One recipient of a sendout: the number, the rendered text and its fate."""

    # No database constraint and no index of its own (#21): every message is
    # written by the Yes in the transaction that creates its sendout, and a
    # sendout is deleted through the ORM, which deletes its messages first
    # (CASCADE). The constraint's check cost the Yes 4 µs per message at commit
    # (0.4 s at 100,000); the (sendout, status) index serves every look by
    # sendout.
    sendout = models.ForeignKey(
        Sendout,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name=_("sendout"),
        db_constraint=False,
        db_index=False,
    )
    # A deleted contact must not delete the history of what was sent and billed.
    # No database constraint either (#21): its check cost the Yes 5 µs per
    # message at commit (0.5 s at 100,000). On PostgreSQL a trigger of migration
    # 0019 does what the constraint guarded: deleting a contact, however it is
    # deleted, blanks its messages' contact, and it waits for a Yes of the same
    # organisation in progress (``sms.sendouts.insert.contacts_hold``), so that
    # no message is left naming a contact that is gone.
    contact = models.ForeignKey(
        "crm.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sms_messages",
        verbose_name=_("contact"),
        db_constraint=False,
        db_index=False,
    )
    to = models.CharField(_("to"), max_length=16, blank=True, validators=[validate_e164])
    body = models.TextField(_("text"), blank=True)
    messages = models.PositiveSmallIntegerField(_("billed messages"), default=0)
    # How the carrier sees the text (information; billing is ``messages``).
    encoding = models.CharField(_("encoding"), max_length=8, blank=True)
    carrier_segments = models.PositiveSmallIntegerField(_("carrier segments"), default=0)
    status = models.CharField(
        _("status"), max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    reason = models.CharField(_("reason"), max_length=64, blank=True)
    error_code = models.CharField(_("provider error code"), max_length=32, blank=True)
    provider_id = models.CharField(_("provider id"), max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # When the delivery report said "delivered" (the report's chart and export).
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    # The lease of a claim: who sends the message now, and until when. The holder
    # renews it while it works; the sweeper takes over a lease that expired.
    claimed_by = models.CharField(_("claimed by"), max_length=64, blank=True)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    attempt_started_at = models.DateTimeField(_("last attempt started at"), null=True, blank=True)
    recovery = models.CharField(
        _("reconciliation"), max_length=16, choices=Recovery.choices, blank=True
    )
    # The contact's legal basis when the message was created: what it was sent on.
    legal_basis = models.CharField(
        _("legal basis"), max_length=24, choices=LegalBasis.choices, blank=True
    )

    class Meta:
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        ordering = ["id"]
        constraints = [
            # Also what finds a message by its provider id (a status report): no
            # other index of provider_id, whose every message starts blank.
            models.UniqueConstraint(
                fields=["provider_id"],
                condition=~Q(provider_id=""),
                name="sms_message_provider_id_unique",
            ),
            # A skipped recipient is never billed.
            models.CheckConstraint(
                condition=~Q(status=MessageStatus.SKIPPED) | Q(messages=0),
                name="sms_message_skipped_not_billed",
            ),
        ]
        indexes = [
            models.Index(fields=["sendout", "status"]),
            # A contact's messages (its history, the trigger blanking them when
            # it is deleted) and a short link's click finding its recipient by
            # (sendout, contact): one index for both, one fewer for the Yes to write.
            models.Index(fields=["contact", "sendout"], name="sms_message_contact_sendout"),
            # The sweeper's look for expired leases.
            models.Index(
                fields=["claimed_until"],
                condition=Q(status=MessageStatus.SENDING),
                name="sms_message_lease_idx",
            ),
        ]

    def __str__(self) -> str:
        # Who it went to in words: the number, else the contact (a skipped one may
        # have none), in the sendout it belongs to.
        recipient = phone_display(self.to) or (str(self.contact) if self.contact_id else "")
        return str(
            _("%(recipient)s in sendout %(sendout)s: %(status)s")
            % {
                "recipient": recipient or _("no number"),
                "sendout": self.sendout_id,
                "status": self.get_status_display(),
            }
        )


class Link(models.Model):
    """A URL of a sendout's message that goes out as a short link per recipient
    (``sms.links``): one row per URL of the template, never one per recipient."""

    sendout = models.ForeignKey(
        Sendout, on_delete=models.CASCADE, related_name="links", verbose_name=_("sendout")
    )
    index = models.PositiveSmallIntegerField(_("place in the message"))
    url = models.TextField(_("URL"))

    class Meta:
        verbose_name = _("link")
        verbose_name_plural = _("links")
        ordering = ["sendout", "index"]
        constraints = [
            models.UniqueConstraint(fields=["sendout", "index"], name="sms_link_unique_index")
        ]

    def __str__(self) -> str:
        return self.url


class BotReason(models.TextChoices):
    """Why a visit to a short link is not counted as a click."""

    USER_AGENT = "user_agent", _("Link preview or crawler")
    PREFETCH = "prefetch", _("Prefetch")
    HEAD = "head", _("Checked without opening")
    TOO_SOON = "too_soon", _("Within a second of delivery")


class Click(models.Model):
    """One visit of a recipient's short link: a click, or (``bot_reason`` set) a
    link preview or prefetcher's visit, recorded apart. Nothing about the
    visitor is kept beyond the time."""

    sendout = models.ForeignKey(
        Sendout, on_delete=models.CASCADE, related_name="clicks", verbose_name=_("sendout")
    )
    link = models.ForeignKey(
        Link, on_delete=models.CASCADE, related_name="clicks", verbose_name=_("link")
    )
    message = models.ForeignKey(
        OutboundMessage,
        on_delete=models.CASCADE,
        related_name="clicks",
        verbose_name=_("recipient"),
    )
    clicked_at = models.DateTimeField(_("clicked at"), auto_now_add=True)
    bot_reason = models.CharField(
        _("not a click because"), max_length=16, choices=BotReason.choices, blank=True
    )

    class Meta:
        verbose_name = _("click")
        verbose_name_plural = _("clicks")
        ordering = ["clicked_at", "id"]
        indexes = [models.Index(fields=["sendout", "clicked_at"], name="sms_click_sendout_time")]

    def __str__(self) -> str:
        return f"{self.link} {self.clicked_at:%Y-%m-%d %H:%M:%S}"


class Reply(models.Model):
    """An inbound text that is not an opt-out keyword, kept with the contact it
    came from and the sendout that last texted that number through the sender it
    answered (``sms.replies``). ``owner`` is the user who sent that sendout: the
    one who sees it in their Replies list until they read it."""

    organisation = models.ForeignKey(
        "crm.Organisation",
        on_delete=models.CASCADE,
        related_name="sms_replies",
        verbose_name=_("organisation"),
    )
    contact = models.ForeignKey(
        "crm.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sms_replies",
        verbose_name=_("contact"),
    )
    sendout = models.ForeignKey(
        Sendout,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replies",
        verbose_name=_("sendout"),
    )
    message = models.ForeignKey(
        OutboundMessage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="replies",
        verbose_name=_("in reply to"),
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sms_replies",
        verbose_name=_("owner"),
    )
    from_number = models.CharField(_("from"), max_length=16, validators=[validate_e164])
    to = models.CharField(_("to"), max_length=34, blank=True)
    body = models.TextField(_("text"))
    provider_id = models.CharField(_("provider id"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        ordering = ["-received_at", "-id"]
        constraints = [
            # Twilio may call the webhook again for the same message: kept once.
            models.UniqueConstraint(
                fields=["organisation", "provider_id"],
                condition=~Q(provider_id=""),
                name="sms_reply_provider_id_unique",
            )
        ]
        indexes = [
            models.Index(fields=["owner", "read_at"], name="sms_reply_owner_unread"),
            models.Index(fields=["contact", "-received_at"], name="sms_reply_contact"),
            models.Index(fields=["sendout", "-received_at"], name="sms_reply_sendout"),
        ]

    def __str__(self) -> str:
        return f"{phone_display(self.from_number)}: {self.body[:40]}"


class MessageTemplate(models.Model):
    """A named message of the organisation that anyone in it may pick in the modal:
    the body with its tags, the sender, the phone field and the purpose. Written
    only by ``sms/message_templates.py``, which checks them as a sendout does."""

    organisation = models.ForeignKey(
        "crm.Organisation",
        on_delete=models.CASCADE,
        related_name="sms_templates",
        verbose_name=_("organisation"),
    )
    name = models.CharField(_("name"), max_length=100)
    body = models.TextField(_("message"))
    sender = models.CharField(_("sender"), max_length=34, default=OPERATOR_SENDER)
    phone_field = models.CharField(_("phone field"), max_length=32, default="mobile_phone")
    purpose = models.CharField(
        _("purpose"),
        max_length=16,
        choices=CHOOSABLE_PURPOSE_CHOICES,
        default=Purpose.MARKETING,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sms_templates",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name", "id"]
        constraints = [
            # Names differ in more than case: "Offer" and "offer" would confuse.
            models.UniqueConstraint(
                F("organisation"), Lower("name"), name="sms_template_name_unique_per_organisation"
            )
        ]

    def __str__(self) -> str:
        return self.name


class SmsProfile(models.Model):
    """A user's own SMS details: the mobile number test messages go to."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="sms_profile",
        verbose_name=_("user"),
    )
    own_number = models.CharField(
        _("own mobile number"), max_length=16, blank=True, validators=[validate_e164]
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("SMS profile")
        verbose_name_plural = _("SMS profiles")

    def __str__(self) -> str:
        return str(self.user)


class QuotaTransaction(models.Model):
    """One change of an organisation's message quota (the ledger). Rows are
    written only by ``sms/quota.py`` and never changed afterwards."""

    organisation = models.ForeignKey(
        "crm.Organisation",
        on_delete=models.CASCADE,
        related_name="sms_quota_transactions",
        verbose_name=_("organisation"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=QuotaKind.choices)
    amount = models.IntegerField(_("amount"))
    balance_after = models.PositiveIntegerField(_("balance after"))
    reason = models.TextField(_("reason"), blank=True)
    # PROTECT: a sendout with quota history cannot vanish from the ledger.
    sendout = models.ForeignKey(
        Sendout,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="quota_transactions",
        verbose_name=_("sendout"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sms_quota_transactions",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        verbose_name = _("quota transaction")
        verbose_name_plural = _("quota transactions")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="sms_quota_balance_after_not_negative"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind=QuotaKind.TOP_UP, amount__gt=0, sendout__isnull=True)
                    | Q(kind=QuotaKind.RESERVATION, amount__lt=0, sendout__isnull=False)
                    | Q(kind=QuotaKind.REFUND, amount__gt=0, sendout__isnull=False)
                    | (Q(kind=QuotaKind.ADJUSTMENT) & ~Q(amount=0))
                ),
                name="sms_quota_amount_sign_fits_kind",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "-created_at", "-id"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount:+d}"


class SuppressionSource(models.TextChoices):
    """How a number came to be on the suppression list."""

    REPLY = "reply", _("STOP reply")
    CARRIER = "carrier", _("Unsubscribed at the carrier")
    ADMIN = "admin", _("Added in admin")
    USER = "user", _("Asked by the person")
    CONTACT = "contact", _("Opted out on the contact's page")


class SuppressedNumber(models.Model):
    """A phone number (E.164) the organisation never texts: an opt-out belongs to
    the number, whichever contacts hold it. Written only by ``sms/suppression.py``;
    recipient resolution skips the number as ``opted_out``."""

    organisation = models.ForeignKey(
        "crm.Organisation",
        on_delete=models.CASCADE,
        related_name="sms_suppressed_numbers",
        verbose_name=_("organisation"),
    )
    number = models.CharField(_("number"), max_length=16, validators=[validate_e164])
    source = models.CharField(_("source"), max_length=16, choices=SuppressionSource.choices)
    sender = models.CharField(
        _("sender"),
        max_length=34,
        blank=True,
        help_text=_("The number, messaging service or sender name it came through."),
    )
    created_at = models.DateTimeField(_("suppressed at"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppressed number")
        verbose_name_plural = _("suppressed numbers")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "number"], name="sms_suppressed_number_unique"
            )
        ]

    def __str__(self) -> str:
        return self.number

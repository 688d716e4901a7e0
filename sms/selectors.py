"""Reads of the SMS app: quota, options, preview answers, sendouts. Every
function is scoped to one organisation."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from crm.models import Contact, Organisation
from sms import tags
from sms.checks import (
    FINNISH_PREFIX,
    may_send_service,
    sender_authorised_or_refuse,
    sendout_validate,
)
from sms.links import (
    PREVIEW_SENDOUT_ID,
    click_annotations,
    link_for,
    message_click_annotations,
    short_link_chars,
)
from sms.models import (
    OutboundMessage,
    QuotaTransaction,
    SenderAuthorisation,
    Sendout,
    SmsSettings,
)
from sms.optout import optout_for
from sms.recipients import Recipient, RecipientSummary, recipients_resolve, recipients_summarise
from sms.replies import reply_annotations
from sms.rules.numbers import DEFAULT_PHONE_FIELD, PHONE_FIELDS, SkipReason
from sms.rules.purposes import BASES_ALLOWING, CHOOSABLE_PURPOSES, DEFAULT_PURPOSE, Purpose
from sms.rules.senders import OPERATOR_SENDER
from sms.rules.text import (
    CHARS_PER_MESSAGE,
    MAX_CHARS,
    billed_messages,
    char_count,
    encoding_info,
)
from sms.statuses import SENDOUT_UNFINISHED_STATUSES, MessageStatus, Recovery, SendoutStatus
from targetgroups.models import TargetGroup
from targetgroups.selectors import target_group_members


def quota_balance(*, organisation: Organisation) -> int:
    """The messages the organisation may still send (0 without SMS settings)."""
    balance = (
        SmsSettings.objects.filter(organisation=organisation)
        .values_list("quota_balance", flat=True)
        .first()
    )
    return balance or 0


def quota_reserved_scheduled(*, organisation: Organisation) -> int:
    """Messages reserved (and not refunded) by the organisation's scheduled and
    paused sendouts: spent from the quota, not sent yet."""
    found = Sendout.objects.filter(
        organisation=organisation, status__in=[SendoutStatus.SCHEDULED, SendoutStatus.PAUSED]
    ).aggregate(reserved=Sum("messages_reserved"), refunded=Sum("messages_refunded"))
    return (found["reserved"] or 0) - (found["refunded"] or 0)


def sendout_unfinished_list(*, organisation: Organisation) -> QuerySet[Sendout]:
    """Scheduled, queued, sending and paused sendouts: the next to start first."""
    return (
        Sendout.objects.filter(organisation=organisation, status__in=SENDOUT_UNFINISHED_STATUSES)
        .select_related("target_group", "created_by")
        .annotate(next_at=Coalesce("resume_at", "send_at", "created_at"))
        .order_by("next_at", "id")
    )


def quota_transaction_list(*, organisation: Organisation) -> QuerySet[QuotaTransaction]:
    """The organisation's quota ledger, latest first."""
    return (
        QuotaTransaction.objects.filter(organisation=organisation)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def sms_settings_get(*, organisation: Organisation) -> SmsSettings | None:
    return SmsSettings.objects.filter(organisation=organisation).first()


def sms_settings_or_defaults(*, organisation: Organisation) -> SmsSettings:
    """The organisation's SMS settings; without a row (an organisation created
    before its row, see ``sms.quota.sms_settings_create_with_organisation``), the
    defaults, unsaved: SMS off, no quota. Reads never write."""
    return sms_settings_get(organisation=organisation) or SmsSettings(organisation=organisation)


def has_finnish_numbers(*, target_group: TargetGroup) -> bool:
    """Whether any member has a Finnish number in a phone field (one query)."""
    return (
        target_group_members(target_group=target_group)
        .filter(
            Q(mobile_phone_e164__startswith=FINNISH_PREFIX)
            | Q(work_phone_e164__startswith=FINNISH_PREFIX)
        )
        .exists()
    )


def sms_options(
    *,
    sms_settings: SmsSettings,
    user: AbstractBaseUser | AnonymousUser | None = None,
    finnish_numbers: bool = False,
) -> dict:
    """What the modal offers. With ``finnish_numbers`` (the group has members with
    Finnish numbers) only the sender names authorised in Traficom's register are
    offered; the others are listed in ``senders_unavailable`` with the reason."""
    senders = [{"value": OPERATOR_SENDER, "label": sms_settings.operator_label(), "default": True}]
    unavailable = []
    if sms_settings.named_senders_enabled:
        for name, status in sms_settings.sender_name_authorisations().items():
            if finnish_numbers and status != SenderAuthorisation.AUTHORISED:
                unavailable.append(
                    {
                        "value": name,
                        "reason": _(
                            "%(name)s: not authorised in Traficom's sender ID register "
                            "(%(status)s); Finnish operators would block or rename it."
                        )
                        % {"name": name, "status": SenderAuthorisation(status).label},
                    }
                )
                continue
            senders.append({"value": name, "label": name, "default": False})
    return {
        "enabled": sms_settings.sms_enabled,
        "named_senders_enabled": sms_settings.named_senders_enabled,
        "quota_remaining": sms_settings.quota_balance,
        "max_chars": MAX_CHARS,
        "chars_per_message": CHARS_PER_MESSAGE,
        "short_link_chars": short_link_chars(),
        "senders": senders,
        "senders_unavailable": unavailable,
        "purposes": [
            {"value": value, "label": str(label), "default": value == DEFAULT_PURPOSE}
            for value, label in Purpose.choices
            if value in CHOOSABLE_PURPOSES
            and (value != Purpose.SERVICE or (user is not None and may_send_service(user)))
        ],
        "phone_fields": [
            {"value": value, "label": str(label), "default": value == DEFAULT_PHONE_FIELD}
            for value, label in PHONE_FIELDS.items()
        ],
        "skip_reasons": [
            {"value": reason.value, "label": str(reason.label)} for reason in SkipReason
        ],
        "tags": [
            {"value": tag.token, "label": str(tag.label), "group": str(tag.group)}
            for tag in tags.TAGS
        ],
    }


def sendout_preview(
    *,
    target_group: TargetGroup,
    sms_settings: SmsSettings,
    sender: str,
    phone_field: str,
    body: str,
    purpose: str = DEFAULT_PURPOSE,
    user: AbstractBaseUser | AnonymousUser | None = None,
    link_tracking: bool = True,
) -> dict:
    """What a sendout of ``body`` to ``target_group`` would do, for the modal:
    recipients, skips by reason, messages to bill, the quota after, samples and
    warnings. Checks the input as ``sendout_create`` does (raises ``RuleError``
    at the field); the caller has checked that SMS is enabled. Writes nothing."""
    asked = sendout_validate(
        sms_settings=sms_settings,
        sender=sender,
        phone_field=phone_field,
        body=body,
        purpose=purpose,
        user=user,
        link_tracking=link_tracking,
    )
    optout = optout_for(sms_settings=sms_settings, sender=asked.sender, purpose=asked.purpose)
    summary = recipients_summarise(
        target_group=target_group,
        phone_field=asked.phone_field,
        template=asked.template,
        purpose=asked.purpose,
        suffix=optout.suffix if optout.chars else None,
        link=_preview_link(asked.template),
    )
    sender_authorised_or_refuse(
        sms_settings=sms_settings, sender=asked.sender, finnish_recipients=summary.finnish
    )
    answer = preview_answer(sms_settings=sms_settings, body=asked.body, summary=summary)
    # The template as the counter shows it: each tracked URL as long as its short link.
    answer["chars"] = asked.template.short_chars(short_link_chars())
    answer["links"] = len(asked.template.links)
    return answer | {"optout": optout.style, "optout_chars": optout.chars}


def _preview_link(template: tags.MessageTemplate):
    """A preview's short links: every code has the same length, so one example
    code per link stands for every recipient's (no hashing per member)."""
    if not template.links:
        return None
    link = link_for(sendout_id=PREVIEW_SENDOUT_ID)
    examples = [link(0, link_slot.index) for link_slot in template.links]
    return lambda contact_id, index: examples[index]


def preview_skipped(
    *,
    target_group: TargetGroup,
    sms_settings: SmsSettings,
    sender: str,
    phone_field: str,
    body: str,
    reason: SkipReason,
    purpose: str = DEFAULT_PURPOSE,
    user: AbstractBaseUser | AnonymousUser | None = None,
    link_tracking: bool = True,
) -> list[Recipient]:
    """The members a sendout of ``body`` would skip for ``reason``, in id order:
    the list behind one "N skipped" line of the preview. Checks the input as
    ``sendout_preview`` does. Writes nothing."""
    asked = sendout_validate(
        sms_settings=sms_settings,
        sender=sender,
        phone_field=phone_field,
        body=body,
        purpose=purpose,
        user=user,
        link_tracking=link_tracking,
    )
    optout = optout_for(sms_settings=sms_settings, sender=asked.sender, purpose=asked.purpose)
    return [
        recipient
        for recipient in recipients_resolve(
            target_group=target_group,
            phone_field=asked.phone_field,
            template=asked.template,
            purpose=asked.purpose,
            suffix=optout.suffix if optout.chars else None,
            link=_preview_link(asked.template),
        )
        if recipient.reason == reason
    ]


def preview_answer(*, sms_settings: SmsSettings, body: str, summary: RecipientSummary) -> dict:
    """The preview's answer. Encoding and carrier segments are the worst case over
    the sendable recipients' texts (each decided on its own: a name with an emoji
    makes only that text UCS-2), with ``ucs2_recipients`` counting the UCS-2
    ones; without sendable recipients, those of the template itself."""
    if summary.sendable:
        encoding = "UCS-2" if summary.ucs2 else "GSM-7"
        segments, unicode_chars = summary.carrier_segments, summary.unicode_chars
    else:
        info = encoding_info(body)
        encoding, segments, unicode_chars = info.encoding, info.carrier_segments, info.unicode_chars
    warnings = []
    if unicode_chars and summary.sendable:
        warnings.append(
            _(
                "Unicode (UCS-2) for %(n)s of %(total)s recipients, because of these "
                "characters: %(chars)s. A carrier segment then holds 70 characters; "
                "billing stays per 160 characters."
            )
            % {"n": summary.ucs2, "total": summary.sendable, "chars": " ".join(unicode_chars)}
        )
    elif unicode_chars:
        warnings.append(
            _(
                "These characters make the message use Unicode (UCS-2), so a carrier "
                "segment holds 70 characters: %(chars)s. Billing stays per 160 characters."
            )
            % {"chars": " ".join(unicode_chars)}
        )
    if summary.skipped.get(SkipReason.TOO_LONG):
        warnings.append(
            _("%(n)s recipients are skipped: with their details the message exceeds %(max)s.")
            % {"n": summary.skipped[SkipReason.TOO_LONG], "max": MAX_CHARS}
        )
    if summary.messages > sms_settings.quota_balance:
        warnings.append(
            _("The quota is not enough: %(needs)s messages needed, %(has)s left.")
            % {"needs": summary.messages, "has": sms_settings.quota_balance}
        )
    return {
        "recipients": {
            "total": summary.total,
            "sendable": summary.sendable,
            "skipped": {reason.value: n for reason, n in summary.skipped.items()},
        },
        "messages": summary.messages,
        # The template is counted as typed; tags change each recipient's length.
        "messages_per_recipient_max": billed_messages(summary.most_chars),
        "quota_remaining": sms_settings.quota_balance,
        "quota_after": sms_settings.quota_balance - summary.messages,
        "chars": char_count(body),
        "encoding": encoding,
        "carrier_segments": segments,
        "ucs2_recipients": summary.ucs2,
        "warnings": warnings,
        "samples": [
            {
                "contact": r.contact_id,
                "name": r.name,
                "to": r.to,
                "body": r.body,
                "chars": r.chars,
                "messages": r.messages,
                "encoding": r.encoding,
                "carrier_segments": r.carrier_segments,
            }
            for r in summary.samples
        ],
    }


def _counts() -> dict:
    counts = {
        status.value: Count("messages", filter=Q(messages__status=status.value))
        for status in MessageStatus
    }
    counts["recipients"] = Count("messages")
    recovered = {
        f"recovery_{r.value}": Count("messages", filter=Q(messages__recovery=r.value))
        for r in Recovery
    }
    return {f"count_{k}": v for k, v in counts.items()} | recovered


def sendout_list(*, organisation: Organisation) -> QuerySet[Sendout]:
    """Sendouts, newest first, each with its per-status counts in one query."""
    return (
        Sendout.objects.filter(organisation=organisation)
        .select_related("created_by")
        .annotate(**_counts())
        .annotate(**click_annotations())
        .annotate(**reply_annotations())
        .order_by("-created_at", "-id")
    )


def sendout_recipients(*, sendout: Sendout, status: str = "") -> QuerySet[OutboundMessage]:
    """The sendout's messages in the order a person looks for them: by the contact's
    last and first name (a deleted contact's message last), then in creation order."""
    qs = (
        sendout.messages.select_related("contact")
        .annotate(**message_click_annotations())
        .order_by(
            F("contact__last_name").asc(nulls_last=True),
            F("contact__first_name").asc(nulls_last=True),
            "id",
        )
    )
    if status:
        qs = qs.filter(status=status)
    return qs


CONTACT_HISTORY_LIMIT = 50


def contact_sms_history(
    *, organisation: Organisation, contact_id: int
) -> QuerySet[OutboundMessage]:
    """Every SMS message of one contact, newest first, each with its sendout and
    target group, and the legal basis and purpose it was sent on (a data
    subject's access request answers this)."""
    return (
        OutboundMessage.objects.filter(sendout__organisation=organisation, contact_id=contact_id)
        .select_related("sendout", "sendout__target_group")
        .order_by("-created_at", "-id")
    )


def contact_messages(*, organisation: Organisation, contact_id: int) -> QuerySet[OutboundMessage]:
    """The contact page's SMS history: ``contact_sms_history``, at most
    ``CONTACT_HISTORY_LIMIT``."""
    return contact_sms_history(organisation=organisation, contact_id=contact_id)[
        :CONTACT_HISTORY_LIMIT
    ]


def members_without_basis(*, target_group: TargetGroup) -> QuerySet[Contact]:
    """The members a marketing sendout skips as ``no_legal_basis``: not opted
    out, with a basis that does not allow marketing (``sms.rules.purposes``)."""
    return (
        target_group_members(target_group=target_group)
        .filter(sms_opt_out=False)
        .exclude(legal_basis__in=BASES_ALLOWING[Purpose.MARKETING])
    )

"""The checks of what a user asks for a sendout, against the organisation's SMS
settings: the pure rules of ``sms.rules`` and ``sms.tags`` applied to one
organisation. Used by the preview (a read) and by ``sendout_create`` (a write),
so that both check exactly the same, once."""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from crm.errors import DomainError
from sms import rules, tags
from sms.models import SmsSettings


def sms_enabled_or_refuse(*, sms_settings: SmsSettings) -> None:
    if not sms_settings.sms_enabled:
        raise DomainError(
            "sms_not_enabled",
            _("SMS messages are not enabled for your organisation. Ask an administrator."),
            status_code=403,
        )


@dataclass(frozen=True)
class SendoutRequest:
    sender: str
    phone_field: str
    template: tags.MessageTemplate
    body: str


def sendout_validate(
    *, sms_settings: SmsSettings, sender: str, phone_field: str, body: str
) -> SendoutRequest:
    """Check what a user asked for; raises ``rules.RuleError`` naming the field."""
    sender = rules.resolve_sender(
        sender or rules.OPERATOR_SENDER,
        named_senders_enabled=sms_settings.named_senders_enabled,
        approved_names=sms_settings.approved_sender_names(),
    )
    phone_field = rules.validate_phone_field(phone_field or rules.DEFAULT_PHONE_FIELD)
    body = rules.validate_body(body)
    return SendoutRequest(sender, phone_field, tags.parse_template(body), body)

"""The checks of what a user asks for a sendout, against the organisation's SMS
settings: the pure rules of ``sms.rules`` and ``sms.tags`` applied to one
organisation. Used by the preview (a read) and by ``sendout_create`` (a write),
so that both check exactly the same, once."""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from core.errors import DomainError
from sms import tags
from sms.models import SmsSettings
from sms.rules.numbers import DEFAULT_PHONE_FIELD, validate_phone_field
from sms.rules.senders import OPERATOR_SENDER, resolve_sender
from sms.rules.text import validate_body


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
    template: tags.MessageTemplate  # with its tracked links when ``link_tracking``
    body: str
    link_tracking: bool = True


def sendout_validate(
    *,
    sms_settings: SmsSettings,
    sender: str,
    phone_field: str,
    body: str,
    link_tracking: bool = True,
) -> SendoutRequest:
    """Check what a user asked for; raises ``RuleError`` naming the field."""
    sender = resolve_sender(
        sender or OPERATOR_SENDER,
        named_senders_enabled=sms_settings.named_senders_enabled,
        approved_names=sms_settings.approved_sender_names(),
    )
    phone_field = validate_phone_field(phone_field or DEFAULT_PHONE_FIELD)
    body = validate_body(body)
    template = tags.parse_template(body)
    if link_tracking:
        template = template.track_links()
    return SendoutRequest(sender, phone_field, template, body, link_tracking)

"""The checks of what a user asks for a sendout, against the organisation's SMS
settings: the pure rules of ``sms.rules`` and ``sms.tags`` applied to one
organisation. Used by the preview (a read) and by ``sendout_create`` (a write),
so that both check exactly the same, once."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils.translation import gettext as _

from core.errors import DomainError
from crm.models import Role
from sms import tags
from sms.models import SenderAuthorisation, SmsSettings
from sms.rules import RuleError
from sms.rules.numbers import DEFAULT_PHONE_FIELD, validate_phone_field
from sms.rules.purposes import CHOOSABLE_PURPOSES, DEFAULT_PURPOSE, Purpose
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
    purpose: str = DEFAULT_PURPOSE
    link_tracking: bool = True


def may_send_service(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Service messages skip the marketing basis check, so only an organisation's
    administrators may label a sendout as one."""
    membership = getattr(user, "membership", None)
    return membership is not None and membership.role == Role.ADMIN


def sendout_validate(
    *,
    sms_settings: SmsSettings,
    sender: str,
    phone_field: str,
    body: str,
    purpose: str = DEFAULT_PURPOSE,
    user: AbstractBaseUser | AnonymousUser | None = None,
    link_tracking: bool = True,
) -> SendoutRequest:
    """Check what a user asked for; raises ``RuleError`` naming the field. A
    ``service`` purpose needs a ``user`` who may send service messages."""
    if purpose not in CHOOSABLE_PURPOSES:
        raise RuleError(
            "purpose_invalid",
            _("Choose the purpose: %(choices)s.")
            % {"choices": ", ".join(p.value for p in CHOOSABLE_PURPOSES)},
            field="purpose",
        )
    if purpose == Purpose.SERVICE and (user is None or not may_send_service(user)):
        raise RuleError(
            "service_needs_role",
            _(
                "Only an administrator of your organisation may send service messages. "
                "Send it as marketing, or ask an administrator."
            ),
            field="purpose",
        )
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
    return SendoutRequest(sender, phone_field, template, body, purpose, link_tracking)


FINNISH_PREFIX = "+358"
"""Numbers that Traficom's sender ID rules protect (Finnish numbers, E.164)."""


def sender_authorised_or_refuse(
    *, sms_settings: SmsSettings, sender: str, finnish_recipients: int
) -> None:
    """A sender name towards Finnish numbers must be authorised in Traficom's
    register (operators block or rename one that is not). Raises ``RuleError``
    (field "sender", code ``sender_not_authorised``) when a named sender that is
    not authorised would text ``finnish_recipients`` > 0 Finnish numbers."""
    if sender == OPERATOR_SENDER or not finnish_recipients:
        return
    status = sms_settings.sender_name_authorisations().get(sender)
    if status == SenderAuthorisation.AUTHORISED:
        return
    raise RuleError(
        "sender_not_authorised",
        _(
            "“%(name)s” is not authorised in Traficom's sender ID register (%(status)s), "
            "so Finnish operators would block or rename it: %(n)s recipients have Finnish "
            "numbers. Send from the operator number or an authorised name."
        )
        % {
            "name": sender,
            "status": SenderAuthorisation(status or SenderAuthorisation.PENDING).label,
            "n": finnish_recipients,
        },
        field="sender",
    )

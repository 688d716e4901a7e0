"""Validators for SMS settings fields. Pure functions: no database access."""

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from sms.rules import RuleError, senders

_MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def validate_sender_name(value: str) -> None:
    """Twilio's alphanumeric sender ID rules, as ``sms.rules.senders.validate_sender_name``
    states them, for model and form fields."""
    try:
        senders.validate_sender_name(value)
    except RuleError as error:
        raise ValidationError(error.message, code=error.code) from error


def validate_e164(value: str) -> None:
    """A phone number in E.164 form (``+358401234567``) that can exist."""
    if not value:
        return
    message = _("Enter the number in international E.164 form, such as +358401234567.")
    if not _E164.match(value):
        raise ValidationError(message, code="invalid_e164")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(message, code="invalid_e164") from exc
    if not phonenumbers.is_possible_number(number):
        raise ValidationError(message, code="invalid_e164")


def validate_messaging_service_sid(value: str) -> None:
    if value and not _MESSAGING_SERVICE_SID.match(value):
        raise ValidationError(
            _("A Twilio messaging service SID is MG followed by 32 hexadecimal characters."),
            code="invalid_messaging_service_sid",
        )


def validate_time_zone(value: str) -> None:
    """An IANA time zone name that this system knows (Europe/Helsinki)."""
    from sms.rules.schedule import zone_or_none

    if zone_or_none(value) is None:
        raise ValidationError(
            _("Enter a time zone name such as Europe/Helsinki."), code="invalid_time_zone"
        )


def validate_send_windows(value: object) -> None:
    """Seven day entries like ``09:00-20:00`` or empty (``sms.rules.windows``)."""
    from sms.rules.windows import parse_send_windows

    try:
        parse_send_windows(value)
    except RuleError as error:
        raise ValidationError(error.message, code=error.code) from error

"""Validators for SMS settings fields. Pure functions: no database access.

``validate_sender_name`` has the same semantics as ``sms.rules.validate_sender_name``
(written in parallel); the two are to be merged into one.
"""

import re

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

SENDER_NAME_MAX_LENGTH = 11
_SENDER_NAME_ALLOWED = re.compile(r"^[A-Za-z0-9 +\-_&]+$")
_HAS_LETTER = re.compile(r"[A-Za-z]")
_MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def validate_sender_name(value: str) -> None:
    """Twilio's alphanumeric sender ID rules: at most 11 characters of A-Z, a-z,
    0-9, space, ``-``, ``+``, ``_`` and ``&``, with at least one letter."""
    if not value:
        raise ValidationError(_("Enter a sender name."), code="sender_name_empty")
    if len(value) > SENDER_NAME_MAX_LENGTH:
        raise ValidationError(
            _("A sender name has at most %(max)d characters (this one has %(length)d).")
            % {"max": SENDER_NAME_MAX_LENGTH, "length": len(value)},
            code="sender_name_too_long",
        )
    if not _SENDER_NAME_ALLOWED.match(value):
        raise ValidationError(
            _(
                "A sender name may hold only the letters A-Z and a-z, digits, spaces "
                "and the characters - + _ &."
            ),
            code="sender_name_invalid_characters",
        )
    if not _HAS_LETTER.search(value):
        raise ValidationError(
            _("A sender name needs at least one letter A-Z or a-z."),
            code="sender_name_no_letter",
        )


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

"""Validators for CRM fields. Pure functions: no database access."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_BUSINESS_ID_RE = re.compile(r"^(\d{7})-(\d)$")
_BUSINESS_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2)
_PHONE_RE = re.compile(r"^\+?[0-9 ()\-./]*$")


def business_id_is_valid(value: str) -> bool:
    """A Finnish business id (Y-tunnus), ``1234567-8``, with a correct check digit."""
    match = _BUSINESS_ID_RE.match(value)
    if not match:
        return False
    digits, check = match.group(1), int(match.group(2))
    remainder = sum(int(d) * w for d, w in zip(digits, _BUSINESS_ID_WEIGHTS, strict=True)) % 11
    if remainder == 1:
        return False
    return check == (0 if remainder == 0 else 11 - remainder)


def validate_business_id(value: str) -> None:
    if value and not business_id_is_valid(value):
        raise ValidationError(
            _("Enter a Finnish business ID in the form 1234567-8 with a valid check digit."),
            code="invalid_business_id",
        )


def validate_phone_characters(value: str) -> None:
    """Phone numbers are stored as typed (the SMS rules judge them at send time),
    but only with the characters a phone number can hold."""
    if value and (not _PHONE_RE.match(value) or sum(c.isdigit() for c in value) > 20):
        raise ValidationError(
            _("Enter a phone number with digits, spaces and an optional leading +."),
            code="invalid_phone",
        )


def validate_country_code(value: str) -> None:
    if value and not re.fullmatch(r"[A-Z]{2}", value):
        raise ValidationError(
            _("Enter a two-letter country code such as FI."), code="invalid_country"
        )

"""Sender rules: a valid alphanumeric sender name, the sender a user may choose,
and who a sendout's messages come from (``sender_choice``, the one place that
decides it)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.utils.translation import gettext

from crm.phones import phone_display
from sms.rules import RuleError

OPERATOR_SENDER = "operator"
"""The sender value meaning "the organisation's operator number" (always allowed)."""

SENDER_NAME_MAX_CHARS = 11


# --- Senders ---------------------------------------------------------------------------


def sender_label(sender: str, *, operator_number: str = "") -> str:
    """A sendout's sender in the user's words: "Operator number (+358 40 123 4567)"
    (the number grouped as people read it; without a number "Operator number") for
    ``OPERATOR_SENDER``, else the sender name itself. Translated in the active language."""
    if sender != OPERATOR_SENDER:
        return sender
    if operator_number:
        return gettext("Operator number (%(number)s)") % {"number": phone_display(operator_number)}
    return gettext("Operator number")


_SENDER_EXTRA_CHARS = frozenset(" -+_&")


def _is_sender_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c in _SENDER_EXTRA_CHARS)


def validate_sender_name(name: str) -> str:
    """Return a valid alphanumeric sender name, or raise ``RuleError`` (field "sender").

    Twilio's rules: 1 to 11 characters of A to Z, a to z, 0 to 9, space, ``-``, ``+``,
    ``_`` and ``&``, at least one letter. Leading and trailing spaces are
    stripped (a phone would not show them). "operator" in any case is refused:
    it is the value that means the operator number.
    """
    name = name.strip()
    if not name:
        raise RuleError("sender_required", gettext("Write a sender name."), field="sender")
    bad = list(dict.fromkeys(c for c in name if not _is_sender_char(c)))
    if bad:
        raise RuleError(
            "sender_bad_character",
            gettext(
                "A sender name cannot contain %(chars)s. "
                "Use only letters A to Z without accents, digits, spaces and - + _ &."
            )
            % {"chars": " ".join(f"“{c}”" for c in bad)},
            field="sender",
        )
    if len(name) > SENDER_NAME_MAX_CHARS:
        raise RuleError(
            "sender_too_long",
            gettext("A sender name holds at most %(max)d characters (now %(count)d).")
            % {"max": SENDER_NAME_MAX_CHARS, "count": len(name)},
            field="sender",
        )
    if not any(c.isalpha() for c in name):
        raise RuleError(
            "sender_needs_letter",
            gettext("A sender name needs at least one letter: it cannot be only digits."),
            field="sender",
        )
    if name.lower() == OPERATOR_SENDER:
        raise RuleError(
            "sender_reserved",
            gettext("“%(name)s” is reserved for the operator number. Choose another name.")
            % {"name": name},
            field="sender",
        )
    return name


def resolve_sender(
    value: str, *, named_senders_enabled: bool, approved_names: Collection[str]
) -> str:
    """Return the sender to use: ``OPERATOR_SENDER`` or an approved name.

    The operator is always allowed. A name only when the organisation has named
    senders active and the name is approved (exact match). Each refusal raises
    ``RuleError`` (field "sender") with its own code.
    """
    if value == OPERATOR_SENDER:
        return OPERATOR_SENDER
    if not value or not value.strip():
        raise RuleError("sender_required", gettext("Choose a sender."), field="sender")
    if not named_senders_enabled:
        raise RuleError(
            "named_senders_disabled",
            gettext(
                "Named senders are not active for your organisation. Send from the operator number."
            ),
            field="sender",
        )
    if value not in approved_names:
        raise RuleError(
            "sender_not_approved",
            gettext("“%(name)s” is not an approved sender name. Choose one from the list.")
            % {"name": value},
            field="sender",
        )
    return value


@dataclass(frozen=True, slots=True)
class SenderChoice:
    """Who a message comes from, as the backend is to send it: ``sender`` (a name
    or a number, Twilio's ``From``) or else ``messaging_service_sid``; neither
    means the backend's configured default (``TWILIO_MESSAGING_SERVICE_SID``,
    then ``TWILIO_FROM_NUMBER``)."""

    sender: str | None
    messaging_service_sid: str | None


def sender_choice(sender: str, *, operator_number: str, messaging_service_sid: str) -> SenderChoice:
    """Who a sendout's messages come from, the one place that decides it.

    ``sender`` is the sendout's (already checked by ``resolve_sender``): a named
    sender goes out as itself. ``OPERATOR_SENDER`` goes out from the
    organisation's operator number, else from its messaging service, else from
    the backend's default.
    """
    if sender != OPERATOR_SENDER:
        return SenderChoice(sender, None)
    if operator_number:
        return SenderChoice(operator_number, None)
    return SenderChoice(None, messaging_service_sid or None)

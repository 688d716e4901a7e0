"""Sender names (Twilio's alphanumeric rules) and choosing a sender."""

import pytest

from sms.rules import RuleError
from sms.rules.senders import (
    OPERATOR_SENDER,
    SenderChoice,
    resolve_sender,
    sender_choice,
    validate_sender_name,
)

ALLOWED = "Use only letters A to Z without accents (no å, ä or ö), digits and single spaces."


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("A", "A"),
        ("Acme", "Acme"),
        ("Acme Oy", "Acme Oy"),
        ("ABCDEFGHIJK", "ABCDEFGHIJK"),  # 11 characters
        ("Kauppa 24", "Kauppa 24"),
        ("1A", "1A"),
        ("A B C D E F", "A B C D E F"),
    ],
)
def test_valid_sender_names(name: str, expected: str) -> None:
    assert validate_sender_name(name) == expected


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("", "sender_required", "Write a sender name."),
        ("   ", "sender_required", "Write a sender name."),
        (
            "ABCDEFGHIJKL",
            "sender_too_long",
            "A sender name holds at most 11 characters (now 12).",
        ),
        (
            "12345",
            "sender_needs_letter",
            "A sender name needs at least one letter: it cannot be only digits.",
        ),
        (
            "358 40",
            "sender_needs_letter",
            "A sender name needs at least one letter: it cannot be only digits.",
        ),
        ("+358 40", "sender_bad_character", "A sender name cannot contain “+”. " + ALLOWED),
        ("Kauppa-24", "sender_bad_character", "A sender name cannot contain “-”. " + ALLOWED),
        ("A&B_C", "sender_bad_character", "A sender name cannot contain “&” “_”. " + ALLOWED),
        ("Åbo", "sender_bad_character", "A sender name cannot contain “Å”. " + ALLOWED),
        ("Köök", "sender_bad_character", "A sender name cannot contain “ö”. " + ALLOWED),
        (" Acme", "sender_spaces", "A sender name cannot begin or end with a space."),
        ("Acme ", "sender_spaces", "A sender name cannot begin or end with a space."),
        ("Acme  Oy", "sender_spaces", "A sender name cannot hold two spaces in a row."),
        (
            "Kävijä",
            "sender_bad_character",
            "A sender name cannot contain “ä”. " + ALLOWED,
        ),
        (
            "Acme!Oy.fi",
            "sender_bad_character",
            "A sender name cannot contain “!” “.”. " + ALLOWED,
        ),
        (
            "Acme\tOy",
            "sender_bad_character",
            "A sender name cannot contain “\t”. " + ALLOWED,
        ),
        (
            "Operator",
            "sender_reserved",
            "“Operator” is reserved for the operator number. Choose another name.",
        ),
    ],
)
def test_invalid_sender_names(name: str, code: str, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        validate_sender_name(name)
    assert (caught.value.code, caught.value.message, caught.value.field) == (
        code,
        message,
        "sender",
    )


@pytest.mark.parametrize("enabled", [True, False])
def test_operator_is_always_allowed(enabled: bool) -> None:
    assert (
        resolve_sender(OPERATOR_SENDER, named_senders_enabled=enabled, approved_names=())
        == "operator"
    )


def test_approved_name_with_named_senders_on() -> None:
    assert (
        resolve_sender("Acme", named_senders_enabled=True, approved_names={"Acme", "Kauppa"})
        == "Acme"
    )


@pytest.mark.parametrize(
    ("value", "enabled", "approved", "code"),
    [
        ("Acme", False, {"Acme"}, "named_senders_disabled"),  # approved, but names are off
        ("Other", True, {"Acme"}, "sender_not_approved"),
        ("acme", True, {"Acme"}, "sender_not_approved"),  # exact match only
        ("Acme", True, set(), "sender_not_approved"),
        ("", True, {"Acme"}, "sender_required"),
        ("  ", True, {"Acme"}, "sender_required"),
    ],
)
def test_refused_senders(value: str, enabled: bool, approved: set[str], code: str) -> None:
    with pytest.raises(RuleError) as caught:
        resolve_sender(value, named_senders_enabled=enabled, approved_names=approved)
    assert caught.value.code == code
    assert caught.value.field == "sender"


def test_refusal_messages_name_the_reason() -> None:
    with pytest.raises(RuleError) as off:
        resolve_sender("Acme", named_senders_enabled=False, approved_names={"Acme"})
    assert off.value.message == (
        "Named senders are not active for your organisation. Send from the operator number."
    )
    with pytest.raises(RuleError) as unapproved:
        resolve_sender("Other", named_senders_enabled=True, approved_names={"Acme"})
    assert unapproved.value.message == (
        "“Other” is not an approved sender name. Choose one from the list."
    )


@pytest.mark.parametrize(
    ("sender", "operator_number", "service", "expected"),
    [
        # A named sender goes out as itself, whatever else the organisation has.
        ("Acme", "+358401234567", "MG" + "0" * 32, SenderChoice("Acme", None)),
        ("Acme", "", "", SenderChoice("Acme", None)),
        # The operator sender: the organisation's number, else its messaging service,
        # else neither (the backend's configured default).
        (OPERATOR_SENDER, "+358401234567", "MG" + "0" * 32, SenderChoice("+358401234567", None)),
        (OPERATOR_SENDER, "", "MG" + "0" * 32, SenderChoice(None, "MG" + "0" * 32)),
        (OPERATOR_SENDER, "", "", SenderChoice(None, None)),
    ],
)
def test_sender_choice(sender: str, operator_number: str, service: str, expected) -> None:
    assert (
        sender_choice(sender, operator_number=operator_number, messaging_service_sid=service)
        == expected
    )

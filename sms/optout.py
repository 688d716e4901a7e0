"""The opt-out every marketing message carries, and the page it leads to.

A sendout's marketing messages end with a short link of ours,
``<SMS_SHORT_LINK_BASE_URL>/s/o/<token>``, unless the organisation chose the
reply style (``SmsSettings.optout_by_reply``) and the sender can receive
replies (the operator number or messaging service): then "Vastaa LOPETA". A
named sender is one-way, so it always gets the link.

The token is the sendout's id and the contact's id in fixed-width base 62
and a secret of 8 characters: the contact's own random opt-out code
(``Contact.optout_code``, made when the contact is), or, for a contact without
one (written past the ORM), a keyed hash of both ids (HMAC-SHA256 under
SECRET_KEY). Every token has the same length (the preview counts it exactly),
nobody can guess another recipient's, and the database writes a sendout's
tokens by reading the code, with no hash per recipient (``sms.sqlcodes``; the
hash cost the Yes of 1,000,000 recipients 6 s). A keyed hash is accepted for
every contact: the texts sent before the codes carry one.
An id past ``MAX_ID`` has no token: ``CodeRangeError`` (409, the sendout is
refused before anything is written). The page finds the message by the two ids and opts its number
out through ``sms.suppression.number_suppress``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from crm.models import OPTOUT_CODE_ALPHABET, OPTOUT_CODE_LENGTH, Contact, OptOutSource
from crm.services import contacts_opt_out_set
from sms.models import OutboundMessage, SmsSettings, SuppressedNumber, SuppressionSource
from sms.rules.links import CodeRangeError
from sms.rules.purposes import Purpose
from sms.rules.senders import OPERATOR_SENDER
from sms.suppression import number_suppress

OPTOUT_PATH = "/s/o/"
ALPHABET = OPTOUT_CODE_ALPHABET  # base 62
ID_WIDTH = 6  # 62**6 ids, about 5.7e10
_MAC_WIDTH = OPTOUT_CODE_LENGTH  # about 47 bits, as the codes
TOKEN_LENGTH = 2 * ID_WIDTH + _MAC_WIDTH
MAX_ID = 62**ID_WIDTH - 1
"""The largest sendout or contact id a token carries."""
PREVIEW_SENDOUT_ID = 0
"""The sendout id of the links a preview shows: no sendout has it, so a
preview's link opts nobody out; its length is the real one."""


def _encode(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    if number:
        raise ValueError("id too large for an opt-out token")
    return "".join(reversed(digits))


def _decode(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + ALPHABET.index(char)
    return number


def optout_mac_key(secret: str) -> bytes:
    """The HMAC key of the tokens, derived from the secret (SECRET_KEY)."""
    return secret.encode() + b"/sms-optout"


def _mac(sendout_id: int, contact_id: int, secret: str | None = None) -> str:
    key = optout_mac_key(settings.SECRET_KEY if secret is None else secret)
    digest = hmac.new(key, f"{sendout_id}:{contact_id}".encode(), hashlib.sha256).digest()
    return _encode(int.from_bytes(digest[:8], "big") % 62**_MAC_WIDTH, _MAC_WIDTH)


def optout_ids_or_refuse(*, sendout_id: int, contact_id: int = 0) -> None:
    """Raise ``CodeRangeError`` unless both ids fit in a token."""
    if not (0 <= sendout_id <= MAX_ID and 0 <= contact_id <= MAX_ID):
        raise CodeRangeError()


def optout_token(
    *, sendout_id: int, contact_id: int, code: str = "", secret: str | None = None
) -> str:
    """The token of the message to ``contact_id`` in ``sendout_id``: with the
    contact's opt-out ``code``, or without one the keyed hash of the ids under
    ``secret`` (SECRET_KEY when left out). Raises ``CodeRangeError`` for an id
    past ``MAX_ID``."""
    optout_ids_or_refuse(sendout_id=sendout_id, contact_id=contact_id)
    return (
        _encode(sendout_id, ID_WIDTH)
        + _encode(contact_id, ID_WIDTH)
        + (code or _mac(sendout_id, contact_id, secret))
    )


def optout_token_parse(token: str) -> tuple[int, int, str] | None:
    """The (sendout id, contact id, secret) a token is made of, or None for one
    not of a token's form. It proves nothing: ``optout_token_secret_matches``."""
    if len(token) != TOKEN_LENGTH or any(c not in ALPHABET for c in token):
        return None
    sendout_id = _decode(token[:ID_WIDTH])
    contact_id = _decode(token[ID_WIDTH : 2 * ID_WIDTH])
    return sendout_id, contact_id, token[2 * ID_WIDTH :]


def optout_token_secret_matches(
    secret: str, *, sendout_id: int, contact_id: int, code: str
) -> bool:
    """Whether a token's ``secret`` is the contact's opt-out ``code`` or the
    keyed hash of the ids (compared in constant time)."""
    matches_code = bool(code) and hmac.compare_digest(secret, code)
    return matches_code | hmac.compare_digest(secret, _mac(sendout_id, contact_id))


def optout_url(token: str) -> str:
    return settings.SMS_SHORT_LINK_BASE_URL.rstrip("/") + OPTOUT_PATH + token


@dataclass(frozen=True, slots=True)
class Optout:
    """How a sendout's messages carry their opt-out: ``suffix(contact_id, code)``
    (``code``: the contact's opt-out code) is appended to each text; ``chars``
    is its length (the same for everyone)."""

    style: str  # "link", "reply" or "" (none: a service message)
    suffix: Callable[[int, str], str]
    chars: int


def _no_suffix(contact_id: int, code: str = "") -> str:
    return ""


NO_OPTOUT = Optout("", _no_suffix, 0)


def optout_for(
    *,
    sms_settings: SmsSettings,
    sender: str,
    purpose: str,
    sendout_id: int = PREVIEW_SENDOUT_ID,
    style: str | None = None,
) -> Optout:
    """The opt-out of a sendout (``sendout_id``; a preview's when left out).
    ``style`` ("link", "reply" or "") keeps the one a sendout was confirmed with
    (its record's), whatever the settings say since."""
    if style is None:
        style = ""
        if purpose == Purpose.MARKETING and settings.SMS_OPTOUT_IN_TEXT:
            by_reply = sms_settings.optout_by_reply and sender == OPERATOR_SENDER
            style = "reply" if by_reply else "link"
    if not style:
        return NO_OPTOUT
    if style == "reply":
        text = "\n" + settings.SMS_OPTOUT_REPLY_TEXT
        return Optout("reply", lambda contact_id, code="": text, len(text))
    optout_ids_or_refuse(sendout_id=sendout_id)
    head = "\n" + settings.SMS_OPTOUT_LINK_TEXT + " " + optout_url("")

    def suffix(contact_id: int, code: str = "") -> str:
        return head + optout_token(sendout_id=sendout_id, contact_id=contact_id, code=code)

    return Optout("link", suffix, len(head) + TOKEN_LENGTH)


@dataclass(frozen=True, slots=True)
class OptoutResult:
    organisation_name: str
    number: str  # E.164
    language: str  # the contact's, "" when unknown
    listed: bool  # the number is on the organisation's suppression list


def _message_of(token: str) -> OutboundMessage | None:
    parsed = optout_token_parse(token)
    if parsed is None:
        return None
    sendout_id, contact_id, secret = parsed
    message = (
        OutboundMessage.objects.filter(sendout_id=sendout_id, contact_id=contact_id)
        .exclude(to="")
        .select_related("sendout__organisation", "contact")
        .first()
    )
    if message is None:
        return None
    code = message.contact.optout_code if message.contact else ""
    if not optout_token_secret_matches(
        secret, sendout_id=sendout_id, contact_id=contact_id, code=code
    ):
        return None
    return message


def _result(message: OutboundMessage, *, listed: bool) -> OptoutResult:
    language = message.contact.language if message.contact else ""
    return OptoutResult(message.sendout.organisation.name, message.to, language, listed)


def optout_find(*, token: str) -> OptoutResult | None:
    """What the page of a token shows before the person confirms (writes nothing):
    the organisation, the number, and whether it is already listed; None for a
    token that names no message."""
    message = _message_of(token)
    if message is None:
        return None
    listed = SuppressedNumber.objects.filter(
        organisation_id=message.sendout.organisation_id, number=message.to
    ).exists()
    return _result(message, listed=listed)


@transaction.atomic
def optout_by_token(*, token: str) -> OptoutResult | None:
    """Opt out the number a marketing message with this token went to: on the
    organisation's suppression list (``number_suppress``, source "user") and the
    contact's flag. Idempotent; None for a token that names no message (nothing
    written, nothing revealed)."""
    message = _message_of(token)
    if message is None:
        return None
    number_suppress(
        organisation=message.sendout.organisation,
        number=message.to,
        source=SuppressionSource.USER,
        sender=message.sendout.sender,
    )
    if message.contact_id is not None:
        contacts_opt_out_set(
            contacts=Contact.objects.filter(pk=message.contact_id),
            opted_out=True,
            source=OptOutSource.SMS_LINK,
        )
    return _result(message, listed=True)

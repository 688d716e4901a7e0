"""Links in a message: which URLs a text holds, and the short codes that stand
for them per recipient. Pure: no database access, no settings (the key is passed
in), so that the same rules can be compiled into SQL later (#21).

**What is a URL.** Text that starts with ``http://``, ``https://`` or ``www.``
and runs to the next white space, less trailing punctuation (``.,;:!?'"`` and a
closing bracket that opens nowhere inside the URL): "Katso https://x.fi/a." links
``https://x.fi/a``; "(www.x.fi/b)" links ``www.x.fi/b``; a URL with a bracket of
its own ("https://fi.wikipedia.org/wiki/Sauna_(rakennus)") keeps it. Domains may
be non-ASCII (``https://kauppa.äö.fi``). A bare domain ("x.fi") is not a link: a
text like "klo 10.30" must never be rewritten. ``modal.js`` holds the same rule
for the live counter, and a test pins both to the same cases.

**The code.** A recipient's short link is ``<base>/l/<code>``, with ``code``
``CODE_LENGTH`` (11) characters of base 62: the sendout's id (27 bits), the
contact's id (32 bits) and the link's place in the message (5 bits) packed into
64 bits and encrypted with a keyed permutation (a four-round Feistel network
whose round function is SHA-256 of a secret key, the round and the half). So the
code is derived, never stored (rendering 100,000 recipients writes no row per
recipient and makes no round trip), every code has the same length (the preview
counts it exactly), it carries nothing readable (no id shows), and a guessed code
names an existing recipient's link with a probability of (links sent) / 2**64.
Each round is one SHA-256 of fixed-length bytes: PostgreSQL's own ``sha256()``
computes the same code inside an ``INSERT ... SELECT`` (``sms.sqlcodes``).

**Ids past the bits.** A sendout id past ``MAX_SENDOUT_ID`` or a contact id past
``MAX_CONTACT_ID`` has no code: ``CodeRangeError`` (a ``DomainError``, 409), so
that the sendout is refused with a message and its transaction writes nothing,
never a 500 nor a code that reads back as another recipient's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.utils.translation import gettext

from core.errors import DomainError

CODE_LENGTH = 11
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SENDOUT_BITS, CONTACT_BITS, INDEX_BITS = 27, 32, 5
MAX_LINKS = 1 << INDEX_BITS
"""Links tracked in one message; a further URL goes out as written."""
MAX_SENDOUT_ID = (1 << SENDOUT_BITS) - 1
MAX_CONTACT_ID = (1 << CONTACT_BITS) - 1
_ROUNDS = 4
_HALF = 0xFFFFFFFF

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
_BARE = re.compile(r"https?://|www\.", re.IGNORECASE)
_TRAILING = ".,;:!?'\"\u00bb\u201d\u2019"  # and closing quotes
_PAIRS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True, slots=True)
class Url:
    start: int
    end: int
    text: str

    @property
    def target(self) -> str:
        """Where a click goes: the URL itself, ``https://`` before a ``www.`` one."""
        if self.text[:4].lower() == "www.":
            return "https://" + self.text
        return self.text


def _trim(text: str) -> str:
    while text:
        last = text[-1]
        unopened = last in _PAIRS and text.count(_PAIRS[last]) < text.count(last)
        if last in _TRAILING or unopened:
            text = text[:-1]
        else:
            break
    return text


def find_urls(text: str) -> list[Url]:
    """The URLs in ``text``, in order (see the module's rule)."""
    found = []
    for match in _URL.finditer(text):
        url = _trim(match.group())
        # "https://" alone, or "www." with nothing after it, is no link.
        if not _BARE.fullmatch(url):
            found.append(Url(match.start(), match.start() + len(url), url))
    return found


class CodeRangeError(DomainError, ValueError):
    """An id past what a short link's code or an opt-out token can carry. The
    sendout it concerns cannot be made (409, nothing written); a ``ValueError``
    as well, as before, to code that computes codes."""

    status_code = 409

    def __init__(self) -> None:
        super().__init__(
            "ids_beyond_codes",
            gettext(
                "This sendout cannot be made: its links and opt-out links have run out of "
                "codes. Please contact support."
            ),
        )


def link_ids_or_refuse(*, sendout_id: int, contact_id: int = 0) -> None:
    """Raise ``CodeRangeError`` unless both ids fit in a short link's code."""
    if not (0 <= sendout_id <= MAX_SENDOUT_ID and 0 <= contact_id <= MAX_CONTACT_ID):
        raise CodeRangeError()


def link_key(key: str) -> bytes:
    """The Feistel network's key (32 bytes) derived from the secret ``key``: what
    the database's ``sms_link_code`` is given instead of the secret."""
    return hashlib.sha256(key.encode() + b"/sms-short-links").digest()


def _round(key: bytes, number: int, half: int) -> int:
    digest = hashlib.sha256(key + bytes([number]) + half.to_bytes(4, "big")).digest()
    return int.from_bytes(digest[:4], "big")


def _permute(value: int, key: bytes) -> int:
    left, right = value >> 32, value & _HALF
    for number in range(_ROUNDS):
        left, right = right, left ^ _round(key, number, right)
    return (left << 32) | right


def _unpermute(value: int, key: bytes) -> int:
    left, right = value >> 32, value & _HALF
    for number in reversed(range(_ROUNDS)):
        left, right = right ^ _round(key, number, left), left
    return (left << 32) | right


def _encode(number: int) -> str:
    digits = []
    for _ in range(CODE_LENGTH):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


_DIGIT = {char: value for value, char in enumerate(ALPHABET)}


def link_code(*, key: str, sendout_id: int, contact_id: int, index: int) -> str:
    """The short code of link ``index`` of the message to ``contact_id`` in
    ``sendout_id``. Raises ``CodeRangeError`` for an id beyond its bits."""
    link_ids_or_refuse(sendout_id=sendout_id, contact_id=contact_id)
    if not 0 <= index < MAX_LINKS:
        raise ValueError("link index out of range")
    packed = (sendout_id << (CONTACT_BITS + INDEX_BITS)) | (contact_id << INDEX_BITS) | index
    return _encode(_permute(packed, link_key(key)))


def link_coder(*, key: str, sendout_id: int):
    """``link_code`` for one sendout, with the key's parts computed once: a
    function ``(contact_id, index) -> code`` for the rendering loop (the same
    codes as ``link_code``, which a test pins). Raises ``CodeRangeError`` for
    an id beyond its bits: the sendout's at once, a contact's at its code."""
    link_ids_or_refuse(sendout_id=sendout_id)
    key_bytes = link_key(key)
    prefixes = [key_bytes + bytes([number]) for number in range(_ROUNDS)]
    high = sendout_id << (CONTACT_BITS + INDEX_BITS)
    sha256, from_bytes, alphabet = hashlib.sha256, int.from_bytes, ALPHABET

    def code(contact_id: int, index: int) -> str:
        if not 0 <= contact_id <= MAX_CONTACT_ID:
            raise CodeRangeError()
        value = high | (contact_id << INDEX_BITS) | index
        left, right = value >> 32, value & _HALF
        for prefix in prefixes:
            digest = sha256(prefix + right.to_bytes(4, "big")).digest()
            left, right = right, left ^ from_bytes(digest[:4], "big")
        number = (left << 32) | right
        digits = []
        for _ in range(CODE_LENGTH):
            number, digit = divmod(number, 62)
            digits.append(alphabet[digit])
        return "".join(reversed(digits))

    return code


def link_code_read(*, key: str, code: str) -> tuple[int, int, int] | None:
    """The (sendout id, contact id, index) of ``code``, or None when it is not
    one of ours in form (the caller still has to find the recipient)."""
    if len(code) != CODE_LENGTH:
        return None
    number = 0
    for char in code:
        digit = _DIGIT.get(char)
        if digit is None:
            return None
        number = number * 62 + digit
    if number >> 64:
        return None
    packed = _unpermute(number, link_key(key))
    index = packed & (MAX_LINKS - 1)
    contact_id = (packed >> INDEX_BITS) & MAX_CONTACT_ID
    sendout_id = packed >> (CONTACT_BITS + INDEX_BITS)
    return sendout_id, contact_id, index

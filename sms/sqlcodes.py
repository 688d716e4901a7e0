"""The per-recipient codes of a text computed by the database (#21): Django ORM
expressions for a short link's code and an opt-out token, so that rendering
every recipient of a sendout is one ``INSERT ... SELECT`` with no Python round
trip per row.

The Python functions stay the oracle and the decoders
(``sms.rules.links.link_code``, ``sms.optout.optout_token``); these give the
same strings byte for byte, which tests/sms/test_sqlcodes.py pins on both
databases:

- on PostgreSQL, the functions ``sms_link_code`` and ``sms_optout_token`` of
  migration ``sms/0017_sql_codes`` (PL/pgSQL on the core ``sha256``);
- on SQLite, Python functions of the same names that ``sms.apps`` registers on
  each connection (``sqlite_functions_register``), calling the oracle.

The secret is a query parameter, read from settings.SECRET_KEY when the query
is compiled (a rotated key needs no migration). PostgreSQL is given keys derived
from it (the Feistel key, the HMAC pads), never SECRET_KEY itself.

An id past a code's range (``CodeRangeError``) is the caller's to refuse before
the query: ``code_ids_or_refuse`` with the largest contact id. The database
would raise a DataError (PostgreSQL's SQLSTATE 22003, or the SQLite function's
exception) rather than write a wrong code.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import NotSupportedError
from django.db.models import BinaryField, Case, Expression, F, Func, TextField, Value, When
from django.db.models.functions import Concat, Length
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThanOrEqual

from sms.links import short_link_prefix
from sms.optout import (
    ALPHABET,
    ID_WIDTH,
    MAX_ID,
    TOKEN_LENGTH,
    Optout,
    optout_ids_or_refuse,
    optout_mac_key,
    optout_token,
)
from sms.rules.links import MAX_LINKS, link_coder, link_ids_or_refuse, link_key

_HMAC_BLOCK = 64  # bytes, SHA-256's


def optout_pads(secret: str) -> tuple[bytes, bytes]:
    """The inner and outer pads of HMAC-SHA256 under the tokens' key (RFC 2104):
    what the database's ``sms_optout_token`` is given instead of the secret."""
    key = optout_mac_key(secret)
    if len(key) > _HMAC_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_HMAC_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


class _KeyedFunc(Func):
    """A database function whose first arguments are keys derived from
    SECRET_KEY at compile time (``_keys``); PostgreSQL and SQLite only."""

    output_field = TextField()

    def _keys(self, vendor: str) -> list[bytes | str]:
        raise NotImplementedError

    def _compile(self, compiler, connection, **extra_context) -> tuple[str, list[Any]]:
        keys = [
            Value(key, output_field=BinaryField() if isinstance(key, bytes) else TextField())
            for key in self._keys(connection.vendor)
        ]
        keyed = self.copy()
        keyed.set_source_expressions([*keys, *self.get_source_expressions()])
        return Func.as_sql(keyed, compiler, connection, **extra_context)

    def as_postgresql(self, compiler, connection, **extra_context):
        return self._compile(compiler, connection, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self._compile(compiler, connection, **extra_context)

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError(f"{self.function} runs on PostgreSQL and SQLite only")


class LinkCode(_KeyedFunc):
    """The short code (text, ``CODE_LENGTH`` characters) of link ``index`` of the
    message to ``contact_id`` in ``sendout_id``: ``link_code`` in SQL. The
    arguments are expressions (``F("id")``, ``Value(3)``, ...)."""

    function = "sms_link_code"
    arity = 3

    def __init__(self, sendout_id: Any, contact_id: Any, index: Any, **extra: Any) -> None:
        super().__init__(sendout_id, contact_id, index, **extra)

    def _keys(self, vendor: str) -> list[bytes | str]:
        if vendor == "postgresql":
            return [link_key(settings.SECRET_KEY)]
        return [settings.SECRET_KEY]


class OptoutToken(_KeyedFunc):
    """The opt-out token (text, ``TOKEN_LENGTH`` characters) of the message to
    ``contact_id`` in ``sendout_id``: ``optout_token`` in SQL."""

    function = "sms_optout_token"
    arity = 2

    def __init__(self, sendout_id: Any, contact_id: Any, **extra: Any) -> None:
        super().__init__(sendout_id, contact_id, **extra)

    def _keys(self, vendor: str) -> list[bytes | str]:
        if vendor == "postgresql":
            return list(optout_pads(settings.SECRET_KEY))
        return [settings.SECRET_KEY]


def short_link(sendout_id: Any, contact_id: Any, index: Any) -> Expression:
    """The whole short link, ``<SMS_SHORT_LINK_BASE_URL>/l/<code>``: what
    ``sms.links.link_for`` answers, as an expression."""
    code = LinkCode(sendout_id, contact_id, index)
    return Concat(Value(short_link_prefix()), code, output_field=TextField())


class Base62(Func):
    """``value`` (a non-negative integer below 62**``width``) in ``width`` base-62
    digits: ``sms.optout``'s id encoding, in SQL on any database."""

    output_field = TextField()
    arity = 1

    def __init__(self, value: Any, *, width: int, **extra: Any) -> None:
        super().__init__(value, **extra)
        self.width = width

    def as_sql(self, compiler, connection, **extra_context):
        value, params = compiler.compile(self.get_source_expressions()[0])
        digits = [
            f"SUBSTR('{ALPHABET}', CAST((({value}) / {62**place}) %% 62 AS INTEGER) + 1, 1)"
            for place in reversed(range(self.width))
        ]
        return "(" + " || ".join(digits) + ")", tuple(params) * self.width


def optout_suffix(
    optout: Optout, *, sendout_id: Any, contact_id: Any, code: Any = None
) -> Expression:
    """What ``optout.suffix(contact_id, code)`` appends to a text, as an
    expression: the link's words and URL with the recipient's token, the reply
    text, or "" (``optout`` from ``sms.optout.optout_for`` for the same
    sendout). ``code``: the contact's opt-out code (``F("optout_code")`` when
    left out); a blank one makes the token's keyed hash in the database."""
    if optout.style != "link":
        return Value(optout.suffix(0, ""), output_field=TextField())
    # The suffix is its head and the token, which has the same length for all.
    head = optout.suffix(0, "")[:-TOKEN_LENGTH]
    code = F("optout_code") if code is None else code
    token = Case(
        # An id past the range goes to sms_optout_token, which raises: the
        # caller refuses it first (``code_ids_or_refuse``), and the database
        # never writes a wrong token.
        When(
            GreaterThan(Length(code), 0)
            & GreaterThanOrEqual(contact_id, 0)
            & LessThanOrEqual(contact_id, MAX_ID),
            then=Concat(
                Base62(sendout_id, width=ID_WIDTH),
                Base62(contact_id, width=ID_WIDTH),
                code,
                output_field=TextField(),
            ),
        ),
        default=OptoutToken(sendout_id, contact_id),
        output_field=TextField(),
    )
    return Concat(Value(head), token, output_field=TextField())


def code_ids_or_refuse(
    *, sendout_id: int, contact_id_max: int | None, links: bool, optout: bool
) -> None:
    """Raise ``CodeRangeError`` (a 409 ``DomainError``) when a sendout's codes
    cannot be made: ``links`` for tracked links, ``optout`` for opt-out tokens,
    ``contact_id_max`` the largest contact id among its recipients (None when
    there are none). Call it before the ``INSERT ... SELECT``."""
    contact_id = contact_id_max or 0
    if links:
        link_ids_or_refuse(sendout_id=sendout_id, contact_id=contact_id)
    if optout:
        optout_ids_or_refuse(sendout_id=sendout_id, contact_id=contact_id)


# --- SQLite: the same functions in Python ------------------------------------------------


@lru_cache(maxsize=32)
def _coder(secret: str, sendout_id: int):
    return link_coder(key=secret, sendout_id=sendout_id)


def _sqlite_link_code(secret, sendout_id, contact_id, index):
    if None in (secret, sendout_id, contact_id, index):
        return None  # STRICT, as on PostgreSQL
    if not 0 <= index < MAX_LINKS:  # the coder's loop leaves this to its caller
        raise ValueError("link index out of range")
    return _coder(secret, sendout_id)(contact_id, index)


def _sqlite_optout_token(secret, sendout_id, contact_id):
    if None in (secret, sendout_id, contact_id):
        return None
    return optout_token(sendout_id=sendout_id, contact_id=contact_id, secret=secret)


def sqlite_functions_register(sender, connection, **kwargs) -> None:
    """``connection_created``: a SQLite connection gets ``sms_link_code`` and
    ``sms_optout_token`` (deterministic, so usable in indexes and constraints)."""
    if connection.vendor == "sqlite":
        raw = connection.connection
        raw.create_function("sms_link_code", 4, _sqlite_link_code, deterministic=True)
        raw.create_function("sms_optout_token", 3, _sqlite_optout_token, deterministic=True)

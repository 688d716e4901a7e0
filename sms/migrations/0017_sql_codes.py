"""The per-recipient codes of a text as PostgreSQL functions (#21), so that an
``INSERT ... SELECT`` renders every recipient's short links and opt-out token
without a Python round trip per row: ``sms_link_code`` is
``sms.rules.links.link_code`` and ``sms_optout_token`` is
``sms.optout.optout_token``, byte for byte (tests/sms/test_sqlcodes.py pins them).

The secret is never written here: each call gets keys derived from SECRET_KEY
as query parameters (``sms.sqlcodes``), so a rotated key needs no migration.
Built on the core ``sha256(bytea)`` (PostgreSQL 11+, no pgcrypto); HMAC-SHA256
from it with the pads computed in Python. Base 62 by integer arithmetic, no loop
(see ``_digits``). An id beyond a code's range raises SQLSTATE 22003
(numeric_value_out_of_range): never a wrong code; callers check the ids first
(``sms.sqlcodes.code_ids_or_refuse``).

On SQLite nothing is created: ``sms.apps`` registers Python functions of the
same names on each connection.
"""

from django.db import migrations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ALPHABET_BYTES = "'\\x" + ALPHABET.encode().hex() + "'::bytea"


def _digits(name: str, width: int) -> str:
    """SQL for ``name`` (a bigint below 62**width, width <= 8) as ``width`` base-62
    digits in a bytea: one ASCII byte per digit (``get_byte`` of the alphabet)
    packed into a bigint by shifts, so a digit costs a few integer operations
    rather than a ``substr`` and a text concatenation."""
    parts = []
    for place in reversed(range(width)):
        value = name if place == 0 else f"{name} / {62**place}"
        if place < width - 1:
            value = f"{value} % 62"
        byte = f"get_byte({_ALPHABET_BYTES}, ({value})::int)::bigint"
        parts.append(f"({byte} << {8 * place})" if place else byte)
    packed = "\n        | ".join(parts)
    return f"substr(int8send({packed}), {9 - width}, {width})"


def _bytes_number(name: str, count: int) -> str:
    """SQL for the first ``count`` bytes of bytea ``name`` as a big-endian bigint
    (signed when ``count`` is 8): ``get_byte`` and shifts, no hex round trip. A
    byte shifted by 24 or more is a bigint first (``get_byte`` gives an integer)."""
    parts = []
    for i in range(count):
        shift = 8 * (count - 1 - i)
        byte = f"get_byte({name}, {i})" + ("::bigint" if shift >= 24 else "")
        parts.append(f"({byte} << {shift})" if shift else byte)
    return "(" + " | ".join(parts) + ")"


# Round n hashes key, n and the 4-byte half: ``int8send(n << 32 | half)`` gives
# both in its last 5 bytes.
def _round(number: int, half: str, other: str, result: str) -> str:
    return (
        f"d := sha256(key || substr(int8send({number << 32} | {half}), 4, 5));\n"
        f"  {result} := {other} # {_bytes_number('d', 4)};"
    )


LINK_CODE = f"""
CREATE FUNCTION sms_link_code(key bytea, sendout_id bigint, contact_id bigint, idx integer)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  -- The packed 64 bits (sendout 27, contact 32, index 5) as two 32-bit halves
  -- l0, r0; round n: (l, r) := (r, l # F(n, r)), so r(n+1) = r(n-1) # F(n, r(n)).
  l0 bigint; r0 bigint; r1 bigint; r2 bigint; r3 bigint; r4 bigint;
  d bytea; y bigint; hi bigint; lo bigint;
BEGIN
  IF sendout_id NOT BETWEEN 0 AND 134217727 OR contact_id NOT BETWEEN 0 AND 4294967295
     OR idx NOT BETWEEN 0 AND 31 THEN
    RAISE EXCEPTION 'id beyond a short link code: %, %, %', sendout_id, contact_id, idx
      USING ERRCODE = 'numeric_value_out_of_range';
  END IF;
  l0 := (sendout_id << 5) | (contact_id >> 27);
  r0 := ((contact_id & 134217727) << 5) | idx;
  {_round(0, "r0", "l0", "r1")}
  {_round(1, "r1", "r0", "r2")}
  {_round(2, "r2", "r1", "r3")}
  {_round(3, "r3", "r2", "r4")}
  -- r3 * 2**32 + r4 (below 2**64, past bigint) = hi * 62**6 + lo, in two steps
  -- of 2**16 that stay within bigint.
  y := ((r3 << 16) % 56800235584) * 65536 + r4;
  hi := ((r3 << 16) / 56800235584) * 65536 + y / 56800235584;
  lo := y % 56800235584;
  RETURN convert_from({_digits("hi", 5)}
    || {_digits("lo", 6)}, 'UTF8');
END
$$;
"""

# The first 8 bytes of the MAC are read as a signed bigint: 2**64 % 62**8 puts
# a negative one right.
_MAC_MOD = 62**8
_WRAP = 2**64 % _MAC_MOD

OPTOUT_TOKEN = f"""
CREATE FUNCTION sms_optout_token(ipad bytea, opad bytea, sendout_id bigint, contact_id bigint)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  d bytea;
  m bigint;
BEGIN
  IF sendout_id NOT BETWEEN 0 AND {62**6 - 1} OR contact_id NOT BETWEEN 0 AND {62**6 - 1} THEN
    RAISE EXCEPTION 'id beyond an opt-out token: %, %', sendout_id, contact_id
      USING ERRCODE = 'numeric_value_out_of_range';
  END IF;
  -- HMAC-SHA256(key, "<sendout id>:<contact id>") with the key's pads given.
  d := sha256(opad || sha256(ipad || convert_to(sendout_id::text || ':' || contact_id::text, 'UTF8')));
  m := {_bytes_number("d", 8)};
  m := (m % {_MAC_MOD} + {_MAC_MOD} + CASE WHEN m < 0 THEN {_WRAP} ELSE 0 END) % {_MAC_MOD};
  RETURN convert_from({_digits("sendout_id", 6)}
    || {_digits("contact_id", 6)}
    || {_digits("m", 8)}, 'UTF8');
END
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS sms_link_code(bytea, bigint, bigint, integer);
DROP FUNCTION IF EXISTS sms_optout_token(bytea, bytea, bigint, bigint);
"""


def _create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(LINK_CODE, params=None)
        schema_editor.execute(OPTOUT_TOKEN, params=None)


def _drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("sms", "0016_test_send_purpose_and_own_number"),
    ]

    operations = [
        migrations.RunPython(_create, _drop, elidable=False),
    ]

"""Recipients decided by the database: a message template compiled to an SQL
expression, and the skip reasons as SQL, the same on PostgreSQL and SQLite.

The tags are a whitelist of columns (``sms.tags.TAGS``), so a rendered message
is an expression: the literal text and each slot's value concatenated, a slot's
value being its column(s) stripped as ``str.strip()`` strips (every Unicode
whitespace character), line endings normalised (``\\r\\n`` and a lone ``\\r``
become ``\\n``), a full name joined with one space, and the fallback for an
empty value (``COALESCE(NULLIF(value, ''), fallback)``). The Python renderer
(``MessageTemplate.row_renderer`` through ``sms.recipients``) is the oracle: a
property test renders random contacts and templates both ways.

``members_decided`` annotates a target group's members with the text, its
length and the skip reason, in the order of ``SkipReason`` exactly as
``sms.recipients._decide`` decides: the contact's opt-out flag, no legal basis
for the purpose, the stored phone problem, the organisation's suppression list
(a subquery), a number surely not a mobile (stored on the contact:
``<field>_not_mobile``), too long, and the duplicate number (a window function:
the lowest contact id not skipped for another reason keeps it). A member whose
number was never normalised (written past ``Contact.save()``) is normalised in
Python and stored first (``phones_store_unnormalised``): those are few.

How a carrier sees a text (GSM-7 or UCS-2, segments) is SQL for a text made only
of the GSM 03.38 default alphabet (one septet per character: the common case),
and ``sms.rules.text.encoding_info`` in Python for the others, once per distinct
text (``carrier_view``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    Case,
    Expression,
    F,
    Func,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, NullIf, Replace
from django.db.models.lookups import Exact

from crm.models import Contact
from crm.phones import normalise_phone
from sms.models import SuppressedNumber
from sms.rules.numbers import SkipReason, validate_phone_field
from sms.rules.purposes import BASES_ALLOWING
from sms.rules.text import GSM7_BASIC, GSM7_SEGMENT, GSM7_SINGLE_SEGMENT, MAX_CHARS
from sms.tags import LinkSlot, MessageTemplate, Slot
from targetgroups.models import TargetGroup
from targetgroups.selectors import target_group_members

WHITESPACE = "".join(chr(c) for c in range(0x10000) if chr(c).isspace())
"""The characters ``str.strip()`` strips (Unicode whitespace, all in the BMP),
for SQL's trim."""

NOT_ONE_SEPTET = "[^" + "".join(f"\\u{ord(c):04x}" for c in sorted(GSM7_BASIC)) + "]"
"""A regular expression (the same for Python's ``re``, which Django's SQLite
``REGEXP`` uses, and PostgreSQL's) matching a character that is not one septet
of the GSM 03.38 default alphabet."""

LinkExpression = Callable[[int], Expression]
"""``index -> expression``: the recipient's short link number ``index`` (the
row's contact id is ``F("id")``)."""


def text_value(value: str) -> Expression:
    """A text literal in SQL."""
    return Cast(Value(value), output_field=TextField())


_text = text_value


class _Strip(Func):
    """``str.strip()`` in SQL: both ends trimmed of every character in the second
    argument (``BTRIM`` on PostgreSQL, ``TRIM`` with characters on SQLite)."""

    function = "BTRIM"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="TRIM", **extra_context)


class _Concat(Func):
    """Text joined with ``||``: every part is already text and never NULL."""

    template = "(%(expressions)s)"
    arg_joiner = " || "
    output_field = TextField()


def _column_text(column: str) -> Expression:
    """A column's text as ``sms.tags._text`` gives it: "" for NULL (an account
    column of a contact without an account), stripped, line endings normalised."""
    value = Coalesce(Cast(F(column), output_field=TextField()), _text(""))
    value = _Strip(value, _text(WHITESPACE))
    value = Replace(value, _text("\r\n"), _text("\n"))
    return Replace(value, _text("\r"), _text("\n"))


def _slot_value(slot: Slot) -> Expression:
    texts = [_column_text(c) for c in slot.tag.columns]
    value = texts[0]
    for text in texts[1:]:
        # " ".join of the non-blank values.
        value = Case(
            When(Exact(value, _text("")), then=text),
            When(Exact(text, _text("")), then=value),
            default=_Concat(value, _text(" "), text),
            output_field=TextField(),
        )
    if slot.fallback is not None:
        value = Coalesce(NullIf(value, _text("")), _text(slot.fallback), output_field=TextField())
    return value


@dataclass
class _Rendered:
    """A template as SQL over the columns of a fenced subquery: each tag's value,
    link and the suffix is a column computed once a row (``columns``), and the
    text (``text``) and the tags' values (``values``) join them with the
    literal text (``params``, in order)."""

    columns: dict[str, Expression]
    text: str
    values: str
    params: list[str]


def _rendered(
    template: MessageTemplate, *, link: LinkExpression | None, suffix: Expression | None
) -> _Rendered:
    """``template`` rendered for a contact row as ``template.row_renderer(positions,
    link)`` renders it, with ``suffix`` (the opt-out) appended. A value used
    twice in the text (its length, whether it is GSM-7) is computed once: the
    caller selects ``columns`` below a fence and the text above it. Without
    ``link`` the template's URLs are as written."""
    if template.links and link is None:
        template = template.untracked()
    columns: dict[str, Expression] = {}
    pieces: list[str] = []
    values: list[str] = []
    params: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            if part:
                pieces.append("CAST(%s AS TEXT)")
                params.append(part)
            continue
        name = f"sr_part{len(columns)}"
        if isinstance(part, LinkSlot):
            columns[name] = link(part.index)  # type: ignore[misc]
        else:
            columns[name] = _slot_value(part)
            values.append(name)
        pieces.append(name)
    if suffix is not None:
        columns["sr_suffix"] = suffix
        pieces.append("sr_suffix")
    return _Rendered(
        columns=columns,
        text=" || ".join(pieces) or "''",
        values=" || ".join(values) or "''",
        params=params,
    )


# --- Skip reasons ---------------------------------------------------------------------


def phones_store_unnormalised(*, members: QuerySet[Contact], phone_field: str) -> int:
    """Normalise and store the phone field of the members whose number was never
    normalised (neither ``_e164`` nor ``_problem`` stored: a row written past
    ``Contact.save()`` and the services), so that SQL can decide on the stored
    columns. Answers how many were stored; usually none, in one query."""
    phone_field = validate_phone_field(phone_field)
    e164, problem = f"{phone_field}_e164", f"{phone_field}_problem"
    rows = list(members.filter(**{e164: "", problem: ""}).order_by().values_list("id", phone_field))
    by_raw: dict[str | None, list[int]] = {}
    for contact_id, raw in rows:
        by_raw.setdefault(raw, []).append(contact_id)
    for raw, ids in by_raw.items():
        phone = normalise_phone(raw)
        Contact.objects.filter(pk__in=ids).update(
            **{
                e164: phone.e164,
                problem: str(phone.problem),
                f"{phone_field}_not_mobile": phone.not_mobile,
            }
        )
    return len(rows)


_TEXTED_REASONS = (SkipReason.TOO_LONG.value, SkipReason.DUPLICATE_NUMBER.value)
"""Skip reasons decided on the rendered text: such a recipient keeps its text."""

COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "legal_basis",
    "sr_to",
    "sr_text",
    "sr_chars",
    "sr_reason",
    "sr_one_septet",
)
"""The columns of ``decided_sql``."""


def decided_sql(
    *,
    target_group: TargetGroup,
    phone_field: str,
    template: MessageTemplate,
    purpose: str,
    link: LinkExpression | None = None,
    suffix: Expression | None = None,
    members: QuerySet[Contact] | None = None,
    all_texts: bool = True,
    codes_one_septet: bool = False,
) -> tuple[str, tuple]:
    """One SELECT (SQL and parameters) of the group's members, one row each, with
    what ``sms.recipients._decide`` decides (``COLUMNS``, in no order):

    - ``sr_to``: the number (E.164), "" when skipped before the number is known
      (opted out by the contact's flag, no legal basis, a phone problem);
    - ``sr_text``, ``sr_chars``: the rendered message (with ``suffix``) and its
      length in code points, for every member (a skipped recipient keeps it only
      for ``too_long`` and ``duplicate_number``: the caller's to blank);
    - ``sr_reason``: the skip reason's value, NULL when sendable;
    - ``sr_one_septet``: whether the text is all GSM 03.38 default alphabet.

    It first stores the numbers of the members never normalised
    (``phones_store_unnormalised``). ``members`` (the group's members by
    default) narrows the rows. Without ``all_texts``, ``sr_text`` is NULL for
    a text all of the GSM 03.38 default alphabet (what a summary needs: narrower
    rows to sort)."""
    phone_field = validate_phone_field(phone_field)
    if members is None:
        members = target_group_members(target_group=target_group)
    phones_store_unnormalised(members=members, phone_field=phone_field)
    e164 = F(f"{phone_field}_e164")
    # Uncorrelated (one hashed lookup), not EXISTS per row: a correlated
    # subquery would keep the rendering out of PostgreSQL's parallel workers.
    suppressed = SuppressedNumber.objects.filter(
        organisation_id=target_group.organisation_id
    ).values("number")
    bases = sorted(BASES_ALLOWING[purpose])
    no_number = Q(**{f"{phone_field}_e164": ""})

    def reason(value: SkipReason) -> Expression:
        return _text(value.value)

    early = Case(
        When(sms_opt_out=True, then=reason(SkipReason.OPTED_OUT)),
        When(~Q(legal_basis__in=bases), then=reason(SkipReason.NO_LEGAL_BASIS)),
        When(
            no_number,
            then=Coalesce(
                NullIf(Cast(F(f"{phone_field}_problem"), TextField()), _text("")),
                reason(SkipReason.MISSING_NUMBER),
            ),
        ),
        When(Q(**{f"{phone_field}_e164__in": suppressed}), then=reason(SkipReason.OPTED_OUT)),
        When(Q(**{f"{phone_field}_not_mobile": True}), then=reason(SkipReason.NOT_MOBILE)),
        default=Value(None, output_field=TextField()),
        output_field=TextField(),
    )
    before_number = Q(sms_opt_out=True) | ~Q(legal_basis__in=bases) | no_number
    # Whether a text is all one-septet characters is asked of the part that varies
    # (the tags' values) when the literal text is (checked here) and the caller
    # vouches for its links and opt-out (``codes_one_septet``): matching the whole
    # text cost more than rendering it.
    rendered = _rendered(template, link=link, suffix=suffix)
    literals = "".join(rendered.params)
    vouched = codes_one_septet and not re.search(NOT_ONE_SEPTET, literals)
    septets = "sr_values" if vouched else "sr_text"
    inner = (
        members.order_by()
        .annotate(
            sr_e164=Cast(e164, TextField()),
            sr_to=Case(
                When(before_number, then=_text("")),
                default=Cast(e164, TextField()),
                output_field=TextField(),
            ),
            sr_early=early,
            **rendered.columns,
        )
        .values(
            "id",
            "first_name",
            "last_name",
            "legal_basis",
            "sr_e164",
            "sr_to",
            "sr_early",
            *rendered.columns,
        )
    )
    inner_sql, params = inner.query.sql_with_params()
    postgresql = connection.vendor == "postgresql"
    regexp = "~" if postgresql else "REGEXP"
    # The window only groups equal numbers: byte order sorts them without the
    # database's collation (strcoll per comparison under fi_FI or en_US).
    binary = ' COLLATE "C"' if postgresql else ""
    # Fences: PostgreSQL would otherwise inline each tag's value into every use
    # of it (the text and the values) and the text into every use of it (its
    # length, the reasons, the window's key), rendering each row several times.
    # A subquery whose select list calls a volatile function is never inlined;
    # clock_timestamp() is a cheap one that is parallel safe, so the rendering
    # below the window runs in PostgreSQL's parallel workers (``OFFSET 0``, the
    # usual fence, kept it in one process: the preview of 1,000,000 members on
    # 2 CPUs took 7.6 s against 4.9 s, bench.scale_bench).
    fence = [f", clock_timestamp() AS sr_fence{n}" if postgresql else "" for n in range(3)]
    # Only the texts a caller reads are carried through the window's sorts.
    text = "sr_text" if all_texts else "CASE WHEN sr_one_septet = 0 THEN sr_text END"
    sql = f"""
        SELECT id, first_name, last_name, legal_basis, sr_to, sr_text, sr_chars,
            CASE WHEN sr_pre IS NOT NULL THEN sr_pre
                WHEN ROW_NUMBER() OVER (
                    PARTITION BY sr_e164{binary}, sr_pre{binary} ORDER BY id
                ) > 1
                THEN '{SkipReason.DUPLICATE_NUMBER.value}'
            END AS sr_reason,
            sr_one_septet
        FROM (
            SELECT id, first_name, last_name, legal_basis, sr_e164, sr_to, {text} AS sr_text,
                sr_chars, sr_pre, sr_one_septet
            FROM (
                SELECT m.*, LENGTH(sr_text) AS sr_chars,
                    CASE WHEN sr_early IS NOT NULL THEN sr_early
                        WHEN LENGTH(sr_text) > {MAX_CHARS} THEN '{SkipReason.TOO_LONG.value}'
                    END AS sr_pre,
                    CASE WHEN {septets} {regexp} %s THEN 0 ELSE 1 END AS sr_one_septet{fence[2]}
                FROM (
                    SELECT r.*, {rendered.text} AS sr_text, {rendered.values} AS sr_values{fence[1]}
                    FROM (SELECT i.*{fence[0]} FROM ({inner_sql}) i) r
                ) m
            ) e
        ) d
    """
    return sql, (NOT_ONE_SEPTET, *rendered.params, *params)


RENDER_WORK_MEM = "128MB"
"""PostgreSQL's ``work_mem`` for the rendering queries: the duplicate-number
window and the INSERT's order each sort every member, and at the default 4 MB a
100,000-member sort spilled 18-22 MB to disk (0.15 s of the Yes). It bounds each
sort of this one transaction, in the database server, not the web process."""


def jit_off(cursor) -> None:
    """Settings of the rendering queries for the rest of the transaction: JIT
    compilation off (the rendering expressions make the planner's cost estimate
    large enough to JIT and optimise them, which took longer, 0.4-0.6 s, than
    running the query at 100,000 members) and ``RENDER_WORK_MEM`` for the sorts.
    Call inside ``transaction.atomic``."""
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(f"SET LOCAL work_mem = '{RENDER_WORK_MEM}'")


SEPTET_SEGMENTS_SQL = (
    "(CASE WHEN {chars} = 0 THEN 0 "
    f"WHEN {{chars}} <= {GSM7_SINGLE_SEGMENT} THEN 1 "
    f"ELSE ({{chars}} + {GSM7_SEGMENT - 1}) / {GSM7_SEGMENT} END)"
)
"""Carrier segments of a text all of the GSM 03.38 default alphabet (one septet
per character) of ``{chars}`` characters: ``encoding_info`` for that case."""

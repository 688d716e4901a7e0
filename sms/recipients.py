"""Recipient resolution: who in a target group gets which text, or why not.

Two ways that must agree (tests/sms/test_sqlrender.py): the database's
(``sms.sqlrender``: ``recipients_summarise`` for a preview,
``recipients_resolve_sql``, and the INSERT of a sendout's messages in
``sms.sendouts.insert``), and Python's below (``recipients_resolve``, the oracle,
also the list behind a preview's "N skipped"). In Python:

Streams plain rows (tuples) from one query, with no model instance and no dict
per contact, and renders each with a template parsed once. Numbers are not
parsed here: a contact stores each phone field normalised (``crm.phones``:
``<field>_e164`` and ``<field>_problem``) when it is written, and the stored
problem strings are the skip reasons' values.

Each recipient gets the first skip reason that applies, in the order of
``SkipReason``; the same number twice in one sendout is texted once, kept by the
contact with the lowest id not skipped for another reason. A number on the
organisation's suppression list (``sms.suppression``) is ``opted_out`` whichever
contact holds it; a number that is surely not a mobile is ``not_mobile``.

A marketing sendout's texts end with their opt-out (``suffix(contact id)``,
from ``sms.optout``), counted in the length, the 480 limit and the billing.

Each sendable recipient's text is also looked at as a carrier sees it
(``sms.rules.text.encoding_info``): its encoding and carrier segments, decided
per recipient because a name with an emoji or a "ç" makes only that text UCS-2.
"""

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Expression

from crm.phones import PhoneProblem
from sms import sqlrender
from sms.checks import FINNISH_PREFIX
from sms.rules.numbers import (
    SkipReason,
    normalise_number,
    surely_not_mobile,
    validate_phone_field,
)
from sms.rules.purposes import BASES_ALLOWING, DEFAULT_PURPOSE
from sms.rules.text import (
    CHARS_PER_MESSAGE,
    GSM7_SEGMENT,
    GSM7_SINGLE_SEGMENT,
    MAX_CHARS,
    billed_messages,
    encoding_info,
)
from sms.suppression import suppressed_numbers
from sms.tags import LinkFor, MessageTemplate
from targetgroups.models import TargetGroup
from targetgroups.selectors import target_group_members

STREAM_CHUNK = 10_000
"""Rows fetched per round trip (a server-side cursor on PostgreSQL)."""
SAMPLE_SIZE = 5

_PROBLEM_REASONS: dict[str, SkipReason] = {p.value: SkipReason(p.value) for p in PhoneProblem}

# Positions in a row: see _columns().
_ID, _FIRST, _LAST, _OPTED_OUT, _E164, _PROBLEM, _RAW, _BASIS, _CODE = range(9)


@dataclass(frozen=True, slots=True)
class Recipient:
    contact_id: int
    name: str
    to: str  # E.164, or "" when the number itself is the problem
    body: str  # rendered text, or "" when it was never rendered
    chars: int
    messages: int  # billed messages; 0 for a skipped recipient
    reason: SkipReason | None
    encoding: str = ""  # "GSM-7" or "UCS-2"; "" for a skipped recipient
    carrier_segments: int = 0  # 0 for a skipped recipient
    legal_basis: str = ""  # the contact's basis when it was resolved (the record)

    @property
    def sendable(self) -> bool:
        return self.reason is None


def _columns(phone_field: str, template: MessageTemplate) -> list[str]:
    fixed = [
        "id",
        "first_name",
        "last_name",
        "sms_opt_out",
        f"{phone_field}_e164",
        f"{phone_field}_problem",
        phone_field,
        "legal_basis",
        "optout_code",
    ]
    return fixed + sorted(template.columns - set(fixed))


# (row, to, body, chars, reason): what the resolution decides about one member.
_Decision = tuple[tuple, str, str, int, SkipReason | None]


def _positions(phone_field: str, template: MessageTemplate) -> dict[str, int]:
    return {name: i for i, name in enumerate(_columns(phone_field, template))}


def _decide(
    *,
    target_group: TargetGroup,
    phone_field: str,
    template: MessageTemplate,
    purpose: str = DEFAULT_PURPOSE,
    suffix: Callable[[int, str], str] | None = None,
    link: LinkFor | None = None,
    first: int | None = None,
) -> Iterator[_Decision]:
    """The decision for every member, in id order (for the ``first`` members
    only, when given). The hot loop of a preview: keep it free of per-row
    function calls beyond rendering and the cached number check."""
    phone_field = validate_phone_field(phone_field)
    names = _columns(phone_field, template)
    positions = _positions(phone_field, template)
    render = template.row_renderer(positions, link)
    members = target_group_members(target_group=target_group).order_by("id").values_list(*names)
    # A LIMIT lets PostgreSQL read the first members by the primary key instead
    # of sorting them all (a cursor's plan expects to read a tenth of the rows).
    rows = (members if first is None else members[:first]).iterator(chunk_size=STREAM_CHUNK)
    problems = _PROBLEM_REASONS
    max_chars = MAX_CHARS
    allowed_bases = BASES_ALLOWING[purpose]
    no_basis = SkipReason.NO_LEGAL_BASIS
    opted_out, not_mobile, too_long, duplicate = (
        SkipReason.OPTED_OUT,
        SkipReason.NOT_MOBILE,
        SkipReason.TOO_LONG,
        SkipReason.DUPLICATE_NUMBER,
    )
    suppressed = suppressed_numbers(organisation_id=target_group.organisation_id)
    fixed_line = surely_not_mobile
    seen: set[str] = set()
    for row in rows:
        if row[_OPTED_OUT]:
            yield row, "", "", 0, opted_out
            continue
        if row[_BASIS] not in allowed_bases:
            yield row, "", "", 0, no_basis
            continue
        to = row[_E164]
        if not to:
            problem = row[_PROBLEM]
            if problem:
                yield row, "", "", 0, problems[problem]
                continue
            # Neither stored: a row written past Contact.save() and the services.
            number = normalise_number(row[_RAW])
            if number.reason is not None:
                yield row, "", "", 0, number.reason
                continue
            to = number.e164
        if to in suppressed:
            yield row, to, "", 0, opted_out
            continue
        if fixed_line(to):
            yield row, to, "", 0, not_mobile
            continue
        body = render(row) if suffix is None else render(row) + suffix(row[_ID], row[_CODE])
        chars = len(body)
        if chars > max_chars:
            yield row, to, body, chars, too_long
        elif to in seen:
            yield row, to, body, chars, duplicate
        else:
            seen.add(to)
            yield row, to, body, chars, None


def _recipient(decision: _Decision) -> Recipient:
    row, to, body, chars, reason = decision
    name = f"{row[_FIRST]} {row[_LAST]}".strip()
    if reason is not None:
        return Recipient(row[_ID], name, to, body, chars, 0, reason, legal_basis=row[_BASIS])
    info = encoding_info(body)
    return Recipient(
        row[_ID],
        name,
        to,
        body,
        chars,
        billed_messages(chars),
        None,
        info.encoding,
        info.carrier_segments,
        row[_BASIS],
    )


def recipients_resolve(
    *,
    target_group: TargetGroup,
    phone_field: str,
    template: MessageTemplate,
    purpose: str = DEFAULT_PURPOSE,
    suffix: Callable[[int, str], str] | None = None,
    link: LinkFor | None = None,
) -> Iterator[Recipient]:
    """Every member of the group in id order, sendable or with its skip reason;
    with ``link``, the template's tracked URLs are each recipient's short links."""
    for decision in _decide(
        target_group=target_group,
        phone_field=phone_field,
        template=template,
        purpose=purpose,
        suffix=suffix,
        link=link,
    ):
        yield _recipient(decision)


UNICODE_CHARS_SHOWN = 20
"""At most this many distinct characters that force UCS-2 are named in a preview."""


@dataclass
class RecipientSummary:
    total: int = 0
    sendable: int = 0
    messages: int = 0
    skipped: Counter = field(default_factory=Counter)
    samples: list[Recipient] = field(default_factory=list)
    ucs2: int = 0  # sendable recipients whose text is UCS-2
    carrier_segments: int = 0  # the most carrier segments of one recipient's text
    most_chars: int = 0  # the longest sendable text, in characters
    finnish: int = 0  # sendable recipients with a Finnish number (+358)
    unicode_chars: tuple[str, ...] = ()  # characters that force UCS-2, first seen first


def recipients_summarise_python(
    *,
    target_group: TargetGroup,
    phone_field: str,
    template: MessageTemplate,
    purpose: str = DEFAULT_PURPOSE,
    suffix: Callable[[int, str], str] | None = None,
    link: LinkFor | None = None,
) -> RecipientSummary:
    """``recipients_summarise`` by rendering every member in Python (the oracle
    of the SQL one, and what it replaced)."""
    summary = RecipientSummary()
    skipped: Counter = Counter()
    total = sendable = messages = ucs2 = most_segments = most_chars = finnish = 0
    unicode_chars: dict[str, None] = {}
    samples: list[Recipient] = []
    carrier_view, per_message = encoding_info, CHARS_PER_MESSAGE
    for decision in _decide(
        target_group=target_group,
        phone_field=phone_field,
        template=template,
        purpose=purpose,
        suffix=suffix,
        link=link,
    ):
        total += 1
        reason = decision[4]
        if reason is not None:
            skipped[reason] += 1
            continue
        chars = decision[3]
        sendable += 1
        if decision[1].startswith("+358"):
            finnish += 1
        if chars > most_chars:
            most_chars = chars
        messages += -(-chars // per_message)  # billed_messages, inlined: hot loop
        info = carrier_view(decision[2])
        if info.carrier_segments > most_segments:
            most_segments = info.carrier_segments
        if info.unicode_chars:
            ucs2 += 1
            if len(unicode_chars) < UNICODE_CHARS_SHOWN:
                unicode_chars.update(dict.fromkeys(info.unicode_chars))
        if len(samples) < SAMPLE_SIZE:
            samples.append(_recipient(decision))
    summary.total, summary.sendable, summary.messages = total, sendable, messages
    summary.skipped = skipped
    summary.samples = samples
    summary.ucs2, summary.carrier_segments = ucs2, most_segments
    summary.most_chars = most_chars
    summary.finnish = finnish
    summary.unicode_chars = tuple(unicode_chars)[:UNICODE_CHARS_SHOWN]
    return summary


def member_text(
    *,
    target_group: TargetGroup,
    phone_field: str,
    template: MessageTemplate,
    contact_id: int,
    suffix: Callable[[int, str], str] | None = None,
    link: LinkFor | None = None,
) -> tuple[str, str] | None:
    """The text ``template`` renders for one member of the group (with the
    opt-out ``suffix`` a sendout adds), and the member's name: what a test
    message shows. None when ``contact_id`` is not a member. The member's own
    number, opt-out and legal basis do not matter here: a test goes to the user."""
    names = _columns(validate_phone_field(phone_field), template)
    row = (
        target_group_members(target_group=target_group)
        .filter(pk=contact_id)
        .values_list(*names)
        .first()
    )
    if row is None:
        return None
    render = template.row_renderer(_positions(phone_field, template), link)
    text = render(row) if suffix is None else render(row) + suffix(row[_ID], row[_CODE])
    return f"{row[_FIRST]} {row[_LAST]}".strip(), text


def _summary_link_and_suffix(
    link: LinkFor | None, suffix: Callable[[int, str], str] | None
) -> tuple[sqlrender.LinkExpression | None, Expression | None]:
    """The SQL of a summary's short links and opt-out: ``link(0, index)`` and
    ``suffix(0, "")`` stand for every recipient's, which have the same length and
    alphabet (base 62), so lengths, billing and carrier figures are exact."""
    link_sql = None
    if link is not None:
        examples = {}

        def link_sql(index: int) -> Expression:
            if index not in examples:
                examples[index] = sqlrender.text_value(link(0, index))
            return examples[index]

    suffix_sql = None if suffix is None else sqlrender.text_value(suffix(0, ""))
    return link_sql, suffix_sql


def recipients_summarise(
    *,
    target_group: TargetGroup,
    phone_field: str,
    template: MessageTemplate,
    purpose: str = DEFAULT_PURPOSE,
    suffix: Callable[[int, str], str] | None = None,
    link: LinkFor | None = None,
) -> RecipientSummary:
    """What a preview shows: counts by outcome, messages billed, the first
    ``SAMPLE_SIZE`` sendable recipients, and as carriers see the texts: how many
    are UCS-2, the most segments of one, and the characters that force UCS-2.

    One SQL query (``sms.sqlrender``) groups the members by skip reason and
    answers the figures; texts not all of the GSM 03.38 default alphabet come
    back once per distinct text for ``encoding_info``, and the samples are
    decided and rendered in Python from the first members (``_first_sendable``).
    The same numbers as adding up ``recipients_resolve`` (which tests pin, and
    a property test pins the SQL to the Python renderer).
    ``suffix`` and ``link`` must answer the same length for every contact (as
    ``sms.optout`` and ``sms.links`` do)."""
    members = target_group_members(target_group=target_group)
    link_sql, suffix_sql = _summary_link_and_suffix(link, suffix)
    decided, params = sqlrender.decided_sql(
        target_group=target_group,
        phone_field=phone_field,
        template=template,
        purpose=purpose,
        link=link_sql,
        suffix=suffix_sql,
        members=members,
        all_texts=False,
        codes_one_septet=_one_septet(link, suffix, template),
    )
    wide = "CASE WHEN sr_reason IS NULL AND sr_one_septet = 0 THEN sr_text END"
    figures = f"""
            COUNT(*),
            SUM(({CHARS_PER_MESSAGE - 1} + sr_chars) / {CHARS_PER_MESSAGE}),
            MAX(sr_chars),
            SUM(CASE WHEN SUBSTR(sr_to, 1, {len(FINNISH_PREFIX)}) = %s THEN 1 ELSE 0 END),
            MAX(CASE WHEN sr_one_septet = 1 THEN sr_chars ELSE 0 END),
            MIN(id)"""
    # The samples are not picked here: an aggregate of each group's first ids
    # sorted every sendable id (a sixth of the query at 1,000,000 members).
    sql = f"""
        SELECT sr_reason, {wide}, {figures}
        FROM ({decided}) q
        GROUP BY 1, 2
    """
    with transaction.atomic(), connection.cursor() as cursor:
        sqlrender.jit_off(cursor)
        cursor.execute(sql, (FINNISH_PREFIX, *params))
        groups = cursor.fetchall()
    summary = RecipientSummary()
    skipped: Counter = Counter()
    wide_texts = []
    most_septets = 0
    for reason, wide_text, count, billed, most, finnish, septets, first_id in groups:
        summary.total += count
        if reason is not None:
            skipped[SkipReason(reason)] += count
            continue
        summary.sendable += count
        summary.messages += billed
        summary.most_chars = max(summary.most_chars, most)
        summary.finnish += finnish
        most_septets = max(most_septets, septets)
        if wide_text is not None:
            wide_texts.append((first_id, wide_text, count))
    summary.skipped = skipped
    segments = septet_segments(most_septets)
    unicode_chars: dict[str, None] = {}
    for _first, text, count in sorted(wide_texts):
        info = encoding_info(text)
        segments = max(segments, info.carrier_segments)
        if info.unicode_chars:
            summary.ucs2 += count
            if len(unicode_chars) < UNICODE_CHARS_SHOWN:
                unicode_chars.update(dict.fromkeys(info.unicode_chars))
    summary.carrier_segments = segments
    summary.unicode_chars = tuple(unicode_chars)[:UNICODE_CHARS_SHOWN]
    if summary.sendable:
        summary.samples = _first_sendable(
            target_group=target_group,
            phone_field=phone_field,
            template=template,
            purpose=purpose,
            suffix=suffix,
            link=link,
        )
        if len(summary.samples) < min(SAMPLE_SIZE, summary.sendable):
            summary.samples = _samples(
                members=members,
                ids=_sample_ids_sql(decided=decided, params=params),
                phone_field=phone_field,
                template=template,
                suffix=suffix,
                link=link,
            )
    return summary


def _one_septet(
    link: LinkFor | None, suffix: Callable[[int, str], str] | None, template: MessageTemplate
) -> bool:
    """Whether a summary's links and opt-out (the same text for every recipient
    there) are all one-septet characters."""
    texts = [] if suffix is None else [suffix(0, "")]
    if link is not None:
        texts += [link(0, slot.index) for slot in template.links]
    return not re.search(sqlrender.NOT_ONE_SEPTET, "".join(texts))


def septet_segments(chars: int) -> int:
    """Carrier segments of a text of ``chars`` characters all of the GSM 03.38
    default alphabet (``encoding_info`` of such a text)."""
    if chars <= GSM7_SINGLE_SEGMENT:
        return 1 if chars else 0
    return -(-chars // GSM7_SEGMENT)


SAMPLE_SCAN = 2 * STREAM_CHUNK
"""Members a preview reads in Python, at most, for its samples."""


def _first_sendable(
    *,
    target_group: TargetGroup,
    phone_field: str,
    template: MessageTemplate,
    purpose: str,
    suffix: Callable[[int, str], str] | None,
    link: LinkFor | None,
) -> list[Recipient]:
    """The first ``SAMPLE_SIZE`` sendable recipients among the first
    ``SAMPLE_SCAN`` members, decided in Python: the decision of a member depends
    only on the members before it (a duplicate number is the later one), so the
    first ones are decided without the rest."""
    samples: list[Recipient] = []
    decisions = _decide(
        target_group=target_group,
        phone_field=phone_field,
        template=template,
        purpose=purpose,
        suffix=suffix,
        link=link,
        first=SAMPLE_SCAN,
    )
    for decision in decisions:
        if decision[4] is None:
            samples.append(_recipient(decision))
            if len(samples) == SAMPLE_SIZE:
                break
    return samples


def _sample_ids_sql(*, decided: str, params: tuple) -> list[int]:
    """The ids of the first ``SAMPLE_SIZE`` sendable recipients decided by SQL
    (``decided``, ``params``): when they are not among the first ``SAMPLE_SCAN``
    members."""
    sql = f"SELECT id FROM ({decided}) q WHERE sr_reason IS NULL ORDER BY id LIMIT {SAMPLE_SIZE}"
    with transaction.atomic(), connection.cursor() as cursor:
        sqlrender.jit_off(cursor)
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _samples(
    *,
    members,
    ids: list[int],
    phone_field: str,
    template: MessageTemplate,
    suffix: Callable[[int, str], str] | None,
    link: LinkFor | None,
) -> list[Recipient]:
    """The sendable recipients ``ids`` (decided by SQL) rendered in Python."""
    if not ids:
        return []
    phone_field = validate_phone_field(phone_field)
    names = _columns(phone_field, template)
    render = template.row_renderer(_positions(phone_field, template), link)
    rows = members.filter(pk__in=ids).order_by("id").values_list(*names)
    samples = []
    for row in rows:
        body = render(row) if suffix is None else render(row) + suffix(row[_ID], row[_CODE])
        samples.append(_recipient((row, row[_E164], body, len(body), None)))
    return samples


def recipients_resolve_sql(
    *,
    target_group: TargetGroup,
    phone_field: str,
    template: MessageTemplate,
    purpose: str = DEFAULT_PURPOSE,
    suffix: Expression | None = None,
    link: sqlrender.LinkExpression | None = None,
    members=None,
) -> list[Recipient]:
    """``recipients_resolve`` decided by SQL (``sms.sqlrender``), as a list in id
    order: what the INSERT of a sendout's messages writes, one ``Recipient`` per
    member. ``suffix`` and ``link`` are SQL expressions of the row. Billing and
    the segments of a text all of the GSM 03.38 default alphabet come from SQL,
    ``encoding_info`` of any other text from Python."""
    decided, params = sqlrender.decided_sql(
        target_group=target_group,
        phone_field=phone_field,
        template=template,
        purpose=purpose,
        link=link,
        suffix=suffix,
        members=members,
    )
    texted = (SkipReason.TOO_LONG, SkipReason.DUPLICATE_NUMBER)
    sql = f"""
        SELECT id, first_name, last_name, legal_basis, sr_to, sr_text, sr_chars, sr_reason,
            sr_one_septet, ({CHARS_PER_MESSAGE - 1} + sr_chars) / {CHARS_PER_MESSAGE},
            {sqlrender.SEPTET_SEGMENTS_SQL.format(chars="sr_chars")}
        FROM ({decided}) q ORDER BY id
    """
    recipients = []
    with transaction.atomic(), connection.cursor() as cursor:
        sqlrender.jit_off(cursor)
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            contact_id, first, last, basis, to, text, chars, reason, septets, billed, segs = row
            name = f"{first} {last}".strip()
            if reason is not None:
                reason = SkipReason(reason)
                if reason not in texted:
                    text, chars = "", 0
                recipients.append(
                    Recipient(contact_id, name, to, text, chars, 0, reason, legal_basis=basis)
                )
                continue
            if septets:
                encoding = "GSM-7"
            else:
                info = encoding_info(text)
                encoding, segs = info.encoding, info.carrier_segments
            recipients.append(
                Recipient(contact_id, name, to, text, chars, billed, None, encoding, segs, basis)
            )
    return recipients

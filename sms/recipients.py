"""Recipient resolution: who in a target group gets which text, or why not.

Streams plain rows (tuples) from one query, with no model instance and no dict
per contact, and renders each with a template parsed once. Numbers are not
parsed here: a contact stores each phone field normalised (``crm.phones``:
``<field>_e164`` and ``<field>_problem``) when it is written, and the stored
problem strings are the skip reasons' values.

Each recipient gets the first skip reason that applies, in the order of
``SkipReason``; the same number twice in one sendout is texted once, kept by the
contact with the lowest id not skipped for another reason.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from crm.phones import PhoneProblem
from sms.rules.numbers import SkipReason, normalise_number, validate_phone_field
from sms.rules.text import CHARS_PER_MESSAGE, MAX_CHARS, billed_messages
from sms.tags import MessageTemplate
from targetgroups.models import TargetGroup
from targetgroups.selectors import target_group_members

STREAM_CHUNK = 10_000
"""Rows fetched per round trip (a server-side cursor on PostgreSQL)."""
SAMPLE_SIZE = 5

_PROBLEM_REASONS: dict[str, SkipReason] = {p.value: SkipReason(p.value) for p in PhoneProblem}

# Positions in a row: see _columns().
_ID, _FIRST, _LAST, _OPTED_OUT, _E164, _PROBLEM, _RAW = range(7)


@dataclass(frozen=True, slots=True)
class Recipient:
    contact_id: int
    name: str
    to: str  # E.164, or "" when the number itself is the problem
    body: str  # rendered text, or "" when it was never rendered
    chars: int
    messages: int  # billed messages; 0 for a skipped recipient
    reason: SkipReason | None

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
    bodies: bool = True,
) -> Iterator[_Decision]:
    """The decision for every member, in id order. The hot loop of a preview:
    keep it free of per-row function calls beyond rendering. Without ``bodies``
    only the length of each text is computed (its body is "")."""
    phone_field = validate_phone_field(phone_field)
    names = _columns(phone_field, template)
    positions = _positions(phone_field, template)
    render = template.row_renderer(positions)
    length = template.row_length(positions)
    rows = (
        target_group_members(target_group=target_group)
        .order_by("id")
        .values_list(*names)
        .iterator(chunk_size=STREAM_CHUNK)
    )
    problems = _PROBLEM_REASONS
    max_chars = MAX_CHARS
    opted_out, too_long, duplicate = (
        SkipReason.OPTED_OUT,
        SkipReason.TOO_LONG,
        SkipReason.DUPLICATE_NUMBER,
    )
    seen: set[str] = set()
    for row in rows:
        if row[_OPTED_OUT]:
            yield row, "", "", 0, opted_out
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
        if bodies:
            body = render(row)
            chars = len(body)
        else:
            body, chars = "", length(row)
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
    messages = billed_messages(chars) if reason is None else 0
    return Recipient(row[_ID], name, to, body, chars, messages, reason)


def recipients_resolve(
    *, target_group: TargetGroup, phone_field: str, template: MessageTemplate
) -> Iterator[Recipient]:
    """Every member of the group in id order, sendable or with its skip reason."""
    for decision in _decide(target_group=target_group, phone_field=phone_field, template=template):
        yield _recipient(decision)


@dataclass
class RecipientSummary:
    total: int = 0
    sendable: int = 0
    messages: int = 0
    skipped: Counter = field(default_factory=Counter)
    samples: list[Recipient] = field(default_factory=list)
    longest: Recipient | None = None


def recipients_summarise(
    *, target_group: TargetGroup, phone_field: str, template: MessageTemplate
) -> RecipientSummary:
    """What a preview shows: counts by outcome, messages billed, the first
    ``SAMPLE_SIZE`` sendable recipients and the longest text. Builds a
    ``Recipient`` only for those (the same numbers as adding up
    ``recipients_resolve``, which a test pins)."""
    summary = RecipientSummary()
    skipped: Counter = Counter()
    total = sendable = messages = longest_chars = 0
    longest: _Decision | None = None
    per_message = CHARS_PER_MESSAGE
    samples: list[_Decision] = []
    for decision in _decide(
        target_group=target_group, phone_field=phone_field, template=template, bodies=False
    ):
        total += 1
        reason = decision[4]
        if reason is not None:
            skipped[reason] += 1
            continue
        chars = decision[3]
        sendable += 1
        messages += -(-chars // per_message)  # billed_messages, inlined: hot loop
        if chars > longest_chars or longest is None:
            longest, longest_chars = decision, chars
        if len(samples) < SAMPLE_SIZE:
            samples.append(decision)
    summary.total, summary.sendable, summary.messages = total, sendable, messages
    summary.skipped = skipped
    # Only these few are rendered.
    render = template.row_renderer(_positions(validate_phone_field(phone_field), template))

    def rendered(decision: _Decision) -> Recipient:
        row, to, _body, chars, reason = decision
        return _recipient((row, to, render(row), chars, reason))

    summary.samples = [rendered(d) for d in samples]
    summary.longest = rendered(longest) if longest is not None else None
    return summary

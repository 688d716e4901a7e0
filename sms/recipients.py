"""Recipient resolution: who in a target group gets which text, or why not.

Streams plain rows from one query (no model instance per contact) and renders
with a template parsed once. Each recipient gets the first skip reason that
applies, in the order of ``SkipReason``; the same number twice in one sendout is
texted once, kept by the contact with the lowest id not skipped for another reason.
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from sms import rules
from sms.rules import SkipReason
from sms.tags import MessageTemplate
from targetgroups.models import TargetGroup
from targetgroups.selectors import target_group_members

STREAM_CHUNK = 5000
SAMPLE_SIZE = 5


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


def recipients_resolve(
    *, target_group: TargetGroup, phone_field: str, template: MessageTemplate
) -> Iterator[Recipient]:
    """Every member of the group in id order, sendable or with its skip reason."""
    phone_field = rules.validate_phone_field(phone_field)
    columns = sorted(template.columns - {"first_name", "last_name", "sms_opt_out", phone_field})
    names = ["id", "first_name", "last_name", "sms_opt_out", phone_field, *columns]
    rows = (
        target_group_members(target_group=target_group)
        .order_by("id")
        .values_list(*names)
        .iterator(chunk_size=STREAM_CHUNK)
    )
    seen_numbers: set[str] = set()
    render = template.render
    for row in rows:
        values = dict(zip(names, row, strict=True))
        contact_id = row[0]
        name = f"{row[1]} {row[2]}".strip()
        if row[3]:
            yield Recipient(contact_id, name, "", "", 0, 0, SkipReason.OPTED_OUT)
            continue
        number = rules.normalise_number(row[4] or "")
        if number.reason is not None:
            yield Recipient(contact_id, name, "", "", 0, 0, number.reason)
            continue
        body = render(values)
        chars = len(body)
        if chars > rules.MAX_CHARS:
            yield Recipient(contact_id, name, number.e164, body, chars, 0, SkipReason.TOO_LONG)
            continue
        if number.e164 in seen_numbers:
            yield Recipient(
                contact_id, name, number.e164, body, chars, 0, SkipReason.DUPLICATE_NUMBER
            )
            continue
        seen_numbers.add(number.e164)
        yield Recipient(
            contact_id, name, number.e164, body, chars, rules.billed_messages(chars), None
        )


@dataclass
class RecipientSummary:
    total: int = 0
    sendable: int = 0
    messages: int = 0
    skipped: Counter = field(default_factory=Counter)
    samples: list[Recipient] = field(default_factory=list)
    longest: Recipient | None = None

    def add(self, recipient: Recipient) -> None:
        self.total += 1
        if recipient.reason is None:
            self.sendable += 1
            self.messages += recipient.messages
            if len(self.samples) < SAMPLE_SIZE:
                self.samples.append(recipient)
            if self.longest is None or recipient.chars > self.longest.chars:
                self.longest = recipient
        else:
            self.skipped[recipient.reason] += 1


def recipients_summarise(
    *, target_group: TargetGroup, phone_field: str, template: MessageTemplate
) -> RecipientSummary:
    summary = RecipientSummary()
    for recipient in recipients_resolve(
        target_group=target_group, phone_field=phone_field, template=template
    ):
        summary.add(recipient)
    return summary

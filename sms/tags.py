"""The tag language of SMS templates: ``{{contact.first_name}}`` and friends.

Our own small renderer, no template engine:

- a tag is ``{{path}}`` or ``{{path|fallback}}``, with optional spaces inside
  the braces (``{{ account.name }}``); ``path`` is one of ``TAGS``, nothing
  else (no attribute access beyond the whitelist, no filters);
- the fallback is used when the value is empty, blank or missing; it is plain
  text (spaces and any letters welcome) without ``{``, ``}`` or ``|``;
- a template is parsed once (``parse_template``) into literal parts and slots;
  rendering inserts values as plain text and never parses them again, so a
  contact field holding ``{{contact.email}}`` or ``<b>`` is sent as written;
- every malformed or unknown tag is a ``TemplateError`` naming the text.

Values are looked up by ORM column (a path from ``Contact``, e.g.
``account__name``), so that the caller can fetch exactly
``MessageTemplate.columns`` with ``values()`` and render each row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from sms.rules import RuleError
from sms.rules.links import MAX_LINKS, find_urls
from sms.rules.text import normalise_text

OPEN, CLOSE, PIPE = "{{", "}}", "|"


@dataclass(frozen=True, slots=True)
class Tag:
    """A tag users may write: its ``path``, picklist ``label`` and ``group``.

    ``columns`` are the ORM paths from ``Contact`` it reads; a tag over several
    columns (the full name) joins their non-blank values with a space. Values
    are stripped of surrounding whitespace.
    """

    path: str
    label: Promise
    group: Promise
    columns: tuple[str, ...]

    @property
    def token(self) -> str:
        """The tag as users write it, e.g. ``{{contact.first_name}}``."""
        return f"{OPEN}{self.path}{CLOSE}"

    def value(self, values: Mapping[str, object]) -> str:
        """This tag's text for one row of ``values`` (keyed by column)."""
        if len(self.columns) == 1:
            return _text(values.get(self.columns[0]))
        return " ".join(t for t in (_text(values.get(c)) for c in self.columns) if t)


def _text(value: object) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return normalise_text(text.strip())


CONTACT, ACCOUNT = _("Contact"), _("Account")

TAGS: tuple[Tag, ...] = (
    Tag("contact.first_name", _("First name"), CONTACT, ("first_name",)),
    Tag("contact.last_name", _("Last name"), CONTACT, ("last_name",)),
    Tag("contact.full_name", _("Full name"), CONTACT, ("first_name", "last_name")),
    Tag("contact.title", _("Title"), CONTACT, ("title",)),
    Tag("contact.email", _("Email"), CONTACT, ("email",)),
    Tag("contact.city", _("City"), CONTACT, ("city",)),
    Tag("account.name", _("Account name"), ACCOUNT, ("account__name",)),
    Tag("account.city", _("Account city"), ACCOUNT, ("account__city",)),
    Tag("account.industry", _("Industry"), ACCOUNT, ("account__industry",)),
)
"""The whitelist, in picklist order."""

TAGS_BY_PATH: Mapping[str, Tag] = {tag.path: tag for tag in TAGS}

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


class TemplateError(RuleError):
    """A malformed or unknown tag. ``tag`` is the offending text as written."""

    def __init__(self, code: str, message: str, tag: str) -> None:
        super().__init__(code, message, field="body", tag=tag)
        self.tag = tag


@dataclass(frozen=True, slots=True)
class Slot:
    """A tag in a template, with its fallback (``None`` when there is none)."""

    tag: Tag
    fallback: str | None

    def render(self, values: Mapping[str, object]) -> str:
        text = self.tag.value(values)
        if self.fallback is not None and not text:
            return self.fallback
        return text


@dataclass(frozen=True, slots=True)
class LinkSlot:
    """A URL of the template that each recipient gets as a short link of its own
    (``MessageTemplate.track_links``): link number ``index`` of the message."""

    index: int
    url: str

    def render(self, values: Mapping[str, object]) -> str:
        return self.url


LinkFor = Callable[[int, int], str]
"""``(contact_id, index) -> short link``: a recipient's link number ``index``."""


@dataclass(frozen=True)
class MessageTemplate:
    """A parsed template: literal text and slots, ready to render many rows.

    After ``track_links`` its parts also hold ``LinkSlot``s: rendered as written
    by ``render``, and per recipient by ``row_renderer(positions, link)``."""

    source: str
    parts: tuple[str | Slot | LinkSlot, ...]
    slots: tuple[Slot, ...] = field(init=False)
    links: tuple[LinkSlot, ...] = field(init=False)
    columns: frozenset[str] = field(init=False)
    static_chars: int = field(init=False)

    def __post_init__(self) -> None:
        slots = tuple(p for p in self.parts if isinstance(p, Slot))
        object.__setattr__(self, "slots", slots)
        object.__setattr__(self, "links", tuple(p for p in self.parts if isinstance(p, LinkSlot)))
        object.__setattr__(self, "columns", frozenset(c for s in slots for c in s.tag.columns))
        # Code points of the literal text: what every rendered message holds at least.
        static = sum(len(p) for p in self.parts if isinstance(p, str))
        object.__setattr__(self, "static_chars", static)

    @property
    def tags(self) -> tuple[Tag, ...]:
        """The distinct tags used, in order of appearance."""
        return tuple(dict.fromkeys(s.tag for s in self.slots))

    def render(self, values: Mapping[str, object]) -> str:
        """The message for one row of ``values`` (column → value; missing is empty).

        Values are inserted as plain text, stripped, with line endings
        normalised; they are never parsed for tags.
        """
        return "".join([p if p.__class__ is str else p.render(values) for p in self.parts])

    def row_values(
        self, positions: Mapping[str, int]
    ) -> Callable[[Sequence[object]], tuple[str, ...]]:
        """A function answering the text of each slot, in order, for one database
        row given as a tuple (``positions``: column → index in the row). The
        message is the literal text with these inserted (``row_renderer``); its
        length is ``static_chars`` plus theirs (``row_length``).

        For streaming many rows (``values_list``) without a dict per row.
        """
        plan = tuple(
            (tuple(positions[c] for c in slot.tag.columns), slot.fallback) for slot in self.slots
        )
        text_of = _text
        if all(len(indexes) == 1 for indexes, _fallback in plan):
            # The common case, inlined: one column per slot, usually a str.
            single = tuple((indexes[0], fallback) for indexes, fallback in plan)

            def values(row: Sequence[object]) -> tuple[str, ...]:
                out = []
                for index, fallback in single:
                    value = row[index]
                    if value.__class__ is str:
                        value = value.strip()
                        if "\r" in value:
                            value = normalise_text(value)
                    else:
                        value = text_of(value)
                    out.append(fallback if not value and fallback is not None else value)
                return tuple(out)

            return values

        def values_general(row: Sequence[object]) -> tuple[str, ...]:
            out = []
            for indexes, fallback in plan:
                texts = (text_of(row[i]) for i in indexes)
                value = " ".join(t for t in texts if t)
                out.append(fallback if not value and fallback is not None else value)
            return tuple(out)

        return values_general

    def track_links(self) -> MessageTemplate:
        """This template with each URL of its literal text (``sms.rules.links``)
        as a ``LinkSlot``, at most ``MAX_LINKS``. A URL that runs straight into a
        tag ("https://x.fi/?n={{contact.first_name}}") is personal: it stays as
        written, untracked."""
        parts: list[str | Slot | LinkSlot] = []
        index = 0
        for position, part in enumerate(self.parts):
            if not isinstance(part, str):
                parts.append(part)
                continue
            followed_by_tag = position + 1 < len(self.parts)
            pos = 0
            for url in find_urls(part):
                if index >= MAX_LINKS or (followed_by_tag and url.end == len(part)):
                    continue
                if url.start > pos:
                    parts.append(part[pos : url.start])
                parts.append(LinkSlot(index, url.text))
                index += 1
                pos = url.end
            if pos < len(part):
                parts.append(part[pos:])
        return MessageTemplate(self.source, tuple(parts))

    def untracked(self) -> MessageTemplate:
        """This template with its links as written again."""
        if not self.links:
            return self
        parts = [p.url if isinstance(p, LinkSlot) else p for p in self.parts]
        return MessageTemplate(self.source, tuple(_merge_literals(parts)))

    def short_chars(self, link_chars: int) -> int:
        """The template's length as typed, each tracked URL counted as a short
        link of ``link_chars``: what the counter and the preview show."""
        return len(self.source) + sum(link_chars - len(link.url) for link in self.links)

    def row_renderer(
        self, positions: Mapping[str, int], link: LinkFor | None = None
    ) -> Callable[[Sequence[object]], str]:
        """A function rendering one row given as a tuple: the same text as ``render``
        of the mapping ``{column: row[positions[column]]}``; with ``link``, each
        ``LinkSlot`` is the recipient's short link (``positions["id"]`` is the
        contact's id)."""
        if self.links:
            if link is None:
                return self.untracked().row_renderer(positions)
            return self._link_renderer(positions, link)
        if not self.slots:
            text = "".join(p for p in self.parts if isinstance(p, str))
            return lambda row: text
        pattern = "".join(p.replace("%", "%%") if isinstance(p, str) else "%s" for p in self.parts)
        values = self.row_values(positions)
        return lambda row: pattern % values(row)

    def _link_renderer(
        self, positions: Mapping[str, int], link: LinkFor
    ) -> Callable[[Sequence[object]], str]:
        pattern = "".join(p.replace("%", "%%") if isinstance(p, str) else "%s" for p in self.parts)
        values = self.row_values(positions) if self.slots else (lambda row: ())
        # For each %s in turn: (True, link index) or (False, slot number).
        order = []
        slot_number = 0
        for part in self.parts:
            if isinstance(part, LinkSlot):
                order.append((True, part.index))
            elif isinstance(part, Slot):
                order.append((False, slot_number))
                slot_number += 1
        order = tuple(order)
        id_at = positions["id"]

        def render(row: Sequence[object]) -> str:
            slot_values = values(row)
            contact_id = row[id_at]
            return pattern % tuple(
                link(contact_id, n) if is_link else slot_values[n] for is_link, n in order
            )

        return render

    def row_length(self, positions: Mapping[str, int]) -> Callable[[Sequence[object]], int]:
        """A function answering ``len(row_renderer(positions)(row))`` without
        building the text."""
        if self.links:
            return self.untracked().row_length(positions)
        static = self.static_chars
        if not self.slots:
            return lambda row: static
        values = self.row_values(positions)
        return lambda row: static + sum(map(len, values(row)))


def parse_template(body: str) -> MessageTemplate:
    """Parse ``body`` once into a ``MessageTemplate``, or raise ``TemplateError``.

    The body is normalised first (line endings). Lone ``{`` and ``}`` are plain
    text; ``{{`` opens a tag and ``}}`` closes it, and there is no escape for
    them. Length is not checked here (see ``sms.rules.text.validate_body``).
    """
    text = normalise_text(body)
    parts: list[str | Slot] = []
    pos = 0
    while True:
        start = text.find(OPEN, pos)
        stray = text.find(CLOSE, pos)
        if stray != -1 and (start == -1 or stray < start):
            raise TemplateError(
                "unopened_tag",
                gettext("“%(text)s” closes a tag that was never opened. Remove the }}.")
                % {"text": _excerpt_before(text, stray + 2)},
                tag=CLOSE,
            )
        if start == -1:
            break
        if start > pos:
            parts.append(text[pos:start])
        end = text.find(CLOSE, start + 2)
        if end == -1:
            excerpt = _excerpt_after(text, start)
            raise TemplateError(
                "unclosed_tag",
                gettext("The tag “%(tag)s” is not closed. End it with }}.") % {"tag": excerpt},
                tag=excerpt,
            )
        # A "{{" right after "}}" ("{{a}}}}") also lands here via the stray check.
        parts.append(_parse_tag(text[start : end + 2]))
        pos = end + 2
    if pos < len(text):
        parts.append(text[pos:])
    return MessageTemplate(text, tuple(_merge_literals(parts)))


def _parse_tag(written: str) -> Slot:
    """Parse one ``{{...}}`` as written (braces included) into a slot."""
    inner = written[2:-2]
    if "{" in inner or "}" in inner:
        raise TemplateError(
            "nested_tag",
            gettext("“%(tag)s” has braces inside a tag. Write a tag as {{contact.first_name}}.")
            % {"tag": written},
            tag=written,
        )
    name, pipe, fallback = inner.partition(PIPE)
    name = name.strip()
    if not name:
        raise TemplateError(
            "empty_tag",
            gettext("“%(tag)s” is an empty tag. Choose a tag from the list.") % {"tag": written},
            tag=written,
        )
    if not _PATH.fullmatch(name):
        raise TemplateError(
            "malformed_tag",
            gettext(
                "“%(tag)s” is not a tag. A tag is a name from the list, "
                "such as {{contact.first_name}}, with an optional fallback after |."
            )
            % {"tag": written},
            tag=written,
        )
    tag = TAGS_BY_PATH.get(name)
    if tag is None:
        known_prefix = any(name.startswith(path + ".") for path in TAGS_BY_PATH)
        if known_prefix or name.count(".") > 1:
            raise TemplateError(
                "tag_too_deep",
                gettext(
                    "“%(tag)s” reaches beyond the tags you can use. "
                    "Choose a tag from the list, such as {{account.name}}."
                )
                % {"tag": written},
                tag=written,
            )
        raise TemplateError(
            "unknown_tag",
            gettext("Unknown tag %(tag)s. Choose a tag from the list.") % {"tag": written},
            tag=written,
        )
    if not pipe:
        return Slot(tag, None)
    if PIPE in fallback:
        raise TemplateError(
            "bad_fallback",
            gettext("“%(tag)s” has more than one |. A tag takes one fallback, after one |.")
            % {"tag": written},
            tag=written,
        )
    fallback = fallback.strip()
    if not fallback:
        raise TemplateError(
            "empty_fallback",
            gettext("“%(tag)s” has an empty fallback. Write a word after |, or remove the |.")
            % {"tag": written},
            tag=written,
        )
    return Slot(tag, fallback)


def _merge_literals(parts: list) -> list:
    merged: list = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


_EXCERPT = 30


def _excerpt_after(text: str, start: int) -> str:
    """The text from ``start`` to the end of its line, at most ``_EXCERPT`` chars."""
    line_end = text.find("\n", start)
    end = len(text) if line_end == -1 else line_end
    excerpt = text[start : min(end, start + _EXCERPT)]
    return excerpt + ("…" if min(end, start + _EXCERPT) < end else "")


def _excerpt_before(text: str, end: int) -> str:
    """The text up to ``end`` from the start of its line, at most ``_EXCERPT`` chars."""
    line_start = text.rfind("\n", 0, end) + 1
    start = max(line_start, end - _EXCERPT)
    return ("…" if start > line_start else "") + text[start:end]

"""The field catalogue: the one place that says what a condition may look at.

Each entry names a field by a stable key (``contact.city``), gives its label and
type, the ORM path from ``Contact`` and, for choice fields, the choices. The type
decides which operators are allowed and what a value must look like. Everything
else reads this module: API validation, the query (``selectors.conditions_q``), the
``GET /api/v1/target-groups/fields/`` answer and the condition builder's widgets.
Adding a field is one entry in ``FIELDS``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.parsers import text_error
from crm.models import Language

MAX_CONDITIONS = 50
# Groups nest at most this deep, the top group counting as the first level.
MAX_DEPTH = 3
MAX_IN_VALUES = 1000
MAX_TEXT_LENGTH = 200
MAX_DAYS = 36_500
# Dates a condition may name: a day and the day after it, as instants in any time
# zone, fit Python's datetime and both databases (four-digit years also keep
# SQLite's text comparison of dates in order).
MIN_DATE = datetime.date(1000, 1, 1)
MAX_DATE = datetime.date(9998, 12, 31)
# Numbers a condition may name: what a 64-bit database column holds.
MAX_NUMBER = 2**63 - 1


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"


class Match(StrEnum):
    ALL = "all"
    ANY = "any"


class Operator(StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    STARTS_WITH = "starts_with"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    IN = "in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BEFORE = "before"
    AFTER = "after"
    WITHIN_LAST_DAYS = "within_last_days"
    IS_TRUE = "is_true"
    IS_FALSE = "is_false"


OPERATOR_LABELS: dict[Operator, Promise] = {
    Operator.EQUALS: gettext_lazy("is"),
    Operator.NOT_EQUALS: gettext_lazy("is not"),
    Operator.CONTAINS: gettext_lazy("contains"),
    Operator.NOT_CONTAINS: gettext_lazy("does not contain"),
    Operator.STARTS_WITH: gettext_lazy("starts with"),
    Operator.IS_EMPTY: gettext_lazy("is empty"),
    Operator.IS_NOT_EMPTY: gettext_lazy("is not empty"),
    Operator.IN: gettext_lazy("is one of"),
    Operator.GT: gettext_lazy("is greater than"),
    Operator.GTE: gettext_lazy("is at least"),
    Operator.LT: gettext_lazy("is less than"),
    Operator.LTE: gettext_lazy("is at most"),
    Operator.BEFORE: gettext_lazy("is before"),
    Operator.AFTER: gettext_lazy("is after"),
    Operator.WITHIN_LAST_DAYS: gettext_lazy("is within the last N days"),
    Operator.IS_TRUE: gettext_lazy("is yes"),
    Operator.IS_FALSE: gettext_lazy("is no"),
}

_T = FieldType
_TEXT_OPS = "equals not_equals contains not_contains starts_with is_empty is_not_empty in"
_DATE_OPS = "equals not_equals before after gt gte lt lte within_last_days is_empty is_not_empty"
OPERATORS_BY_TYPE: dict[FieldType, tuple[Operator, ...]] = {
    t: tuple(Operator(name) for name in names.split())
    for t, names in {
        _T.TEXT: _TEXT_OPS,
        _T.CHOICE: "equals not_equals in is_empty is_not_empty",
        _T.NUMBER: "equals not_equals gt gte lt lte in is_empty is_not_empty",
        _T.DATE: _DATE_OPS,
        _T.BOOLEAN: "is_true is_false",
    }.items()
}

# Operators that take no value at all.
VALUELESS = frozenset(
    {Operator.IS_EMPTY, Operator.IS_NOT_EMPTY, Operator.IS_TRUE, Operator.IS_FALSE}
)


@dataclass(frozen=True)
class Field:
    """One field a condition may test.

    ``path`` is the ORM path from ``Contact``. ``nullable`` says the column can be
    NULL for some contact: every field through ``account__`` is, since a contact
    may have no account. A missing value is treated as an empty one everywhere.
    """

    key: str
    label: Promise
    type: FieldType
    path: str
    choices: tuple[tuple[str, Promise], ...] = ()
    nullable: bool = False
    group: Promise = field(default=gettext_lazy("Contact"))

    @property
    def operators(self) -> tuple[Operator, ...]:
        return OPERATORS_BY_TYPE[self.type]

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "field": self.key,
            "label": str(self.label),
            "group": str(self.group),
            "type": str(self.type),
            "operators": [str(op) for op in self.operators],
        }
        if self.type == FieldType.CHOICE:
            data["choices"] = [{"value": v, "label": str(label)} for v, label in self.choices]
        return data


def _contact(key: str, label: Promise, type_: FieldType = FieldType.TEXT, **kw: Any) -> Field:
    return Field(key=f"contact.{key}", label=label, type=type_, path=key, **kw)


def _account(key: str, label: Promise) -> Field:
    return Field(
        key=f"account.{key}",
        label=label,
        type=FieldType.TEXT,
        path=f"account__{key}",
        nullable=True,
        group=gettext_lazy("Account"),
    )


FIELDS: tuple[Field, ...] = (
    _contact("first_name", gettext_lazy("First name")),
    _contact("last_name", gettext_lazy("Last name")),
    _contact("title", gettext_lazy("Title")),
    _contact("email", gettext_lazy("Email")),
    _contact("city", gettext_lazy("City")),
    _contact(
        "language", gettext_lazy("Language"), FieldType.CHOICE, choices=tuple(Language.choices)
    ),
    _contact("mobile_phone", gettext_lazy("Mobile phone")),
    _contact("work_phone", gettext_lazy("Work phone")),
    _contact("created_at", gettext_lazy("Created"), FieldType.DATE),
    _contact("sms_opt_out", gettext_lazy("SMS opt-out"), FieldType.BOOLEAN),
    _account("name", gettext_lazy("Account name")),
    _account("industry", gettext_lazy("Industry")),
    _account("city", gettext_lazy("Account city")),
    _account("country", gettext_lazy("Country")),
    _account("business_id", gettext_lazy("Business ID")),
)
CATALOGUE: dict[str, Field] = {f.key: f for f in FIELDS}


def catalogue_json() -> list[dict[str, Any]]:
    """The catalogue as the API and the condition builder see it (labels translated)."""
    return [f.as_json() for f in FIELDS]


def operator_labels_json() -> dict[str, str]:
    return {str(op): str(label) for op, label in OPERATOR_LABELS.items()}


# --- Validation -------------------------------------------------------------------


class ConditionsInvalid(Exception):
    """``errors`` is ``[{"index": i, "path": [i, j, ...], "errors": {"field"|"operator"|
    "value"|"match"|"items"|"non_field_errors": [...]}}]``: ``path`` names the item by
    its index in each group from the top, ``index`` is its top-level index (so flat
    lists are reported as before); or a list of messages when the conditions are
    neither a list nor a group at all."""

    def __init__(self, errors: list) -> None:
        super().__init__(errors)
        self.errors = errors


def parse_date(value: Any) -> datetime.date | None:
    """The day a condition names, or ``None`` when it is not a YYYY-MM-DD date
    between ``MIN_DATE`` and ``MAX_DATE``."""
    if not isinstance(value, str):
        return None
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        return None
    return day if MIN_DATE <= day <= MAX_DATE else None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -MAX_NUMBER <= value <= MAX_NUMBER
    return isinstance(value, float) and math.isfinite(value) and abs(value) <= MAX_NUMBER


def _scalar_error(f: Field, op: Operator, value: Any) -> tuple[str | None, Any]:
    """An error message for one value, or ``None`` and the value as stored."""
    if f.type == FieldType.TEXT:
        if not isinstance(value, str) or not value.strip():
            return _("Enter some text."), None
        if len(value) > MAX_TEXT_LENGTH:
            return _("Enter at most %(max)s characters.") % {"max": MAX_TEXT_LENGTH}, None
        return text_error(value), value
    if f.type == FieldType.CHOICE:
        allowed = [v for v, _label in f.choices]
        if value not in allowed:
            return _("Choose one of: %(choices)s.") % {"choices": ", ".join(allowed)}, None
        return None, value
    if f.type == FieldType.NUMBER:
        if not _is_number(value):
            return _("Enter a number between %(min)s and %(max)s.") % {
                "min": -MAX_NUMBER,
                "max": MAX_NUMBER,
            }, None
        return None, value
    if f.type == FieldType.DATE:
        if op == Operator.WITHIN_LAST_DAYS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                return _("Enter a whole number of days, 0 or more."), None
            if value > MAX_DAYS:
                return _("Enter at most %(max)s days.") % {"max": MAX_DAYS}, None
            return None, value
        if parse_date(value) is None:
            return _("Enter a date as YYYY-MM-DD between %(min)s and %(max)s.") % {
                "min": MIN_DATE,
                "max": MAX_DATE,
            }, None
        return None, value
    return _("This field takes no value."), None  # pragma: no cover - booleans are valueless


def _condition_errors(raw: Any) -> tuple[dict[str, list[str]], dict[str, Any] | None]:
    if not isinstance(raw, dict):
        return {
            "non_field_errors": [_("A condition is an object with field, operator, value.")]
        }, None
    unknown = set(raw) - {"field", "operator", "value"}
    if unknown:
        return {"non_field_errors": [_("Unknown keys: %s.") % ", ".join(sorted(unknown))]}, None
    key = raw.get("field")
    f = CATALOGUE.get(key) if isinstance(key, str) else None
    if f is None:
        return {"field": [_("Unknown field.")]}, None
    op_raw = raw.get("operator")
    if op_raw not in {str(op) for op in f.operators}:
        if op_raw in set(Operator):
            message = _("“%(operator)s” cannot be used with a %(type)s field.") % {
                "operator": op_raw,
                "type": f.type,
            }
        else:
            message = _("Unknown operator.")
        return {"operator": [message]}, None
    op = Operator(op_raw)
    value = raw.get("value")
    if op in VALUELESS:
        if value not in (None, ""):
            return {"value": [_("This operator takes no value.")]}, None
        return {}, {"field": f.key, "operator": str(op), "value": None}
    if op == Operator.IN:
        if not isinstance(value, list) or not value:
            return {"value": [_("Enter a list of one or more values.")]}, None
        if len(value) > MAX_IN_VALUES:
            return {"value": [_("Enter at most %(max)s values.") % {"max": MAX_IN_VALUES}]}, None
        for item in value:
            message, _stored = _scalar_error(f, op, item)
            if message:
                return {"value": [message]}, None
        return {}, {"field": f.key, "operator": str(op), "value": list(value)}
    message, stored = _scalar_error(f, op, value)
    if message:
        return {"value": [message]}, None
    return {}, {"field": f.key, "operator": str(op), "value": stored}


def empty_conditions() -> dict[str, Any]:
    """A group of no conditions (matches no one): the model's default."""
    return {"match": str(Match.ALL), "items": []}


def is_group(raw: Any) -> bool:
    """True for something meant as a group (an object with ``items`` or ``match``)."""
    return isinstance(raw, dict) and ("items" in raw or "match" in raw)


def _group_errors(
    raw: Any, path: list[int], depth: int, counter: list[int], errors: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Check one group, appending errors (by path) to ``errors``; the group normalised,
    or ``None`` when anything in it is bad."""

    def fail(key: str, message: str) -> None:
        where: dict[str, Any] = {"index": path[0], "path": path} if path else {"path": path}
        errors.append({**where, "errors": {key: [message]}})

    unknown = set(raw) - {"match", "items"}
    if unknown:
        fail("non_field_errors", _("Unknown keys: %s.") % ", ".join(sorted(map(str, unknown))))
        return None
    match = raw.get("match", str(Match.ALL))
    ok = True
    if match not in (Match.ALL, Match.ANY):
        fail("match", _("Match is “all” or “any”."))
        ok = False
    items = raw.get("items")
    if not isinstance(items, list):
        fail("items", _("Send a list of conditions and groups."))
        return None
    if path and not items:
        fail("items", _("A group needs at least one condition."))
        return None
    cleaned: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise ConditionsInvalid(
                [_("Use at most %(max)s conditions and groups.") % {"max": MAX_CONDITIONS}]
            )
        item_path = [*path, index]
        if is_group(item):
            if depth >= MAX_DEPTH:
                errors.append(
                    {
                        "index": item_path[0],
                        "path": item_path,
                        "errors": {
                            "non_field_errors": [
                                _("Groups nest at most %(max)s levels deep.") % {"max": MAX_DEPTH}
                            ]
                        },
                    }
                )
                ok = False
                continue
            group = _group_errors(item, item_path, depth + 1, counter, errors)
            if group is None:
                ok = False
            else:
                cleaned.append(group)
            continue
        item_errors, condition = _condition_errors(item)
        if item_errors:
            errors.append({"index": item_path[0], "path": item_path, "errors": item_errors})
            ok = False
        else:
            cleaned.append(condition)  # type: ignore[arg-type]
    return {"match": str(match), "items": cleaned} if ok else None


def validate_conditions(raw: Any, *, match: str = Match.ALL) -> dict[str, Any]:
    """Check conditions against the catalogue; answer them as a tree, normalised, or
    raise ``ConditionsInvalid`` naming every bad item by its path (and top-level index).

    The tree is a group ``{"match": "all"|"any", "items": [...]}`` whose items are
    conditions ``{"field", "operator", "value"}`` or groups, at most ``MAX_DEPTH``
    groups deep (the top one counting), at most ``MAX_CONDITIONS`` items in all; a
    group below the top holds at least one item. The flat form of before, a list of
    conditions, is still accepted: it is the top group's items, joined by ``match``."""
    if isinstance(raw, list):
        if match not in (Match.ALL, Match.ANY):
            raise ConditionsInvalid([_("Match is “all” or “any”.")])
        raw = {"match": str(match), "items": raw}
    if not is_group(raw):
        raise ConditionsInvalid([_("Send a list of conditions or a group of them.")])
    errors: list[dict[str, Any]] = []
    tree = _group_errors(raw, [], 1, [0], errors)
    if errors or tree is None:
        raise ConditionsInvalid(errors)
    return tree


def iter_conditions(tree: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every condition of a validated tree, depth first."""
    for item in tree["items"]:
        if "items" in item:
            yield from iter_conditions(item)
        else:
            yield item

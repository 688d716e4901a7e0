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
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.parsers import text_error
from crm.models import Language

MAX_CONDITIONS = 50
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
    """``errors`` is ``[{"index": i, "errors": {"field"|"operator"|"value": [...]}}]``,
    or a list of messages when the conditions are not a list at all."""

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


def validate_conditions(raw: Any) -> list[dict[str, Any]]:
    """Check conditions against the catalogue; answer them normalised, or raise
    ``ConditionsInvalid`` naming every bad condition by its index."""
    if not isinstance(raw, list):
        raise ConditionsInvalid([_("Send a list of conditions.")])
    if len(raw) > MAX_CONDITIONS:
        raise ConditionsInvalid([_("Use at most %(max)s conditions.") % {"max": MAX_CONDITIONS}])
    cleaned: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        item_errors, condition = _condition_errors(item)
        if item_errors:
            errors.append({"index": index, "errors": item_errors})
        else:
            cleaned.append(condition)  # type: ignore[arg-type]
    if errors:
        raise ConditionsInvalid(errors)
    return cleaned

"""Reads of target groups: who is a member, resolved by one SQL query.

Semantics (the same on PostgreSQL and SQLite, and in the plain-Python oracle of
``tests/targetgroups/test_members_property.py``):

- A missing value (NULL, e.g. any account field of a contact without an account)
  is treated as the empty string. So ``is_empty`` matches NULL and '', and the
  negative operators (``not_equals``, ``not_contains``) match contacts that have no
  value: "city is not Helsinki" includes contacts without a city.
- Text comparisons ignore case (SQL ``UPPER`` on both sides; on SQLite the project
  installs a Unicode-aware ``UPPER``, see ``targetgroups.apps``).
- Choice fields compare the stored code exactly.
- Dates are calendar days in ``TIME_ZONE``: ``before D`` and ``lt D`` = earlier than
  the start of D; ``after D`` and ``gt D`` = from the start of the day after D;
  ``gte D`` from the start of D; ``lte D`` up to the end of D; ``equals D`` = on D;
  ``within_last_days N`` = from the start of the day N days before today (0 = today).
- Conditions are a tree of groups, each joining its items by "all" (AND) or "any"
  (OR); the whole tree is one ``Q``, so members are still one SQL query.
- The top group with no items matches no one (under "all" as under "any"): only
  included contacts are members of a group without conditions. Groups below the
  top are never empty (``validate_conditions`` refuses them).
"""

import datetime
from collections.abc import Iterable
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Upper
from django.db.models.lookups import (
    Contains,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IsNull,
    LessThan,
    LessThanOrEqual,
    StartsWith,
)
from django.utils import timezone

from crm.models import Contact, Organisation
from targetgroups.fields import (
    CATALOGUE,
    ConditionsInvalid,
    Field,
    FieldType,
    Match,
    Operator,
    parse_date,
    validate_conditions,
)
from targetgroups.models import TargetGroup

NOTHING = Q(pk__in=[])


def day_start(day: datetime.date) -> datetime.datetime:
    """The first instant of a calendar day in the current time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _null(f: Field) -> Q:
    return Q(IsNull(F(f.path), True))


def _negate(f: Field, q: Q) -> Q:
    # NOT over a NULL column is NULL (false) in SQL; a missing value counts as '',
    # which never equals or contains a non-empty text, so it does match.
    return ~q | _null(f) if f.nullable else ~q


def _text(f: Field, op: Operator, value: Any) -> Q:
    col = Upper(F(f.path))
    if op == Operator.IS_EMPTY:
        return _null(f) | Q(Exact(F(f.path), ""))
    if op == Operator.IS_NOT_EMPTY:
        return ~Q(Exact(F(f.path), "")) & ~_null(f)
    if op == Operator.IN:
        q = NOTHING
        for item in value:
            q |= _text(f, Operator.EQUALS, item)
        return q
    if f.type == FieldType.CHOICE:
        equals = (
            Q(Exact(F(f.path), value)) if op in (Operator.EQUALS, Operator.NOT_EQUALS) else None
        )
    else:
        equals = Q(Exact(col, Upper(Value(value))))
    if op == Operator.EQUALS:
        return equals
    if op == Operator.NOT_EQUALS:
        return _negate(f, equals)
    contains = Q(Contains(col, Upper(Value(value))))
    if op == Operator.CONTAINS:
        return contains
    if op == Operator.NOT_CONTAINS:
        return _negate(f, contains)
    if op == Operator.STARTS_WITH:
        return Q(StartsWith(col, Upper(Value(value))))
    raise ValueError(op)  # pragma: no cover - the catalogue allows no other


def _number(f: Field, op: Operator, value: Any) -> Q:
    col = F(f.path)
    if op == Operator.IS_EMPTY:
        return _null(f)
    if op == Operator.IS_NOT_EMPTY:
        return ~_null(f)
    if op == Operator.IN:
        q = NOTHING
        for item in value:
            q |= Q(Exact(col, item))
        return q
    lookups = {
        Operator.EQUALS: lambda: Q(Exact(col, value)),
        Operator.NOT_EQUALS: lambda: _negate(f, Q(Exact(col, value))),
        Operator.GT: lambda: Q(GreaterThan(col, value)),
        Operator.GTE: lambda: Q(GreaterThanOrEqual(col, value)),
        Operator.LT: lambda: Q(LessThan(col, value)),
        Operator.LTE: lambda: Q(LessThanOrEqual(col, value)),
    }
    return lookups[op]()


def date_bounds(op: Operator, value: Any, today: datetime.date) -> tuple[Any, Any]:
    """``(from, until)``: the half-open range of instants ``[from, until)`` an operator
    selects; ``None`` for an open end. Shared with the tests' oracle."""
    if op == Operator.WITHIN_LAST_DAYS:
        return day_start(today - datetime.timedelta(days=value)), None
    day = parse_date(value)
    assert day is not None
    start, next_start = day_start(day), day_start(day + datetime.timedelta(days=1))
    return {
        Operator.EQUALS: (start, next_start),
        Operator.NOT_EQUALS: (start, next_start),  # negated by the caller
        Operator.BEFORE: (None, start),
        Operator.LT: (None, start),
        Operator.AFTER: (next_start, None),
        Operator.GT: (next_start, None),
        Operator.GTE: (start, None),
        Operator.LTE: (None, next_start),
    }[op]


def _date(f: Field, op: Operator, value: Any) -> Q:
    col = F(f.path)
    if op == Operator.IS_EMPTY:
        return _null(f)
    if op == Operator.IS_NOT_EMPTY:
        return ~_null(f)
    low, high = date_bounds(op, value, timezone.localdate())
    q = Q()
    if low is not None:
        q &= Q(GreaterThanOrEqual(col, Value(low)))
    if high is not None:
        q &= Q(LessThan(col, Value(high)))
    return _negate(f, q) if op == Operator.NOT_EQUALS else q


def _boolean(f: Field, op: Operator) -> Q:
    is_true = Q(Exact(F(f.path), True))
    return is_true if op == Operator.IS_TRUE else _negate(f, is_true)


def condition_q(condition: dict[str, Any]) -> Q:
    """The ``Q`` of one validated condition."""
    f = CATALOGUE[condition["field"]]
    op = Operator(condition["operator"])
    value = condition.get("value")
    if f.type in (FieldType.TEXT, FieldType.CHOICE):
        return _text(f, op, value)
    if f.type == FieldType.NUMBER:
        return _number(f, op, value)
    if f.type == FieldType.DATE:
        return _date(f, op, value)
    return _boolean(f, op)


def _group_q(group: dict[str, Any]) -> Q:
    if not group["items"]:
        return NOTHING
    q = Q()
    for item in group["items"]:
        part = _group_q(item) if "items" in item else condition_q(item)
        q = (q | part) if group["match"] == Match.ANY and q else (q & part)
    return q


def as_tree(*, match: str = Match.ALL, conditions: Any) -> dict[str, Any]:
    """Validated conditions as a tree: a flat list becomes the top group's items under
    ``match``; a tree is answered as it is."""
    if isinstance(conditions, list):
        return {"match": str(match), "items": conditions}
    return conditions


def conditions_q(*, match: str = Match.ALL, conditions: Any) -> Q:
    """The ``Q`` (over ``Contact``) of validated conditions: a tree of groups, each
    joining its items by its ``match`` (AND for "all", OR for "any"), or a flat list
    joined by ``match``. No conditions match no one. Callers validate with
    ``targetgroups.fields.validate_conditions`` first (which refuses empty groups
    below the top)."""
    return _group_q(as_tree(match=match, conditions=conditions))


def members_q(
    *,
    conditions: Any,
    match: str = Match.ALL,
    included: Iterable[int] | QuerySet = (),
    excluded: Iterable[int] | QuerySet = (),
) -> Q:
    """The ``Q`` (over ``Contact``) of (matching the conditions, or included) and not
    excluded. ``included`` and ``excluded`` are ids or a queryset of ids (a subquery).
    Not scoped: callers filter by organisation."""
    q = conditions_q(match=match, conditions=conditions)
    if not isinstance(included, QuerySet):
        included = list(included)
    if isinstance(included, QuerySet) or included:
        q |= Q(pk__in=included)
    if not isinstance(excluded, QuerySet):
        excluded = list(excluded)
    if isinstance(excluded, QuerySet) or excluded:
        q &= ~Q(pk__in=excluded)
    return q


def contacts_matching(
    *,
    organisation: Organisation,
    conditions: Any,
    match: str = Match.ALL,
    included: Iterable[int] | QuerySet = (),
    excluded: Iterable[int] | QuerySet = (),
) -> QuerySet[Contact]:
    """(Contacts matching the conditions, plus included) minus excluded, of one organisation.

    ``included`` and ``excluded`` are ids or a queryset of ids (a subquery); ids of
    another organisation's contacts never make them members.
    """
    q = members_q(match=match, conditions=conditions, included=included, excluded=excluded)
    return Contact.objects.filter(organisation=organisation).filter(q).select_related("account")


def _hand_picked(target_group: TargetGroup) -> tuple[QuerySet, QuerySet]:
    """Subqueries of the ids included and excluded by hand."""
    through_in = TargetGroup.included_contacts.through.objects
    through_ex = TargetGroup.excluded_contacts.through.objects
    return (
        through_in.filter(targetgroup_id=target_group.pk).values("contact_id"),
        through_ex.filter(targetgroup_id=target_group.pk).values("contact_id"),
    )


def _stored_conditions(target_group: TargetGroup) -> dict[str, Any] | None:
    """The group's stored conditions as ``validate_conditions`` answers them (a tree; a
    flat list stored around the services is read under the group's ``match``), or ``None``
    when they no longer pass it (a field or operator since removed, a date out of
    range stored before the range was checked, data written around the services)."""
    try:
        return validate_conditions(target_group.conditions, match=target_group.match)
    except ConditionsInvalid:
        return None


def target_group_conditions(*, target_group: TargetGroup) -> Any:
    """The group's conditions as the API answers them: the tree (a flat list stored
    around the services is answered as one); stored conditions that are no longer
    valid are answered as they are stored, so that someone can see and fix them."""
    conditions = _stored_conditions(target_group)
    return target_group.conditions if conditions is None else conditions


def target_group_needs_attention(*, target_group: TargetGroup) -> bool:
    """True when the group's stored conditions are not valid: it selects no one until
    someone fixes them, and lists and pages say so instead of failing."""
    return _stored_conditions(target_group) is None


def target_group_members(*, target_group: TargetGroup) -> QuerySet[Contact]:
    """The group's members, in the contact list's order, as one SQL query.

    A group that needs attention (stored conditions no longer valid) has no members,
    not even hand-picked ones: nothing is ever sent to a half-understood group."""
    conditions = _stored_conditions(target_group)
    if conditions is None:
        return Contact.objects.none()
    included, excluded = _hand_picked(target_group)
    return contacts_matching(
        organisation=target_group.organisation,
        conditions=conditions,
        included=included,
        excluded=excluded,
    )


def target_group_member_count(*, target_group: TargetGroup) -> int | None:
    """The number of members; ``None`` when the group needs attention."""
    if target_group_needs_attention(target_group=target_group):
        return None
    return target_group_members(target_group=target_group).order_by().count()


def target_group_member_counts(
    *, organisation: Organisation, target_groups: Iterable[TargetGroup]
) -> dict[int, int | None]:
    """The member counts of some groups of one organisation, by group id, in ONE query
    (one ``COUNT(...) FILTER (WHERE members of the group)`` per group over the
    organisation's contacts), for lists that show a page of groups.

    A group whose stored conditions no longer pass the field catalogue (a field or
    operator since removed, data written around the services) counts as ``None``,
    "unavailable", instead of failing the whole list.
    """
    counts: dict[int, int | None] = {}
    aggregates: dict[str, Count] = {}
    for group in target_groups:
        assert group.organisation_id == organisation.pk
        conditions = _stored_conditions(group)
        if conditions is None:
            counts[group.pk] = None
            continue
        included, excluded = _hand_picked(group)
        q = members_q(conditions=conditions, included=included, excluded=excluded)
        aggregates[f"group_{group.pk}"] = Count("pk", filter=q)
    if aggregates:
        row = Contact.objects.filter(organisation=organisation).aggregate(**aggregates)
        counts.update({int(key.removeprefix("group_")): n for key, n in row.items()})
    return counts


def target_group_list(*, organisation: Organisation) -> QuerySet[TargetGroup]:
    return TargetGroup.objects.filter(organisation=organisation).select_related("organisation")


def target_group_contact_ids(*, target_group: TargetGroup) -> tuple[list[int], list[int]]:
    """The ids included and excluded by hand."""
    included = list(target_group.included_contacts.order_by("pk").values_list("pk", flat=True))
    excluded = list(target_group.excluded_contacts.order_by("pk").values_list("pk", flat=True))
    return included, excluded


def target_groups_contact_ids(
    *, target_groups: Iterable[TargetGroup]
) -> dict[int, tuple[list[int], list[int]]]:
    """``target_group_contact_ids`` of several groups, by group id, in two queries."""
    ids = {group.pk: ([], []) for group in target_groups}
    for index, through in enumerate(
        (TargetGroup.included_contacts.through, TargetGroup.excluded_contacts.through)
    ):
        rows = through.objects.filter(targetgroup_id__in=ids).order_by("contact_id")
        for group_id, contact_id in rows.values_list("targetgroup_id", "contact_id"):
            ids[group_id][index].append(contact_id)
    return ids


def contacts_not_in_organisation(*, organisation: Organisation, ids: Iterable[int]) -> list[int]:
    """The ids among ``ids`` that are not contacts of the organisation."""
    wanted = set(ids)
    if not wanted:
        return []
    found = set(
        Contact.objects.filter(organisation=organisation, pk__in=wanted).values_list(
            "pk", flat=True
        )
    )
    return sorted(wanted - found)

"""Writes of target groups: one transaction each, keyword-only arguments."""

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import DomainError
from crm.models import Organisation
from targetgroups import selectors
from targetgroups.fields import ConditionsInvalid, Match, validate_conditions
from targetgroups.models import TargetGroup


def _clean_conditions(conditions: Any, match: Any = Match.ALL) -> dict[str, Any]:
    try:
        return validate_conditions(conditions, match=match)
    except ConditionsInvalid as exc:
        raise DomainError(
            "invalid_conditions", _("Some conditions are not valid."), conditions=exc.errors
        ) from exc


def _unknown_contacts_refused(organisation: Organisation, **lists: list[int]) -> None:
    """Raise ``unknown_contacts`` unless every id of every named list is a contact of the
    organisation; the error names each list with its own unknown ids (the API answers
    400 with them under the list's name)."""
    foreign = set(
        selectors.contacts_not_in_organisation(
            organisation=organisation, ids=[i for ids in lists.values() for i in ids]
        )
    )
    if not foreign:
        return

    def message(ids: set[int]) -> str:
        return _("No contacts with these ids in your organisation: %(ids)s.") % {
            "ids": ", ".join(map(str, sorted(ids)))
        }

    raise DomainError(
        "unknown_contacts",
        message(foreign),
        **{
            name: [message(foreign & set(ids))] for name, ids in lists.items() if foreign & set(ids)
        },
    )


def hand_picked_contacts_check(
    *, organisation: Organisation, included: Iterable[int] | None, excluded: Iterable[int] | None
) -> tuple[list[int] | None, list[int] | None]:
    """The one check of hand-picked contacts, made before a group is written and before
    the live count: every id is a contact of the organisation (``unknown_contacts``)
    and no contact is both included and excluded (``included_and_excluded``), else
    DomainError (400 through the API, naming ``included_contacts`` or
    ``excluded_contacts``). Answers the lists sorted and without repeats (``None``
    stays ``None``: that list is not being set)."""
    inc = None if included is None else sorted(set(included))
    exc = None if excluded is None else sorted(set(excluded))
    _unknown_contacts_refused(
        organisation, included_contacts=inc or [], excluded_contacts=exc or []
    )
    if inc is not None and exc is not None and set(inc) & set(exc):
        both = _("A contact cannot be both included and excluded: %(ids)s.") % {
            "ids": ", ".join(map(str, sorted(set(inc) & set(exc))))
        }
        raise DomainError("included_and_excluded", both, excluded_contacts=[both])
    return inc, exc


@transaction.atomic
def target_group_create(
    *,
    organisation: Organisation,
    name: str,
    created_by: Any = None,
    description: str = "",
    match: str = Match.ALL,
    conditions: Any = None,
    included_contacts: Iterable[int] = (),
    excluded_contacts: Iterable[int] = (),
) -> TargetGroup:
    """Create a group. Its conditions (a tree, or a flat list joined by ``match``) are
    valid against the catalogue and its hand-picked contacts belong to its
    organisation, or nothing is saved (DomainError). A tree's match is the group's."""
    if not name.strip():
        raise DomainError("name_required", _("Enter a name."))
    if match not in (Match.ALL, Match.ANY):
        raise DomainError("invalid_match", _("Match is “all” or “any”."))
    cleaned = _clean_conditions(conditions or [], match)
    inc, exc = hand_picked_contacts_check(
        organisation=organisation, included=included_contacts, excluded=excluded_contacts
    )
    group = TargetGroup.objects.create(
        organisation=organisation,
        name=name.strip(),
        description=description,
        match=cleaned["match"],
        conditions=cleaned,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    group.included_contacts.set(inc or [])
    group.excluded_contacts.set(exc or [])
    return group


@transaction.atomic
def target_group_update(*, target_group: TargetGroup, data: Mapping[str, Any]) -> TargetGroup:
    """Change some of name, description, match, conditions, included_contacts,
    excluded_contacts (lists of contact ids replace the current ones). All or nothing.
    ``match`` is the top group's: a flat list of conditions is put under it, a tree
    brings its own, a match alone changes the stored tree's."""
    data = dict(data)
    if "name" in data:
        if not str(data["name"]).strip():
            raise DomainError("name_required", _("Enter a name."))
        data["name"] = str(data["name"]).strip()
    if "match" in data and data["match"] not in (Match.ALL, Match.ANY):
        raise DomainError("invalid_match", _("Match is “all” or “any”."))
    if "conditions" in data:
        data["conditions"] = _clean_conditions(
            data["conditions"], data.get("match", target_group.match)
        )
        data["match"] = data["conditions"]["match"]
    elif "match" in data:
        # The top group's match changes with the group's; a stored tree that needs
        # attention keeps its items as they are, to be fixed.
        stored = target_group.conditions
        if isinstance(stored, list):
            stored = {"match": data["match"], "items": stored}
        if isinstance(stored, dict):
            data["conditions"] = {**stored, "match": data["match"]}
    included = data.pop("included_contacts", None)
    excluded = data.pop("excluded_contacts", None)
    # An id moved from one list to the other in one request is checked against the
    # list it leaves as it will be after the request.
    current_inc, current_exc = selectors.target_group_contact_ids(target_group=target_group)
    inc, exc = hand_picked_contacts_check(
        organisation=target_group.organisation,
        included=included if included is not None else current_inc,
        excluded=excluded if excluded is not None else current_exc,
    )
    for field in ("name", "description", "match", "conditions"):
        if field in data:
            setattr(target_group, field, data[field])
    target_group.save()
    if included is not None:
        target_group.included_contacts.set(inc or [])
    if excluded is not None:
        target_group.excluded_contacts.set(exc or [])
    return target_group


@transaction.atomic
def target_group_delete(*, target_group: TargetGroup) -> None:
    target_group.delete()


def _hand_pick(target_group: TargetGroup, contact_ids: Iterable[int], *, to: str | None) -> None:
    ids = sorted(set(contact_ids))
    # Named as the API names the list it posts.
    _unknown_contacts_refused(target_group.organisation, contacts=ids)
    if not ids:
        raise DomainError("no_contacts", _("Choose at least one contact."))
    if to != "included":
        target_group.included_contacts.remove(*ids)
    if to != "excluded":
        target_group.excluded_contacts.remove(*ids)
    if to == "included":
        target_group.included_contacts.add(*ids)
    elif to == "excluded":
        target_group.excluded_contacts.add(*ids)
    target_group.save(update_fields=["updated_at"])


@transaction.atomic
def target_group_include_contacts(*, target_group: TargetGroup, contact_ids: Iterable[int]) -> None:
    """Make contacts members whatever the conditions say (and no longer excluded).
    Every id is a contact of the group's organisation, or nothing changes."""
    _hand_pick(target_group, contact_ids, to="included")


@transaction.atomic
def target_group_exclude_contacts(*, target_group: TargetGroup, contact_ids: Iterable[int]) -> None:
    """Keep contacts out whatever the conditions say (and no longer included).
    Every id is a contact of the group's organisation, or nothing changes."""
    _hand_pick(target_group, contact_ids, to="excluded")


@transaction.atomic
def target_group_reset_contacts(*, target_group: TargetGroup, contact_ids: Iterable[int]) -> None:
    """Drop contacts from both hand-picked lists: the conditions decide again."""
    _hand_pick(target_group, contact_ids, to=None)

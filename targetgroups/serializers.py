from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from targetgroups import selectors
from targetgroups.fields import ConditionsInvalid, Match, validate_conditions
from targetgroups.models import TargetGroup

MAX_HAND_PICKED = 10_000
# Ids are 64-bit: a larger number is refused as a bad value, not sent to the database
# (SQLite raises OverflowError on it, a 500).
MAX_ID = 2**63 - 1


class ConditionSerializer(serializers.Serializer):
    """For the schema only: conditions are checked by ``fields.validate_conditions``."""

    field = serializers.CharField()
    operator = serializers.CharField()
    value = serializers.JSONField(required=False, allow_null=True)


class ConditionGroupSerializer(serializers.Serializer):
    """For the schema only: a group of conditions and groups, up to three levels deep."""

    match = serializers.ChoiceField(choices=[m.value for m in Match])
    items = serializers.ListField(
        child=serializers.JSONField(),
        help_text="Conditions {field, operator, value} and groups {match, items}.",
    )


@extend_schema_field(ConditionGroupSerializer)
class ConditionsField(serializers.Field):
    """A tree of conditions, or the flat list of before; a bad item is reported as
    ``{"index": i, "path": [i, ...], "errors": {...}}``. Answers a tree when given one
    and the checked list when given a list (the serializer puts it under ``match``)."""

    def to_internal_value(self, data: Any) -> Any:
        try:
            tree = validate_conditions(data)
        except ConditionsInvalid as exc:
            raise serializers.ValidationError(exc.errors) from exc
        return tree["items"] if isinstance(data, list) else tree

    def to_representation(self, value: Any) -> Any:
        return value


def conditions_with_match(attrs: dict[str, Any], *, current_match: str = Match.ALL) -> None:
    """Put a flat list of conditions under ``match`` (the one sent, else the group's),
    and make ``match`` the tree's; a tree and a ``match`` that differ are a 400."""
    conditions = attrs.get("conditions")
    if conditions is None:
        return
    if isinstance(conditions, list):
        match = attrs.get("match", current_match)
        attrs["conditions"] = {"match": str(match), "items": conditions}
    elif "match" in attrs and attrs["match"] != conditions["match"]:
        raise serializers.ValidationError(
            {"match": [_("Match differs from the match of the conditions: send one of them.")]}
        )
    attrs["match"] = attrs["conditions"]["match"]


def _ids_field() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=MAX_HAND_PICKED,
    )


class TargetGroupSerializer(serializers.ModelSerializer):
    """A group in and out. The conditions are checked here (each named by its index);
    whether hand-picked ids are the organisation's contacts is checked once, by the
    services (``hand_picked_contacts_check``)."""

    conditions = ConditionsField(required=False)
    match = serializers.ChoiceField(choices=[m.value for m in Match], required=False)
    included_contacts = _ids_field()
    excluded_contacts = _ids_field()
    member_count = serializers.SerializerMethodField()
    needs_attention = serializers.SerializerMethodField()

    class Meta:
        model = TargetGroup
        fields = [
            "id",
            "name",
            "description",
            "match",
            "conditions",
            "included_contacts",
            "excluded_contacts",
            "member_count",
            "needs_attention",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError(_("Enter a name."))
        return value.strip()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        conditions_with_match(
            attrs, current_match=self.instance.match if self.instance else Match.ALL
        )
        return attrs

    def get_member_count(self, obj: TargetGroup) -> int | None:
        """``None`` when the group's stored conditions cannot be counted (it needs attention)."""
        counts = self.context.get("member_counts")
        if counts is not None:
            return counts[obj.pk]
        return selectors.target_group_member_count(target_group=obj)

    def get_needs_attention(self, obj: TargetGroup) -> bool:
        """True when the stored conditions are no longer valid: the group selects no one
        (and ``member_count`` is ``None``) until they are fixed."""
        return selectors.target_group_needs_attention(target_group=obj)

    def to_representation(self, instance: TargetGroup) -> dict[str, Any]:
        # A list passes every row's ids in the context (two queries for the page).
        contact_ids = self.context.get("contact_ids")
        if contact_ids is not None:
            included, excluded = contact_ids[instance.pk]
        else:
            included, excluded = selectors.target_group_contact_ids(target_group=instance)
        data = {
            "id": instance.pk,
            "name": instance.name,
            "description": instance.description,
            "match": instance.match,
            "conditions": selectors.target_group_conditions(target_group=instance),
            "included_contacts": included,
            "excluded_contacts": excluded,
            "member_count": (count := self.get_member_count(instance)),
            "needs_attention": count is None,
            "created_at": serializers.DateTimeField().to_representation(instance.created_at),
            "updated_at": serializers.DateTimeField().to_representation(instance.updated_at),
        }
        return data


class CountInputSerializer(serializers.Serializer):
    """Unsaved conditions (and hand-picked contacts) whose members to count."""

    match = serializers.ChoiceField(choices=[m.value for m in Match], required=False)
    conditions = ConditionsField()
    included_contacts = _ids_field()
    excluded_contacts = _ids_field()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        conditions_with_match(attrs)
        return attrs


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class ContactIdsSerializer(serializers.Serializer):
    contacts = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=MAX_HAND_PICKED,
    )


class FieldSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    group = serializers.CharField()
    type = serializers.CharField()
    operators = serializers.ListField(child=serializers.CharField())
    choices = serializers.ListField(child=serializers.DictField(), required=False)

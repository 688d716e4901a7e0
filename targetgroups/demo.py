"""Demo target groups for `manage.py seed_demo` (connected in apps.py)."""

from targetgroups.models import TargetGroup
from targetgroups.services import target_group_create

DEMO_GROUPS = [
    {
        "name": "Helsinki region",
        "description": "Contacts in Helsinki, Espoo and Vantaa.",
        "match": "any",
        "conditions": [
            {"field": "contact.city", "operator": "in", "value": ["Helsinki", "Espoo", "Vantaa"]},
        ],
    },
    {
        "name": "Decision makers",
        "description": "Managing directors and heads of purchasing.",
        "match": "any",
        "conditions": [
            {"field": "contact.title", "operator": "contains", "value": "johtaja"},
            {"field": "contact.title", "operator": "starts_with", "value": "Osto"},
        ],
    },
    {
        "name": "Software customers in Tampere",
        "description": "",
        "match": "all",
        "conditions": [
            {"field": "account.industry", "operator": "equals", "value": "Software"},
            {"field": "account.city", "operator": "equals", "value": "Tampere"},
        ],
    },
]


def seed_demo_target_groups(sender, *, organisation, user, **kwargs) -> str:
    if TargetGroup.objects.filter(organisation=organisation).exists():
        return ""
    for group in DEMO_GROUPS:
        target_group_create(organisation=organisation, created_by=user, **group)
    return f"Target groups: {len(DEMO_GROUPS)} demo groups."

"""Stored conditions become a tree: a flat list is put under the group's match
(``{"match": match, "items": [...]}``). Backwards, a tree of conditions only (no
nested groups) goes back to its list; a nested one stays a tree (the old code shows
such a group as needing attention rather than guessing)."""

from django.db import migrations, models

import targetgroups.fields


def to_tree(apps, schema_editor):
    TargetGroup = apps.get_model("targetgroups", "TargetGroup")
    for group in TargetGroup.objects.only("pk", "match", "conditions").iterator():
        if isinstance(group.conditions, list):
            group.conditions = {"match": group.match, "items": group.conditions}
            group.save(update_fields=["conditions"])


def to_list(apps, schema_editor):
    TargetGroup = apps.get_model("targetgroups", "TargetGroup")
    for group in TargetGroup.objects.only("pk", "match", "conditions").iterator():
        tree = group.conditions
        if not isinstance(tree, dict) or not isinstance(tree.get("items"), list):
            continue
        if any(isinstance(item, dict) and "items" in item for item in tree["items"]):
            continue
        group.conditions = tree["items"]
        group.match = tree.get("match", group.match)
        group.save(update_fields=["conditions", "match"])


class Migration(migrations.Migration):
    dependencies = [("targetgroups", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="targetgroup",
            name="conditions",
            field=models.JSONField(
                blank=True, default=targetgroups.fields.empty_conditions, verbose_name="conditions"
            ),
        ),
        migrations.RunPython(to_tree, to_list),
    ]

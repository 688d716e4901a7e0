# Each contact's opt-out code (#21): new contacts get one from the field's
# default; every existing contact gets its own here.

from django.db import migrations, models

import crm.models

BATCH = 1000

# PostgreSQL: 8 characters from 8 random bytes of gen_random_uuid() (bytes 6
# and 8 carry the version and variant bits, so they are skipped), in one UPDATE.
# The subquery names the row so that it runs for each row, not once.
_BYTES = (0, 1, 2, 3, 4, 5, 10, 11)
_FILL_POSTGRESQL = f"""
UPDATE crm_contact SET optout_code = (
    SELECT {" || ".join(f"SUBSTR(r.a, GET_BYTE(r.v, {i}) % 62 + 1, 1)" for i in _BYTES)}
    FROM (
        SELECT UUID_SEND(GEN_RANDOM_UUID()) AS v, '{crm.models.OPTOUT_CODE_ALPHABET}'::text AS a
        WHERE crm_contact.id IS NOT NULL
    ) r
)
WHERE optout_code = ''
"""


def codes_fill(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(_FILL_POSTGRESQL, params=None)
        return
    Contact = apps.get_model("crm", "Contact")
    ids = list(Contact.objects.filter(optout_code="").order_by("id").values_list("id", flat=True))
    with connection.cursor() as cursor:
        for start in range(0, len(ids), BATCH):
            cursor.executemany(
                "UPDATE crm_contact SET optout_code = %s WHERE id = %s",
                [(crm.models.optout_code_new(), pk) for pk in ids[start : start + BATCH]],
            )


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0007_contact_phone_not_mobile"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="optout_code",
            field=models.CharField(
                blank=True, default="", editable=False, max_length=8, verbose_name="opt-out code"
            ),
        ),
        migrations.AlterField(
            model_name="contact",
            name="optout_code",
            field=models.CharField(
                blank=True,
                default=crm.models.optout_code_new,
                editable=False,
                max_length=8,
                verbose_name="opt-out code",
            ),
        ),
        migrations.RunPython(codes_fill, migrations.RunPython.noop, elidable=True),
    ]

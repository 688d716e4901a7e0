"""A lighter outbound message to write (#21): no plain provider_id index (the
partial unique one serves every look by provider id) and no database constraint
or index of its own on the sendout (see ``OutboundMessage.sendout``)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sms", "0017_sql_codes"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="outboundmessage",
            name="sms_message_provider_id_idx",
        ),
        migrations.AlterField(
            model_name="outboundmessage",
            name="sendout",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="messages",
                to="sms.sendout",
                verbose_name="sendout",
            ),
        ),
    ]

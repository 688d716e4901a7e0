"""Every organisation has its SMS settings row (SMS off, no quota): new ones get
it when they are created (sms/apps.py), existing ones here, so that reads (the
options endpoint) never have to create it."""

from django.db import migrations


def create_missing(apps, schema_editor):
    Organisation = apps.get_model("crm", "Organisation")
    SmsSettings = apps.get_model("sms", "SmsSettings")
    missing = Organisation.objects.filter(sms_settings__isnull=True).values_list("pk", flat=True)
    SmsSettings.objects.bulk_create(
        [SmsSettings(organisation_id=pk) for pk in missing.iterator()], batch_size=1000
    )


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0001_initial"),
        ("sms", "0002_sendout_status_without_failed"),
    ]

    operations = [migrations.RunPython(create_missing, migrations.RunPython.noop)]

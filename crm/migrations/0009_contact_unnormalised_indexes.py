# The contacts whose number was never normalised (#21): a preview and a sendout
# look for them first, through these small indexes instead of a scan of all.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0008_contact_optout_code"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(
                condition=models.Q(("mobile_phone_e164", ""), ("mobile_phone_problem", "")),
                fields=["organisation"],
                name="contact_mobile_phone_raw",
            ),
        ),
        migrations.AddIndex(
            model_name="contact",
            index=models.Index(
                condition=models.Q(("work_phone_e164", ""), ("work_phone_problem", "")),
                fields=["organisation"],
                name="contact_work_phone_raw",
            ),
        ),
    ]

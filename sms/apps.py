from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


class SmsConfig(AppConfig):
    name = "sms"
    verbose_name = _("SMS messages")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from crm.signals import demo_seeded
        from sms.demo import seed_demo_sms
        from sms.quota import sms_settings_create_with_organisation
        from sms.sqlcodes import sqlite_functions_register

        # The per-recipient codes in SQL (sms.sqlcodes): Python functions on SQLite.
        connection_created.connect(sqlite_functions_register, dispatch_uid="sms-sqlite-codes")

        demo_seeded.connect(seed_demo_sms, dispatch_uid="sms-demo")
        post_save.connect(
            sms_settings_create_with_organisation,
            sender="crm.Organisation",
            dispatch_uid="sms-settings-with-organisation",
        )

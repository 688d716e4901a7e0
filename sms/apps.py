from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SmsConfig(AppConfig):
    name = "sms"
    verbose_name = _("SMS messages")

    def ready(self) -> None:
        from crm.signals import demo_seeded
        from sms.demo import seed_demo_sms

        demo_seeded.connect(seed_demo_sms, dispatch_uid="sms-demo")

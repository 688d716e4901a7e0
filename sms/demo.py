"""Demo SMS settings for `manage.py seed_demo` (connected in apps.py)."""

import datetime

from sms.models import QuotaTransaction, SenderAuthorisation, SenderName
from sms.quota import quota_top_up, sms_settings_for

DEMO_QUOTA = 5000


def seed_demo_sms(sender, *, organisation, user, **kwargs) -> str:
    settings = sms_settings_for(organisation=organisation)
    if QuotaTransaction.objects.filter(organisation=organisation).exists():
        return ""
    settings.sms_enabled = True
    settings.named_senders_enabled = True
    settings.operator_number = "+358401234567"
    settings.save(update_fields=["sms_enabled", "named_senders_enabled", "operator_number"])
    SenderName.objects.get_or_create(
        organisation=organisation,
        name="DemoOy",
        defaults={
            "authorisation": SenderAuthorisation.AUTHORISED,
            "authorised_on": datetime.date(2026, 4, 2),
            "authorisation_reference": "TRAFICOM/1234/2026",
        },
    )
    # Applied for, not yet authorised: not offered for texts to Finnish numbers.
    SenderName.objects.get_or_create(organisation=organisation, name="DemoAle")
    quota_top_up(organisation=organisation, amount=DEMO_QUOTA, reason="Demo quota", created_by=user)
    return f"SMS: active, sender name DemoOy approved, quota {DEMO_QUOTA} messages."

import phonenumbers
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from crm.models import Account, Contact, Organisation


def test_seed_demo_makes_realistic_messy_data_and_is_safe_to_rerun(db):
    call_command("seed_demo")
    organisation = Organisation.objects.get(slug="demo")
    assert organisation.name == "Demo Oy"
    # As the login page does: django-axes counts logins per request.
    login = RequestFactory().post("/login/")
    assert authenticate(login, username="demo", password="demo") is not None
    contacts = list(Contact.objects.filter(organisation=organisation))
    assert len(contacts) == 1000
    assert Account.objects.filter(organisation=organisation).count() >= 50

    numbers = [c.mobile_phone for c in contacts]
    assert sum(1 for n in numbers if not n) > 10
    assert sum(1 for n in numbers if n.startswith("0")) > 10  # no country code
    parsed = [phonenumbers.parse(n) for n in numbers if n.startswith("+")]
    assert sum(1 for p in parsed if not phonenumbers.is_valid_number(p)) > 10
    assert len(set(numbers)) < len(numbers) - sum(1 for n in numbers if not n)  # duplicates
    assert sum(1 for c in contacts if c.sms_opt_out) > 10
    assert all(c.sms_opt_out_at for c in contacts if c.sms_opt_out)
    assert any("ä" in c.last_name or "ö" in c.last_name for c in contacts)

    from sms.models import QuotaTransaction
    from targetgroups.models import TargetGroup

    settings = organisation.sms_settings
    assert settings.sms_enabled and settings.quota_balance == 5000
    groups = TargetGroup.objects.filter(organisation=organisation).count()
    assert groups >= 3

    call_command("seed_demo")
    assert Contact.objects.filter(organisation=organisation).count() == 1000
    assert TargetGroup.objects.filter(organisation=organisation).count() == groups
    assert QuotaTransaction.objects.filter(organisation=organisation).count() == 1
    assert Organisation.objects.filter(slug="demo").count() == 1

"""Small builders for the SMS tests: settings, contacts and target groups."""

from collections.abc import Iterable

from crm.models import Contact, Organisation
from sms.models import SenderName, SmsSettings
from sms.quota import quota_top_up, sms_settings_for
from targetgroups.models import TargetGroup
from targetgroups.services import target_group_create


def sms_on(
    organisation: Organisation,
    *,
    quota: int = 0,
    named_senders: bool = False,
    approved: Iterable[str] = (),
    not_approved: Iterable[str] = (),
) -> SmsSettings:
    """SMS active for ``organisation``, with ``quota`` messages topped up."""
    sms_settings = sms_settings_for(organisation=organisation)
    sms_settings.sms_enabled = True
    sms_settings.named_senders_enabled = named_senders
    sms_settings.save()
    for name in approved:
        SenderName.objects.create(organisation=organisation, name=name, approved=True)
    for name in not_approved:
        SenderName.objects.create(organisation=organisation, name=name, approved=False)
    if quota:
        quota_top_up(organisation=organisation, amount=quota, reason="test")
    sms_settings.refresh_from_db()
    return sms_settings


def person(organisation: Organisation, first_name: str = "", **fields) -> Contact:
    """A contact created through the ORM (so ids grow in creation order)."""
    return Contact.objects.create(organisation=organisation, first_name=first_name, **fields)


def group_of(
    organisation: Organisation, contacts: Iterable[Contact], name: str = "G"
) -> TargetGroup:
    """A target group of exactly ``contacts`` (included by hand, no conditions)."""
    return target_group_create(
        organisation=organisation, name=name, included_contacts=[c.pk for c in contacts]
    )


def group_where(organisation: Organisation, field: str, value: str, name: str = "G") -> TargetGroup:
    """A target group of the contacts whose ``field`` equals ``value``."""
    return target_group_create(
        organisation=organisation,
        name=name,
        conditions=[{"field": field, "operator": "equals", "value": value}],
    )

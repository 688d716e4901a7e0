"""Data shared by the hostile-input tests: an organisation where every API route has
something to act on (SMS active, quota, a target group with members, a sendout)."""

from dataclasses import dataclass

from crm.models import Account, Contact, Organisation
from sms.models import Sendout
from sms.quota import quota_top_up, sms_settings_for
from sms.sendouts.create import sendout_create
from targetgroups.models import TargetGroup
from targetgroups.services import target_group_create


@dataclass
class World:
    """One object of each kind in one organisation."""

    organisation: Organisation
    account: Account
    contact: Contact
    target_group: TargetGroup
    sendout: Sendout


def sms_ready(organisation: Organisation, *, quota: int = 1_000) -> None:
    sms_settings = sms_settings_for(organisation=organisation)
    sms_settings.sms_enabled = True
    sms_settings.save(update_fields=["sms_enabled"])
    quota_top_up(organisation=organisation, amount=quota, reason="tests")


def build_world(organisation: Organisation, user, *, name: str = "Kaleva Oy") -> World:
    """An account, a contact at it, a target group holding the contact and a sendout
    of that group, with SMS active and some quota."""
    sms_ready(organisation)
    account = Account.objects.create(organisation=organisation, name=name, city="Helsinki")
    contact = Contact.objects.create(
        organisation=organisation,
        account=account,
        first_name="Matti",
        last_name="Virtanen",
        mobile_phone="+358 40 123 4567",
        city="Helsinki",
    )
    group = target_group_create(
        organisation=organisation,
        name=f"{name} group",
        created_by=user,
        included_contacts=[contact.pk],
    )
    sendout, _created = sendout_create(
        target_group=group,
        created_by=user,
        sender="operator",
        phone_field="mobile_phone",
        body="Hei {{contact.first_name}}!",
    )
    return World(organisation, account, contact, group, sendout)

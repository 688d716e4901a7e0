"""Data shared by the hostile-input tests: an organisation where every API route has
something to act on (SMS active, quota, a target group with members, a sendout)."""

from dataclasses import dataclass
from typing import Any

from crm.models import Account, Contact, Organisation
from sms.models import Sendout
from targetgroups.models import TargetGroup
from tests.factories import (
    AccountFactory,
    ContactFactory,
    SmsSettingsFactory,
    TargetGroupFactory,
    create_sendout,
)


@dataclass
class World:
    """One object of each kind in one organisation."""

    organisation: Organisation
    account: Account
    contact: Contact
    target_group: TargetGroup
    sendout: Sendout

    def object_for(self, path: str) -> Any:
        """The object of the kind an API path acts on (``/api/v1/contacts/{id}/`` ...)."""
        for prefix, obj in (
            ("/api/v1/accounts/", self.account),
            ("/api/v1/contacts/", self.contact),
            ("/api/v1/sms/sendouts/", self.sendout),
            ("/api/v1/target-groups/", self.target_group),
        ):
            if path.startswith(prefix):
                return obj
        raise AssertionError(f"{path}: no object of this kind in the hostile world; add it")


def build_world(organisation: Organisation, user, *, name: str = "Kaleva Oy") -> World:
    """An account, a contact at it, a target group holding the contact and a sendout
    of that group, with SMS active and some quota."""
    SmsSettingsFactory(organisation=organisation, quota=1_000)
    account = AccountFactory(organisation=organisation, name=name, city="Helsinki")
    contact = ContactFactory(
        organisation=organisation,
        account=account,
        mobile_phone="+358 40 123 4567",
    )
    group = TargetGroupFactory(
        organisation=organisation,
        name=f"{name} group",
        created_by=user,
        included_contacts=[contact],
    )
    sendout = create_sendout(
        target_group=group, created_by=user, body="Hei {{contact.first_name}}!"
    )
    return World(organisation, account, contact, group, sendout)

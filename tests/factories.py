"""Test data, built the way production builds it: one factory per model, and the
sendout through the real service so that its quota is reserved as on a press of Send.

This module, tests/sms/conftest.py (``send_to_the_end``) and tests/worker.py
(``sweep``) are the only test helpers that call the sendout services; a service
moving house changes their imports, and the imports of the tests of that service.
"""

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory, Password

from crm.models import Account, Contact, Membership, Organisation, Role
from sms.models import OutboundMessage, SenderName, Sendout, SmsSettings
from sms.quota import quota_top_up, sms_settings_for
from sms.rules.windows import ALWAYS_OPEN
from sms.sendouts.create import sendout_create
from sms.statuses import MessageStatus
from targetgroups.models import TargetGroup
from targetgroups.services import target_group_create

PASSWORD = "pw-123-secret"  # the browser tests log in with it
OPERATOR_NUMBER = "+358401111111"
CITY = "Testikylä"  # the town of the sendable contacts (``TargetGroupFactory(in_town=True)``)
BODY = "Hei {{contact.first_name}}, tervetuloa!"


def number(i: int) -> str:
    """The E.164 mobile number of the i-th contact of ``sendable_contacts``."""
    return f"+35840{2_000_000 + i}"


# --- the CRM ----------------------------------------------------------------------------


class OrganisationFactory(DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Org {n} Oy")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory("tests.factories.UserFactory")
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.MEMBER


class UserFactory(DjangoModelFactory):
    """A user; with ``organisation``, a member of it in ``role`` (member by default)."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    class Params:
        organisation: Organisation | None = None
        role = Role.MEMBER

    username = factory.Sequence(lambda n: f"user{n}")
    password = Password(PASSWORD)
    membership = factory.Maybe(
        "organisation",
        yes_declaration=factory.RelatedFactory(
            MembershipFactory,
            factory_related_name="user",
            organisation=factory.SelfAttribute("..organisation"),
            role=factory.SelfAttribute("..role"),
        ),
    )


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = Account

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Yritys {n} Oy")
    city = "Helsinki"


class ContactFactory(DjangoModelFactory):
    """A person with a valid Finnish mobile number (+358 50 ..., distinct per contact),
    saved through ``Contact.save()`` so that the normalised phone fields are set.
    ``blank=True``: no last name, number or city unless given (for the tests where
    what is missing is the point)."""

    class Meta:
        model = Contact

    class Params:
        blank = factory.Trait(last_name="", mobile_phone="", city="")

    organisation = factory.SubFactory(OrganisationFactory)
    first_name = "Matti"
    last_name = "Virtanen"
    mobile_phone = factory.Sequence(lambda n: f"+358 50 {n // 10_000 % 1000:03d} {n % 10_000:04d}")
    city = "Helsinki"
    # A basis that allows marketing, so that a contact may be texted unless the
    # test is about the basis (tests/sms/test_legal_basis.py).
    legal_basis = "customer_relationship"


def contacts_in_bulk(rows: Iterable[dict[str, Any]]) -> list[Contact]:
    """Many contacts in one INSERT. ``bulk_create`` skips ``Contact.save()``, so the
    normalised phone fields are set here, as ``crm.services.contacts_bulk_create`` does."""
    contacts = [ContactFactory.build(**row) for row in rows]
    for contact in contacts:
        contact.normalise_phones()
    return Contact.objects.bulk_create(contacts, batch_size=1000)


def sendable_contacts(organisation: Organisation, count: int, *, start: int = 0) -> list[Contact]:
    """``count`` contacts in CITY (first names Etu<i>) with the numbers ``number(i)``."""
    return contacts_in_bulk(
        {"organisation": organisation, "first_name": f"Etu{i}", "last_name": "Suku",
         "mobile_phone": number(i), "city": CITY}
        for i in range(start, start + count)
    )  # fmt: skip


def unsendable_contacts(organisation: Organisation) -> list[Contact]:
    """One contact in CITY per skip reason that the data can cause."""
    return contacts_in_bulk(
        {"organisation": organisation, "city": CITY, **row}
        for row in [
            {"first_name": "Opted", "sms_opt_out": True, "mobile_phone": number(90_001)},
            {"first_name": "NoNumber", "mobile_phone": ""},
            {"first_name": "Local", "mobile_phone": "040 123 4567"},
            {"first_name": "Bad", "mobile_phone": "+358 12"},
            # Same number as contact 0: texted once, the lower id keeps it.
            {"first_name": "Twin", "mobile_phone": number(0)},
        ]
    )


# --- target groups ----------------------------------------------------------------------


class TargetGroupFactory(DjangoModelFactory):
    """A group made by ``target_group_create`` (conditions validated, hand-picked
    contacts checked). ``included_contacts`` takes contacts or ids; ``in_town=True``
    makes it every contact in CITY."""

    class Meta:
        model = TargetGroup

    class Params:
        in_town = factory.Trait(
            name="Everybody in the test town",
            conditions=[{"field": "contact.city", "operator": "equals", "value": CITY}],
        )

    organisation = factory.SubFactory(OrganisationFactory)
    name = "G"
    created_by = None
    conditions: list[dict[str, str]] = []
    included_contacts: Sequence[Contact | int] = ()

    @classmethod
    def _create(cls, model_class: type[TargetGroup], *args: Any, **kwargs: Any) -> TargetGroup:
        included = [getattr(c, "pk", c) for c in kwargs.pop("included_contacts")]
        return target_group_create(**kwargs, included_contacts=included)


def people_of_oulu(
    organisation: Organisation, created_by: Any, people: Iterable[tuple[str, str, bool]]
) -> TargetGroup:
    """Kaleva Oy in Oulu, a contact at it (last name Oululainen) for each (first name,
    mobile phone, opted out), and the target group "Oulu" of the contacts in Oulu."""
    account = AccountFactory(organisation=organisation, name="Kaleva Oy", city="Oulu")
    for first_name, mobile_phone, opted_out in people:
        ContactFactory(
            organisation=organisation,
            account=account,
            first_name=first_name,
            last_name="Oululainen",
            city="Oulu",
            mobile_phone=mobile_phone,
            sms_opt_out=opted_out,
        )
    return TargetGroupFactory(
        organisation=organisation,
        name="Oulu",
        created_by=created_by,
        conditions=[{"field": "contact.city", "operator": "equals", "value": "oulu"}],
    )


# --- SMS --------------------------------------------------------------------------------


class SenderNameFactory(DjangoModelFactory):
    class Meta:
        model = SenderName

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Sender{n}")
    approved = True
    # Authorised in Traficom's register unless the test is about the gate
    # (tests/sms/test_sender_registry.py).
    authorisation = "authorised"
    authorised_on = datetime.date(2026, 4, 1)
    authorisation_reference = "TRAFICOM/TEST"


class SmsSettingsFactory(DjangoModelFactory):
    """The organisation's one settings row (``sms_settings_for``) with SMS on and
    OPERATOR_NUMBER as the default sender; then the
    ``approved`` and ``not_approved`` sender names, then ``quota`` topped up through
    the ledger. Its send window is always open."""

    class Meta:
        model = SmsSettings
        skip_postgeneration_save = True

    organisation = factory.SubFactory(OrganisationFactory)
    sms_enabled = True
    operator_number = OPERATOR_NUMBER
    # Open around the clock, so that a test sends whenever it runs; the window
    # tests (tests/sms/test_windows.py) set the default hours themselves.
    send_windows = list(ALWAYS_OPEN)
    closed_on_public_holidays = False

    @classmethod
    def _create(cls, model_class: type[SmsSettings], *args: Any, **kwargs: Any) -> SmsSettings:
        sms_settings = sms_settings_for(organisation=kwargs.pop("organisation"))
        for name, value in kwargs.items():
            setattr(sms_settings, name, value)
        sms_settings.save()
        return sms_settings

    @factory.post_generation
    def approved(obj: SmsSettings, create: bool, extracted: Iterable[str] | None, **kw: Any):
        for name in extracted or ():
            SenderNameFactory(organisation=obj.organisation, name=name, approved=True)

    @factory.post_generation
    def pending(obj: SmsSettings, create: bool, extracted: Iterable[str] | None, **kw: Any):
        """Approved names whose Traficom authorisation is still pending."""
        for name in extracted or ():
            SenderNameFactory(
                organisation=obj.organisation,
                name=name,
                authorisation="pending",
                authorised_on=None,
                authorisation_reference="",
            )

    @factory.post_generation
    def not_approved(obj: SmsSettings, create: bool, extracted: Iterable[str] | None, **kw: Any):
        for name in extracted or ():
            SenderNameFactory(organisation=obj.organisation, name=name, approved=False)

    @factory.post_generation
    def quota(obj: SmsSettings, create: bool, extracted: int | None, **kw: Any) -> None:
        if extracted:
            quota_top_up(organisation=obj.organisation, amount=extracted, reason="test")
            obj.refresh_from_db()


class SendoutFactory(DjangoModelFactory):
    """A bare sendout row: no messages, nothing reserved (for the ledger, model and
    webhook tests). A sendout as Send makes it comes from ``create_sendout``."""

    class Meta:
        model = Sendout

    organisation = factory.SubFactory(OrganisationFactory)
    target_group = None
    sender = "operator"
    phone_field = "mobile_phone"
    body = "Hei"


class OutboundMessageFactory(DjangoModelFactory):
    """One message row; billed one message unless it is skipped."""

    class Meta:
        model = OutboundMessage

    sendout = factory.SubFactory(SendoutFactory)
    contact = None
    to = "+358401234567"
    body = "Hei"
    status = MessageStatus.PENDING
    messages = factory.LazyAttribute(lambda m: 0 if m.status == MessageStatus.SKIPPED else 1)


def create_sendout(
    *,
    target_group: TargetGroup,
    created_by: Any,
    body: str = BODY,
    sender: str = "operator",
    phone_field: str = "mobile_phone",
    **extra: Any,
) -> Sendout:
    """A press of Send: the real ``sendout_create`` (recipients resolved, quota
    reserved, messages written, dispatch enqueued on commit); it must create one."""
    sendout, created = sendout_create(
        target_group=target_group,
        created_by=created_by,
        sender=sender,
        phone_field=phone_field,
        body=body,
        **extra,
    )
    assert created
    return sendout

"""Purposes of a sendout and the legal bases that allow each: pure rules.

A ``marketing`` sendout reaches only contacts whose basis allows marketing
(consent, an existing customer relationship, a person in a business role; an
objection is an opt-out, checked before this); the others are skipped as
``no_legal_basis``. A ``service`` sendout (a transactional notice: an
appointment, a delivery) needs no marketing basis, but only a role that may send
service messages may choose it (``sms.checks``), and it carries no opt-out.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.legal import LegalBasis


class Purpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    SERVICE = "service", _("Service message (appointment, delivery...)")
    # "Send a test" in the modal: one message to the user's own number (#19).
    TEST = "test", _("Test message")


DEFAULT_PURPOSE = Purpose.MARKETING

CHOOSABLE_PURPOSES: tuple[Purpose, ...] = (Purpose.MARKETING, Purpose.SERVICE)
"""The purposes a user chooses for a sendout or a template; a ``test`` sendout is
made only by "Send a test" (``sms.sendouts.test_send``)."""
CHOOSABLE_PURPOSE_CHOICES: list[tuple[str, str]] = [(p.value, p.label) for p in CHOOSABLE_PURPOSES]

BASES_ALLOWING: dict[str, frozenset[str]] = {
    Purpose.MARKETING: frozenset(
        {LegalBasis.CONSENT, LegalBasis.CUSTOMER_RELATIONSHIP, LegalBasis.BUSINESS_ROLE}
    ),
    Purpose.SERVICE: frozenset(LegalBasis.values),
    # A test goes to the user's own number; a member's details only fill the tags.
    Purpose.TEST: frozenset(LegalBasis.values),
}
"""The legal bases on which a sendout of each purpose may text a contact."""


def basis_allows(purpose: str, basis: str) -> bool:
    """Whether a contact with legal basis ``basis`` may get a ``purpose`` sendout."""
    return basis in BASES_ALLOWING[purpose]

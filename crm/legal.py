"""The legal basis on which a contact may be sent marketing: the Finnish and EU
rules (Sähköisen viestinnän palvelulaki 200 §, GDPR art. 6). Model-free, so that
the SMS rules can use the vocabulary without a model import.

- ``consent``: the person said yes beforehand (when, where, and the evidence);
- ``customer_relationship``: an existing customer, for similar products
  (the customer may refuse at any time: that refusal is an opt-out);
- ``business_role``: a person in their business role, allowed unless they object
  (the objection is an opt-out);
- ``none``: nothing recorded; no marketing.
"""

import datetime

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

CONSENT_SOURCE_MAX = 200
CONSENT_EVIDENCE_MAX = 2000


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent")
    CUSTOMER_RELATIONSHIP = "customer_relationship", _("Existing customer relationship")
    BUSINESS_ROLE = "business_role", _("Person in a business role")
    NONE = "none", _("No basis recorded")


class LegalBasisSource(models.TextChoices):
    """Where a contact's legal basis was last set (with who and when on the contact)."""

    USER = "user", _("Set on the contact's page")
    BULK = "bulk", _("Set for many contacts at once")
    API = "api", _("Set through the API")
    ADMIN = "admin", _("Set in admin")
    IMPORT = "import", _("Imported")


LEGAL_BASIS_FIELDS = ("legal_basis", "consent_at", "consent_source", "consent_evidence")
"""The fields whose change is stamped with who, when and where."""


def legal_basis_errors(
    *, legal_basis: str, consent_at: datetime.date | None, consent_source: str
) -> dict[str, str]:
    """What is wrong with a contact's legal basis, by field (empty when nothing):
    consent needs its date (not in the future) and its source."""
    errors: dict[str, str] = {}
    if consent_at is not None and consent_at > timezone.localdate():
        errors["consent_at"] = gettext("The date of consent cannot be in the future.")
    if legal_basis == LegalBasis.CONSENT:
        if consent_at is None:
            errors["consent_at"] = gettext("Consent needs the date it was given.")
        if not (consent_source or "").strip():
            errors["consent_source"] = gettext(
                "Consent needs its source (a web form, a fair, a phone call...)."
            )
    return errors

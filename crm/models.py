"""The CRM core: organisations (tenants), their members, accounts and contacts."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from crm.legal import (
    CONSENT_EVIDENCE_MAX,
    CONSENT_SOURCE_MAX,
    LegalBasis,
    LegalBasisSource,
    legal_basis_errors,
)
from crm.phones import PhoneProblem, normalise_phone
from crm.validators import validate_business_id, validate_country_code, validate_phone_characters

OPTOUT_CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
OPTOUT_CODE_LENGTH = 8  # about 47.6 bits


def optout_code_new() -> str:
    """A new contact's opt-out code: 8 random base-62 characters."""
    return "".join(secrets.choice(OPTOUT_CODE_ALPHABET) for _ in range(OPTOUT_CODE_LENGTH))


class Organisation(models.Model):
    """A CRM customer. Every other row belongs to exactly one organisation."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    MEMBER = "member", _("Member")
    VIEWER = "viewer", _("Viewer (read only)")


class Membership(models.Model):
    """A user's place in one organisation. A user belongs to at most one."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="membership",
        verbose_name=_("user"),
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation}"

    @property
    def can_write(self) -> bool:
        return self.role in {Role.ADMIN, Role.MEMBER}


class Language(models.TextChoices):
    FINNISH = "fi", _("Finnish")
    SWEDISH = "sv", _("Swedish")
    ENGLISH = "en", _("English")
    ESTONIAN = "et", _("Estonian")
    RUSSIAN = "ru", _("Russian")
    GERMAN = "de", _("German")


class Account(models.Model):
    """A company. Its phone is a switchboard, never an SMS recipient."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="accounts"
    )
    name = models.CharField(_("name"), max_length=200)
    business_id = models.CharField(
        _("business ID"), max_length=9, blank=True, validators=[validate_business_id]
    )
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(
        _("country"), max_length=2, blank=True, default="FI", validators=[validate_country_code]
    )
    phone = models.CharField(
        _("phone"), max_length=32, blank=True, validators=[validate_phone_characters]
    )
    email = models.EmailField(_("email"), blank=True)
    website = models.URLField(_("website"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "business_id"],
                condition=~models.Q(business_id=""),
                name="account_business_id_unique_per_organisation",
            )
        ]
        indexes = [
            models.Index(fields=["organisation", "name"]),
            models.Index(Upper("industry"), "organisation", name="account_org_industry_upper"),
            models.Index(Upper("city"), "organisation", name="account_org_city_upper"),
        ]

    def __str__(self) -> str:
        return self.name


class OptOutSource(models.TextChoices):
    USER = "user", _("Changed by a user")
    ADMIN = "admin", _("Changed in admin")
    API = "api", _("Changed through the API")
    IMPORT = "import", _("Imported")
    SMS_REPLY = "sms_reply", _("Reply to an SMS message")
    SMS_LINK = "sms_link", _("Opt-out link in an SMS message")


PHONE_PROBLEM_CHOICES = [
    (PhoneProblem.MISSING_NUMBER.value, _("No phone number")),
    (PhoneProblem.MISSING_COUNTRY_CODE.value, _("Number without country code")),
    (PhoneProblem.INVALID_NUMBER.value, _("Invalid number")),
]

CONTACT_PHONE_FIELDS = ("mobile_phone", "work_phone")
"""Phone fields of a contact stored normalised beside themselves, as
``<field>_e164``, ``<field>_problem`` and ``<field>_not_mobile``."""


class Contact(models.Model):
    """A person, optionally at an account.

    Invariant: ``<phone field>_e164``, ``_problem`` and ``_not_mobile`` hold
    ``crm.phones.normalise_phone(<phone field>)`` for every phone field. The
    services set them, ``save()`` sets them again as a safety net, and a write
    that bypasses both (``QuerySet.update``, ``bulk_create``) must call
    ``normalise_phones()`` itself.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="contacts"
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        verbose_name=_("account"),
    )
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    title = models.CharField(_("title"), max_length=100, blank=True)
    email = models.EmailField(_("email"), blank=True)
    mobile_phone = models.CharField(
        _("mobile phone"), max_length=32, blank=True, validators=[validate_phone_characters]
    )
    work_phone = models.CharField(
        _("work phone"), max_length=32, blank=True, validators=[validate_phone_characters]
    )
    # The phone fields normalised for texting (crm.phones), stored whenever a phone
    # field is written so that an SMS preview of many contacts parses no number.
    mobile_phone_e164 = models.CharField(
        _("mobile phone (E.164)"), max_length=16, blank=True, editable=False
    )
    mobile_phone_problem = models.CharField(
        _("mobile phone problem"),
        max_length=32,
        blank=True,
        editable=False,
        choices=PHONE_PROBLEM_CHOICES,
    )
    mobile_phone_not_mobile = models.BooleanField(
        _("mobile phone is not a mobile"), default=False, db_default=False, editable=False
    )
    work_phone_e164 = models.CharField(
        _("work phone (E.164)"), max_length=16, blank=True, editable=False
    )
    work_phone_problem = models.CharField(
        _("work phone problem"),
        max_length=32,
        blank=True,
        editable=False,
        choices=PHONE_PROBLEM_CHOICES,
    )
    work_phone_not_mobile = models.BooleanField(
        _("work phone is not a mobile"), default=False, db_default=False, editable=False
    )
    city = models.CharField(_("city"), max_length=100, blank=True)
    language = models.CharField(_("language"), max_length=5, blank=True, choices=Language.choices)
    sms_opt_out = models.BooleanField(_("SMS opt-out"), default=False)
    # The secret part of the opt-out links of the texts sent to this contact
    # (sms.optout): random, made once, so that the database writes a sendout's
    # links by reading it rather than computing a keyed hash per recipient.
    # Blank for a contact written past the ORM: its links are keyed hashes.
    optout_code = models.CharField(
        _("opt-out code"),
        max_length=OPTOUT_CODE_LENGTH,
        blank=True,
        default=optout_code_new,
        editable=False,
    )
    sms_opt_out_at = models.DateTimeField(_("SMS opt-out changed at"), null=True, blank=True)
    sms_opt_out_source = models.CharField(
        _("SMS opt-out changed by"), max_length=20, blank=True, choices=OptOutSource.choices
    )
    # The legal basis for marketing texts (crm.legal); an objection is an opt-out.
    legal_basis = models.CharField(
        _("legal basis"), max_length=24, choices=LegalBasis.choices, default=LegalBasis.NONE
    )
    consent_at = models.DateField(_("consent given on"), null=True, blank=True)
    consent_source = models.CharField(
        _("consent source"), max_length=CONSENT_SOURCE_MAX, blank=True
    )
    consent_evidence = models.TextField(
        _("consent evidence"),
        max_length=CONSENT_EVIDENCE_MAX,
        blank=True,
        help_text=_("What the person agreed to, and where the proof is kept."),
    )
    # Who set the basis last, when and where (crm.services.legal_basis_stamp): the
    # migration gave existing contacts "none" and no stamp; nobody's consent is invented.
    legal_basis_changed_at = models.DateTimeField(_("legal basis set at"), null=True, blank=True)
    legal_basis_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("legal basis set by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    legal_basis_changed_via = models.CharField(
        _("legal basis set via"), max_length=16, blank=True, choices=LegalBasisSource.choices
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["last_name", "first_name", "id"]
        indexes = [
            models.Index(fields=["organisation", "last_name", "first_name"]),
            models.Index(fields=["organisation", "created_at"]),
            models.Index(fields=["organisation", "sms_opt_out"]),
            models.Index(Upper("city"), "organisation", name="contact_org_city_upper"),
            models.Index(fields=["organisation", "mobile_phone"]),
            # The few whose number was never normalised (written past save()):
            # what a preview and a sendout look for first, without a scan of all.
            *(
                models.Index(
                    fields=["organisation"],
                    condition=models.Q(**{f"{name}_e164": "", f"{name}_problem": ""}),
                    name=f"contact_{name}_raw",
                )
                for name in CONTACT_PHONE_FIELDS
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or str(self.pk)

    def save(self, *args, **kwargs) -> None:
        self.normalise_phones()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            fields = set(update_fields)
            for name in CONTACT_PHONE_FIELDS:
                if name in fields:
                    fields |= {f"{name}_e164", f"{name}_problem", f"{name}_not_mobile"}
            kwargs["update_fields"] = fields
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        errors = legal_basis_errors(
            legal_basis=self.legal_basis,
            consent_at=self.consent_at,
            consent_source=self.consent_source,
        )
        if errors:
            raise ValidationError(errors)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def normalise_phones(self) -> None:
        """Set the stored normalised form of every phone field from its text."""
        for name in CONTACT_PHONE_FIELDS:
            phone = normalise_phone(getattr(self, name))
            setattr(self, f"{name}_e164", phone.e164)
            setattr(self, f"{name}_problem", str(phone.problem))
            setattr(self, f"{name}_not_mobile", phone.not_mobile)


class PhoneFix(models.Model):
    """The undo record of one "Fix numbers without a country code": who applied it,
    for which default country, and when it was undone (if it was). Its changes are
    ``ContactChange`` rows, each keeping the old value."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="phone_fixes"
    )
    country = models.CharField(_("default country"), max_length=2)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)

    class Meta:
        verbose_name = _("phone number fix")
        verbose_name_plural = _("phone number fixes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.country} {self.created_at:%Y-%m-%d %H:%M}"


class ContactChangeReason(models.TextChoices):
    PHONE_FIX = "phone_fix", _("Number fixed to carry its country code")
    PHONE_FIX_UNDONE = "phone_fix_undone", _("Number fix undone")


class ContactChange(models.Model):
    """One entry of a contact's history: a field's value before and after a change."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="changes")
    field = models.CharField(_("field"), max_length=50)
    old_value = models.CharField(_("old value"), max_length=200, blank=True)
    new_value = models.CharField(_("new value"), max_length=200, blank=True)
    reason = models.CharField(_("reason"), max_length=30, choices=ContactChangeReason.choices)
    phone_fix = models.ForeignKey(
        PhoneFix, on_delete=models.CASCADE, null=True, blank=True, related_name="changes"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("contact change")
        verbose_name_plural = _("contact changes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.field}: {self.old_value} → {self.new_value}"

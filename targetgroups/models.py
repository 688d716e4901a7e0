"""Target groups: contacts chosen by conditions, plus some included or excluded by hand."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from crm.models import Contact, Organisation
from targetgroups.fields import ConditionsInvalid, Match, empty_conditions, validate_conditions


class TargetGroup(models.Model):
    """A segment of one organisation's contacts.

    Members = (contacts matching ``conditions``) + included - excluded. ``conditions``
    is a tree ``{"match": "all"|"any", "items": [...]}`` of conditions ``{"field",
    "operator", "value"}`` and nested groups, checked against the field catalogue
    (``targetgroups.validate_conditions``); ``match`` is the top group's match, kept
    beside it (the services keep the two the same). A group without conditions matches
    no one, so that a new group never silently means "everybody". A flat list stored
    around the services is read as the top group's items under ``match``.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="target_groups"
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    match = models.CharField(
        _("match"),
        max_length=3,
        choices=[(Match.ALL, _("all conditions")), (Match.ANY, _("any condition"))],
        default=Match.ALL,
    )
    conditions = models.JSONField(_("conditions"), default=empty_conditions, blank=True)
    included_contacts = models.ManyToManyField(
        Contact,
        blank=True,
        related_name="target_groups_included",
        verbose_name=_("included contacts"),
    )
    excluded_contacts = models.ManyToManyField(
        Contact,
        blank=True,
        related_name="target_groups_excluded",
        verbose_name=_("excluded contacts"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("target group")
        verbose_name_plural = _("target groups")
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["organisation", "name"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(match__in=[Match.ALL, Match.ANY]),
                name="targetgroup_match_all_or_any",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            self.conditions = validate_conditions(self.conditions, match=self.match)
        except ConditionsInvalid as exc:
            raise ValidationError({"conditions": str(exc.errors)}) from exc
        self.match = self.conditions["match"]

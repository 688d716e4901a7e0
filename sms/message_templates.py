"""Message templates: named messages of an organisation (body, sender, phone field,
purpose) that anyone in it may pick in the modal, and the last message sent to a
target group, offered for reuse.

A template is checked as a sendout is (``sms.checks.sendout_validate``: the body's
length and tags, an approved sender, a phone field), so that picking one never
fills the modal with something the preview refuses at once. A sender name that is
withdrawn later stays in the template; the preview then says so at the sender.
"""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils.translation import gettext as _

from crm.models import Organisation
from sms.checks import sendout_validate
from sms.models import MessageTemplate, Sendout, SmsSettings
from sms.rules import RuleError
from sms.rules.numbers import DEFAULT_PHONE_FIELD
from sms.rules.purposes import CHOOSABLE_PURPOSES, Purpose
from sms.rules.senders import OPERATOR_SENDER
from targetgroups.models import TargetGroup

NAME_MAX = 100
EDITABLE = ("name", "body", "sender", "phone_field", "purpose")


def _settings(organisation: Organisation) -> SmsSettings:
    return SmsSettings.objects.filter(organisation=organisation).first() or SmsSettings(
        organisation=organisation
    )


def _checked(*, organisation: Organisation, template: MessageTemplate, changed: set[str]) -> None:
    """Check the fields in ``changed`` (a sender withdrawn since the template was
    saved does not stop its renaming); raises ``RuleError`` at the field."""
    name = " ".join(template.name.split())
    if not name:
        raise RuleError("name_required", _("Give the template a name."), field="name")
    if len(name) > NAME_MAX:
        raise RuleError(
            "name_too_long",
            _("A name holds at most %(max)s characters.") % {"max": NAME_MAX},
            field="name",
        )
    template.name = name
    if "purpose" in changed and template.purpose not in CHOOSABLE_PURPOSES:
        raise RuleError(
            "invalid_purpose",
            _("Choose a purpose: %(purposes)s.")
            % {"purposes": ", ".join(str(p.label) for p in CHOOSABLE_PURPOSES)},
            field="purpose",
        )
    asked = sendout_validate(
        sms_settings=_settings(organisation),
        sender=template.sender if "sender" in changed else OPERATOR_SENDER,
        phone_field=template.phone_field if "phone_field" in changed else DEFAULT_PHONE_FIELD,
        body=template.body,
    )
    template.body = asked.body
    if "sender" in changed:
        template.sender = asked.sender
    duplicate = (
        MessageTemplate.objects.filter(organisation=organisation)
        .annotate(lower=Lower("name"))
        .filter(lower=name.lower())
        .exclude(pk=template.pk)
    )
    if duplicate.exists():
        raise _name_taken(name)


def _name_taken(name: str) -> RuleError:
    return RuleError(
        "name_taken",
        _("A template named “%(name)s” exists already. Choose another name.") % {"name": name},
        field="name",
    )


def _save(template: MessageTemplate) -> MessageTemplate:
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        # A colleague saved the same name at the same moment.
        raise _name_taken(template.name) from None
    return template


@transaction.atomic
def template_create(
    *, organisation: Organisation, created_by: AbstractBaseUser, data: Mapping[str, Any]
) -> MessageTemplate:
    """Save a new template of ``organisation``. Raises ``RuleError`` at the field
    that is wrong (name empty, too long or taken; body, tags, sender, phone field,
    purpose) and then writes nothing."""
    template = MessageTemplate(
        organisation=organisation,
        created_by=created_by,
        **{field: value for field, value in data.items() if field in EDITABLE},
    )
    _checked(organisation=organisation, template=template, changed=set(EDITABLE))
    return _save(template)


@transaction.atomic
def template_update(*, template: MessageTemplate, data: Mapping[str, Any]) -> MessageTemplate:
    """Change the fields in ``data``; checks them as ``template_create`` does and
    writes nothing when one is wrong."""
    changed = {field for field in data if field in EDITABLE}
    for field in changed:
        setattr(template, field, data[field])
    _checked(organisation=template.organisation, template=template, changed=changed)
    return _save(template)


@transaction.atomic
def template_delete(*, template: MessageTemplate) -> None:
    template.delete()


# --- Reads ---------------------------------------------------------------------------


def template_list(*, organisation: Organisation) -> QuerySet[MessageTemplate]:
    """The organisation's templates by name."""
    return (
        MessageTemplate.objects.filter(organisation=organisation)
        .select_related("created_by")
        .order_by(Lower("name"), "id")
    )


def last_message(*, target_group: TargetGroup) -> Sendout | None:
    """The latest sendout to ``target_group`` (a test is not one): its message,
    sender, phone field and purpose are what "Start from the last message" puts
    into the modal."""
    return (
        Sendout.objects.filter(
            organisation_id=target_group.organisation_id, target_group=target_group
        )
        .exclude(purpose=Purpose.TEST)
        .order_by("-created_at", "-id")
        .only("sender", "phone_field", "body", "purpose", "created_at")
        .first()
    )

from django import template
from django.utils.translation import gettext as _

from sms.replies import reply_list
from sms.rules.purposes import Purpose
from sms.selectors import (
    contact_messages,
    sendout_list,
    sendout_unfinished_list,
    sms_settings_get,
    sms_settings_or_defaults,
)
from sms.statuses import reason_label

register = template.Library()


@register.simple_tag
def sms_send_state(organisation, membership) -> dict:
    """May the member (``request.membership``, or ``None``) send SMS messages here,
    and if not, why (in words)."""
    sms_settings = sms_settings_get(organisation=organisation)
    if sms_settings is None or not sms_settings.sms_enabled:
        return {
            "can_send": False,
            "reason": _(
                "SMS messages are not enabled for your organisation. "
                "An administrator can enable them in the admin."
            ),
        }
    if not membership or not membership.can_write:
        return {"can_send": False, "reason": _("Your role may not send SMS messages.")}
    return {"can_send": True, "reason": ""}


@register.simple_tag
def sms_sendouts(organisation, target_group) -> list:
    """The target group's sendouts, newest first, with their counts (test messages
    are not campaigns: not listed)."""
    return list(
        sendout_list(organisation=organisation)
        .filter(target_group=target_group)
        .exclude(purpose=Purpose.TEST)[:100]
    )


@register.simple_tag
def sms_unfinished(organisation, target_group) -> dict:
    """The target group's scheduled, queued, sending and paused sendouts (not its
    test messages), and the organisation's time zone they are shown in."""
    return {
        "sendouts": list(
            sendout_unfinished_list(organisation=organisation)
            .filter(target_group=target_group)
            .exclude(purpose=Purpose.TEST)[:100]
        ),
        "time_zone": sms_settings_or_defaults(organisation=organisation).time_zone,
    }


@register.simple_tag
def sms_contact_messages(organisation, contact) -> list:
    """The contact's SMS history, newest first."""
    return list(contact_messages(organisation=organisation, contact_id=contact.pk))


@register.simple_tag
def sms_contact_replies(organisation, contact) -> list:
    """The contact's replies, newest first (at most ``REPLIES_SHOWN``)."""
    return list(reply_list(organisation=organisation).filter(contact=contact)[:20])


@register.filter
def sms_reason(reason: str) -> str:
    """A message's skip or error reason in words."""
    return reason_label(reason)

"""Writing a sendout's messages, one row per member (``sms.sendouts.insert``).

A group of up to ``SMS_WRITE_INLINE_MAX`` members is written by the Yes itself,
in its transaction. A larger one (#21) is only tallied by the Yes (one aggregate
over the same decision: the count the user confirmed, the quota, the record),
and the worker writes its messages right after, before the first is claimed
(``sendout_messages_write``, called by the dispatch): writing a million rows
with their indexes took longer than a request may. The texts are then rendered
from the contacts as they are at the write, seconds after the Yes; the bill is
trued up in the write's transaction (a refund, or a further reservation, with
its ledger row), and a sendout the quota or the sender's authorisation no
longer covers is cancelled and refunded whole, with nothing written."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Expression, F, Max, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import DomainError
from sms import sqlcodes, sqlrender, tags
from sms.checks import sender_authorised_or_refuse
from sms.links import link_for
from sms.models import Sendout, SmsSettings
from sms.optout import Optout, optout_for
from sms.quota import quota_refund, quota_reserve, sms_settings_for
from sms.sendouts.common import log_ids
from sms.sendouts.insert import Written, messages_insert, messages_tally
from sms.statuses import SendoutStatus
from targetgroups.models import TargetGroup
from targetgroups.selectors import target_group_members

logger = logging.getLogger(__name__)


def sendout_record(*, written: Written) -> dict:
    """The accountability record of a sendout, written once at creation: what
    the confirmation showed (recipients, skips by reason, messages) and the
    sendable recipients per legal basis."""
    return {
        "recipients": {
            "total": written.total,
            "sendable": written.sendable,
            "skipped": dict(sorted(written.skipped.items())),
        },
        "messages": written.messages,
        "legal_basis": dict(sorted(written.bases.items())),
    }


def members_over(*, target_group: TargetGroup, limit: int) -> bool:
    """Whether the group has more than ``limit`` members (reads at most
    ``limit`` + 1 of them)."""
    members = target_group_members(target_group=target_group).order_by()
    return members[: limit + 1].count() > limit


def write_inline(*, target_group: TargetGroup) -> bool:
    """Whether the Yes writes the group's messages itself (a group of at most
    ``SMS_WRITE_INLINE_MAX`` members)."""
    return not members_over(target_group=target_group, limit=settings.SMS_WRITE_INLINE_MAX)


def _codes_sql(
    *, sendout_id: int, optout: Optout, tracked: bool, target_group: TargetGroup
) -> tuple:
    """The SQL of each recipient's short links and opt-out (``sms.sqlcodes``),
    after refusing ids past the codes' range."""
    link = None
    suffix = None
    if optout.style != "link":
        if optout.chars:
            suffix = sqlrender.text_value(optout.suffix(0, ""))
        if not tracked:
            return link, suffix
    contact_id_max = (
        target_group_members(target_group=target_group).order_by().aggregate(m=Max("id"))["m"]
    )
    sqlcodes.code_ids_or_refuse(
        sendout_id=sendout_id,
        contact_id_max=contact_id_max,
        links=tracked,
        optout=optout.style == "link",
    )
    if tracked:

        def link(index: int) -> Expression:
            return sqlcodes.short_link(Value(sendout_id), F("id"), Value(index))

    if optout.style == "link":
        suffix = sqlcodes.optout_suffix(optout, sendout_id=Value(sendout_id), contact_id=F("id"))
    return link, suffix


def _codes_one_septet(
    *, sendout_id: int, optout: Optout, template: tags.MessageTemplate, tracked: bool
) -> bool:
    """Whether the links and opt-out of a sendout are all one-septet characters:
    their words and prefixes are the same for every recipient, and their codes
    are base 62, so one recipient's (contact 0) answers for all."""
    texts = [optout.suffix(0, "")] if optout.chars else []
    if tracked:
        link = link_for(sendout_id=sendout_id)
        texts += [link(0, slot.index) for slot in template.links]
    return not re.search(sqlrender.NOT_ONE_SEPTET, "".join(texts))


def messages_decide(
    *,
    sendout: Sendout,
    target_group: TargetGroup,
    template: tags.MessageTemplate,
    optout: Optout,
    write: bool,
) -> Written:
    """Write the sendout's messages (``write``), or only tally what they would
    be: the same decision, the same totals. The tally stands every recipient's
    short links and opt-out by contact 0's, which have the same length and
    alphabet (base 62)."""
    tracked = bool(template.links)
    link_sql, suffix_sql = _codes_sql(
        sendout_id=sendout.pk, optout=optout, tracked=tracked, target_group=target_group
    )
    one_septet = _codes_one_septet(
        sendout_id=sendout.pk, optout=optout, template=template, tracked=tracked
    )
    if write:
        return messages_insert(
            sendout=sendout,
            target_group=target_group,
            phone_field=sendout.phone_field,
            template=template,
            purpose=sendout.purpose,
            link=link_sql,
            suffix=suffix_sql,
            codes_one_septet=one_septet,
        )
    link_example: Callable[[int], Expression] | None = None
    if tracked:
        link = link_for(sendout_id=sendout.pk)

        def link_example(index: int) -> Expression:
            return sqlrender.text_value(link(0, index))

    return messages_tally(
        target_group=target_group,
        phone_field=sendout.phone_field,
        template=template,
        purpose=sendout.purpose,
        link=link_example,
        suffix=sqlrender.text_value(optout.suffix(0, "")) if optout.chars else None,
        codes_one_septet=one_septet,
    )


def _template(sendout: Sendout) -> tags.MessageTemplate:
    template = tags.parse_template(sendout.body)
    return template.track_links() if sendout.link_tracking else template


class _Refused(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.detail = code, detail


def sendout_messages_write(*, sendout_id: int) -> bool:
    """Write the messages of a sendout the Yes only tallied; answers whether it
    wrote them. Nothing to do for one already written or finished. One
    transaction, under the sendout's lock: the rows, the bill trued up, and
    ``messages_written``. A cancellation waits for it, and one before it leaves
    nothing to write."""
    with transaction.atomic():
        # Another task writing it (the sweeper's, say) is skipped, not waited for.
        sendout = (
            Sendout.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("organisation", "target_group")
            .filter(pk=sendout_id)
            .first()
        )
        finished = (SendoutStatus.CANCELLED, SendoutStatus.COMPLETED)
        if sendout is None or sendout.messages_written or sendout.status in finished:
            return False
        sms_settings = sms_settings_for(organisation=sendout.organisation)
        try:
            with transaction.atomic():  # a refusal undoes the rows written
                written = _write_and_true_up(sendout=sendout, sms_settings=sms_settings)
        except _Refused as refused:
            _cancel_unwritten(sendout=sendout, code=refused.code, detail=refused.detail)
            return False
        sendout.messages_written = True
        sendout.recipients_total = written.total
        sendout.record = sendout.record | {"written": sendout_record(written=written)}
        sendout.save(update_fields=["messages_written", "recipients_total", "record"])
    logger.info(
        "sms sendout %s written: %s recipients, %s messages",
        sendout.pk,
        written.sendable,
        written.messages,
        extra=log_ids(sendout) | {"recipients": written.sendable, "messages": written.messages},
    )
    return True


def _write_and_true_up(*, sendout: Sendout, sms_settings: SmsSettings) -> Written:
    if sendout.target_group is None:
        raise _Refused("target_group_deleted")
    optout = optout_for(
        sms_settings=sms_settings,
        sender=sendout.sender,
        purpose=sendout.purpose,
        sendout_id=sendout.pk,
        style=sendout.record.get("optout"),  # as confirmed
    )
    written = messages_decide(
        sendout=sendout,
        target_group=sendout.target_group,
        template=_template(sendout),
        optout=optout,
        write=True,
    )
    try:
        sender_authorised_or_refuse(
            sms_settings=sms_settings, sender=sendout.sender, finnish_recipients=written.finnish
        )
    except DomainError as error:
        raise _Refused(error.code, str(error)) from error
    reserved = sendout.messages_charged
    if written.messages < reserved:
        quota_refund(
            organisation=sendout.organisation,
            amount=reserved - written.messages,
            sendout=sendout,
            reason=_("The recipients changed between the confirmation and the sending"),
        )
    elif written.messages > reserved:
        try:
            quota_reserve(
                organisation=sendout.organisation,
                amount=written.messages - reserved,
                sendout=sendout,
            )
        except DomainError as error:
            raise _Refused(error.code, str(error)) from error
    return written


def _cancel_unwritten(*, sendout: Sendout, code: str, detail: str) -> None:
    """Cancel a sendout whose messages cannot be written as confirmed, and
    refund its whole reservation (nothing of it was sent)."""
    charged = sendout.messages_charged
    if charged:
        quota_refund(
            organisation=sendout.organisation,
            amount=charged,
            sendout=sendout,
            reason=_("Sendout cancelled before sending: %(detail)s") % {"detail": detail or code},
        )
    sendout.status = SendoutStatus.CANCELLED
    sendout.finished_at = timezone.now()
    sendout.record = sendout.record | {"written": {"refused": code}}
    sendout.save(update_fields=["status", "finished_at", "record"])
    logger.error(
        "sms sendout %s cancelled before its messages were written: %s",
        sendout.pk,
        code,
        extra=log_ids(sendout) | {"code": code, "messages_refunded": charged},
    )

"""``manage.py sms_reconcile [--organisation KEY] [--sendout ID ...]``: look the
stored ``unknown`` messages up at the provider (``sms.sendouts.reconcile``) and
settle them: found, ``sent``; not found, refunded (or sent again while the sendout
is still open); the provider out of reach, still ``unknown``."""

from django.core.management.base import BaseCommand, CommandParser

from sms.management.commands.sms_quota import find_organisation
from sms.models import OutboundMessage
from sms.sendouts.lifecycle import messages_reconcile_unknown
from sms.sendouts.reconcile import reconciliation_summary
from sms.statuses import MessageStatus


class Command(BaseCommand):
    help = (
        "Reconcile SMS messages left 'unknown' (a crash or a lost connection before this "
        "version) with the provider's list of messages. Prints what became of them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--organisation", help="Only this organisation (slug or name).")
        parser.add_argument(
            "--sendout", type=int, action="append", default=[], metavar="ID",
            help="Only this sendout (repeat for several).",
        )  # fmt: skip

    def handle(self, *args, organisation: str | None, sendout: list[int], **options) -> None:
        messages = OutboundMessage.objects.filter(status=MessageStatus.UNKNOWN)
        if organisation:
            messages = messages.filter(sendout__organisation=find_organisation(organisation))
        if sendout:
            messages = messages.filter(sendout_id__in=sendout)
        outcomes = messages_reconcile_unknown(messages=messages)
        self.stdout.write(reconciliation_summary(outcomes))

"""``manage.py sms_quota <organisation> --add N [--reason TEXT]``: top up (N > 0)
or adjust (N < 0) an organisation's message quota through the ledger."""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from core.errors import DomainError
from crm.models import Organisation
from sms.quota import quota_adjust, quota_top_up


def find_organisation(key: str) -> Organisation:
    """By slug, else by name (ignoring case); an ambiguous name is an error."""
    organisation = Organisation.objects.filter(slug=key).first()
    if organisation is not None:
        return organisation
    matches = list(Organisation.objects.filter(name__iexact=key)[:2])
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CommandError(
            _("Several organisations are named %(name)r: give the slug instead.") % {"name": key}
        )
    raise CommandError(_("No organisation with the slug or name %(key)r.") % {"key": key})


class Command(BaseCommand):
    help = (
        "Top up an organisation's SMS message quota (a negative amount is an adjustment, "
        "refused if it would go below zero). Prints the new balance."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organisation", help="The organisation's slug or name.")
        parser.add_argument(
            "--add",
            type=int,
            required=True,
            metavar="N",
            help="Messages to add; negative to take away.",
        )
        parser.add_argument("--reason", default="", help="Why (stored in the ledger).")

    def handle(self, *args, organisation: str, add: int, reason: str, **options) -> None:
        org = find_organisation(organisation)
        if add == 0:
            raise CommandError(_("--add must not be zero."))
        try:
            if add > 0:
                row = quota_top_up(
                    organisation=org,
                    amount=add,
                    reason=reason or _("Top-up from the command line"),
                )
            else:
                row = quota_adjust(
                    organisation=org,
                    amount=add,
                    reason=reason or _("Adjustment from the command line"),
                )
        except DomainError as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            _("%(organisation)s: %(change)+d messages (%(kind)s); the quota is now %(balance)d.")
            % {
                "organisation": org.name,
                "change": row.amount,
                "kind": row.get_kind_display(),
                "balance": row.balance_after,
            }
        )

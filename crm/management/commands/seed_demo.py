from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from crm import services
from crm.demo import make_demo
from crm.models import Account, Membership, Organisation, Role
from crm.signals import demo_seeded

DEMO_SLUG = "demo"
STAFF_USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Create the demo organisation 'Demo Oy' with user demo/demo and the platform's "
        "staff login admin/admin (Django admin). Safe to run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--contacts", type=int, default=1000)

    @transaction.atomic
    def handle(self, *args, contacts: int, **options) -> None:
        organisation, _ = Organisation.objects.get_or_create(
            slug=DEMO_SLUG, defaults={"name": "Demo Oy"}
        )
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username="demo", defaults={"first_name": "Demo", "last_name": "User"}
        )
        if created:
            user.set_password("demo")  # a local default only; see README
            user.save()
        Membership.objects.get_or_create(
            user=user, defaults={"organisation": organisation, "role": Role.ADMIN}
        )
        # Django admin is the platform's (the SMS provider's) desk: it activates SMS,
        # approves sender names and sells quota, so its login is the platform's staff,
        # not the organisation's administrator.
        staff, created = user_model.objects.get_or_create(
            username=STAFF_USERNAME,
            defaults={"first_name": "Platform", "last_name": "Admin", "is_staff": True},
        )
        if created:
            staff.is_superuser = True
            staff.set_password("admin")  # a local default only; see README
            staff.save()
        if organisation.contacts.exists():
            self.stdout.write("Demo contacts are already there; none added.")
        else:
            self._add_contacts(organisation, contacts)
        for _receiver, answer in demo_seeded.send(
            sender=self.__class__, organisation=organisation, user=user
        ):
            if answer:
                self.stdout.write(str(answer))

    def _add_contacts(self, organisation: Organisation, contacts: int) -> None:
        demo = make_demo(contacts=contacts)
        accounts = [
            services.account_create(organisation=organisation, data=row) for row in demo.accounts
        ]
        rows = []
        for row in demo.contacts:
            row = dict(row)
            index = row.pop("account")
            row["account"] = accounts[index] if index is not None else None
            rows.append(row)
        services.contacts_bulk_create(organisation=organisation, rows=rows)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo Oy: {Account.objects.filter(organisation=organisation).count()} accounts, "
                f"{organisation.contacts.count()} contacts."
            )
        )

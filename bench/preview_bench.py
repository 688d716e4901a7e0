"""How fast an SMS preview is for 10,000 and 100,000 members, against a raw SQL
fetch of the same rows measured in the same run.

Run (PostgreSQL; the database must be migrated)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm python -m bench.preview_bench [N]

Creates an organisation with N (default 100,000) contacts with realistic messy
numbers (``crm.demo``: missing, without country code, invalid, shared, opted
out), a target group matching all of them and one matching about a tenth, then
measures, median of ``RUNS`` runs each:

- fetch: ``cursor.execute`` + ``fetchall`` of the SQL and columns the resolution
  reads (the baseline: what the database and the driver cost at least);
- preview: ``recipients_summarise`` + ``preview_answer``, what
  ``POST /target-groups/{id}/sms/preview/`` does (with ``sendout_validate``).

Prints milliseconds and ratios; asserts nothing. Deletes its data at the end
(unless ``--keep``: then the next run reuses it).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import connection, transaction  # noqa: E402

from crm.demo import make_demo  # noqa: E402
from crm.models import Account, Contact, Organisation  # noqa: E402
from sms import recipients, selectors  # noqa: E402
from sms.checks import sendout_validate  # noqa: E402
from sms.quota import quota_top_up, sms_settings_for  # noqa: E402
from sms.recipients import recipients_summarise  # noqa: E402
from targetgroups.models import TargetGroup  # noqa: E402
from targetgroups.selectors import target_group_members  # noqa: E402

RUNS = 5
BATCH = 5000
SLUG = "bench-preview"
BODY = (
    "Hei {{contact.first_name|ystävä}}! {{account.name|Kumppanimme}} kutsuu sinut "
    "syysseminaariin Helsinkiin 12.10. Ilmoittaudu: example.fi/s"
)


def median_ms(fn: Callable[[], object]) -> float:
    fn()  # warm: caches, plans, the first connection
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def create(n: int) -> Organisation:
    Organisation.objects.filter(slug=SLUG).delete()
    started = time.perf_counter()
    organisation = Organisation.objects.create(name="Bench Oy", slug=SLUG)
    demo = make_demo(accounts=200, contacts=n, seed=7)  # the name pool holds ~250
    accounts = Account.objects.bulk_create(
        [Account(organisation=organisation, **row) for row in demo.accounts], batch_size=BATCH
    )
    for start in range(0, n, BATCH):
        contacts = []
        for row in demo.contacts[start : start + BATCH]:
            row = dict(row)
            index = row.pop("account")
            contact = Contact(
                organisation=organisation,
                account=accounts[index] if index is not None else None,
                **row,
            )
            contact.normalise_phones()  # what the services do for bulk_create
            contacts.append(contact)
        with transaction.atomic():
            Contact.objects.bulk_create(contacts, batch_size=BATCH)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE crm_contact")
            cursor.execute("ANALYZE crm_account")
    quota_top_up(organisation=organisation, amount=10_000_000, reason="bench")
    settings = sms_settings_for(organisation=organisation)
    settings.sms_enabled = True
    settings.save()
    print(f"created {n:,} contacts in {time.perf_counter() - started:.1f} s")
    return organisation


def group(organisation: Organisation, name: str, match: str, conditions: list) -> TargetGroup:
    return TargetGroup.objects.create(
        organisation=organisation, name=name, match=match, conditions=conditions
    )


def measure(target_group: TargetGroup) -> tuple[int, float, float]:
    sms_settings = sms_settings_for(organisation=target_group.organisation)
    asked = sendout_validate(
        sms_settings=sms_settings, sender="operator", phone_field="mobile_phone", body=BODY
    )
    names = recipients._columns(asked.phone_field, asked.template)
    qs = target_group_members(target_group=target_group).order_by("id").values_list(*names)
    sql, params = qs.query.sql_with_params()

    def fetch() -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return len(cursor.fetchall())

    answer: dict = {}

    def preview() -> None:
        asked = sendout_validate(
            sms_settings=sms_settings, sender="operator", phone_field="mobile_phone", body=BODY
        )
        summary = recipients_summarise(
            target_group=target_group, phone_field=asked.phone_field, template=asked.template
        )
        answer.update(
            selectors.preview_answer(sms_settings=sms_settings, body=asked.body, summary=summary)
        )

    rows = fetch()
    fetch_ms = median_ms(fetch)
    preview_ms = median_ms(preview)
    assert answer["recipients"]["total"] == rows
    print(
        f"  {rows:>7,} members: fetch {fetch_ms:7.1f} ms   preview {preview_ms:7.1f} ms   "
        f"ratio {preview_ms / fetch_ms:4.2f}x   "
        f"(sendable {answer['recipients']['sendable']:,}, skipped "
        f"{dict(sorted(answer['recipients']['skipped'].items()))}, messages {answer['messages']:,})"
    )
    return rows, fetch_ms, preview_ms


def cleanup() -> None:
    organisation = Organisation.objects.filter(slug=SLUG).first()
    if organisation is None:
        return
    TargetGroup.objects.filter(organisation=organisation).delete()
    with transaction.atomic():
        Contact.objects.filter(organisation=organisation)._raw_delete(connection.alias)
    organisation.delete()


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    keep = "--keep" in sys.argv  # keep the data for profiling; reused by the next run
    n = int(args[0]) if args else 100_000
    print(f"database: {connection.vendor}; runs: median of {RUNS} after one warm-up")
    try:
        organisation = Organisation.objects.filter(slug=SLUG).first()
        if organisation is None or organisation.contacts.count() != n:
            organisation = create(n)
        TargetGroup.objects.filter(organisation=organisation).delete()
        everyone = group(
            organisation,
            "Everyone",
            "any",
            [
                {"field": "contact.city", "operator": "is_empty", "value": None},
                {"field": "contact.city", "operator": "is_not_empty", "value": None},
            ],
        )
        # Swedish speakers: about a tenth of the demo contacts.
        tenth = group(
            organisation,
            "Swedish",
            "all",
            [{"field": "contact.language", "operator": "equals", "value": "sv"}],
        )
        measure(tenth)
        measure(everyone)
    finally:
        if not keep:
            cleanup()


if __name__ == "__main__":
    main()

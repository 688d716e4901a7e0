"""Member count and first page of members for 100,000 contacts, on PostgreSQL.

    DATABASE_URL=postgres://... python -m bench.targetgroups_bench [--contacts N]

Makes its own organisation (slug ``bench-targetgroups``), fills it with COPY,
measures a few typical condition sets next to a baseline measured in the same run
(a plain count of the organisation's contacts), prints the EXPLAIN of one count,
and deletes the organisation again.
"""

import argparse
import io
import os
import random
import statistics
import time
from collections.abc import Callable

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from crm.models import Account, Contact, Organisation  # noqa: E402
from targetgroups import selectors  # noqa: E402
from targetgroups.models import TargetGroup  # noqa: E402

SLUG = "bench-targetgroups"
CITIES = ["Helsinki", "Espoo", "Tampere", "Vantaa", "Oulu", "Turku", "Jyväskylä", "Lahti", ""]
FIRST = ["Matti", "Aino", "Juha", "Sari", "Mikko", "Päivi", "Timo", "Anna", "Jari", "Tiina"]
LAST = ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Heikkinen"]
INDUSTRIES = ["Retail", "Media", "Software", "Construction", "Forestry", ""]

CASES: dict[str, tuple[str, list[dict]]] = {
    "city is Helsinki": (
        "all",
        [{"field": "contact.city", "operator": "equals", "value": "helsinki"}],
    ),
    "city is not Helsinki and not opted out": (
        "all",
        [
            {"field": "contact.city", "operator": "not_equals", "value": "Helsinki"},
            {"field": "contact.sms_opt_out", "operator": "is_false"},
        ],
    ),
    "account industry is Media or Retail, language fi": (
        "all",
        [
            {"field": "account.industry", "operator": "in", "value": ["media", "retail"]},
            {"field": "contact.language", "operator": "equals", "value": "fi"},
        ],
    ),
    "last name contains 'nen' or account city is empty": (
        "any",
        [
            {"field": "contact.last_name", "operator": "contains", "value": "nen"},
            {"field": "account.city", "operator": "is_empty"},
        ],
    ),
    "created within the last 30 days": (
        "all",
        [{"field": "contact.created_at", "operator": "within_last_days", "value": 30}],
    ),
}


def populate(org: Organisation, n: int) -> None:
    rng = random.Random(7)
    accounts = Account.objects.bulk_create(
        [
            Account(
                organisation=org,
                name=f"Yritys {i} Oy",
                industry=rng.choice(INDUSTRIES),
                city=rng.choice(CITIES),
            )
            for i in range(n // 20)
        ]
    )
    account_ids = [a.pk for a in accounts]
    now = timezone.now()
    buf = io.StringIO()
    for i in range(n):
        account = rng.choice(account_ids) if rng.random() < 0.8 else r"\N"
        created = now - timezone.timedelta(days=rng.randint(0, 720), seconds=rng.randint(0, 86399))
        row = [
            str(org.pk),
            str(account),
            rng.choice(FIRST),
            rng.choice(LAST),
            "",
            f"person{i}@example.fi",
            f"+35840{i:07d}",
            "",
            rng.choice(CITIES),
            rng.choice(["fi", "fi", "fi", "sv", "en", ""]),
            "t" if rng.random() < 0.05 else "f",
            "",
            created.isoformat(),
            created.isoformat(),
        ]
        buf.write("\t".join(row) + "\n")
    buf.seek(0)
    columns = (
        "organisation_id, account_id, first_name, last_name, title, email, mobile_phone, "
        "work_phone, city, language, sms_opt_out, sms_opt_out_source, created_at, updated_at"
    )
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY crm_contact ({columns}) FROM STDIN") as copy:
            copy.write(buf.getvalue())
        cursor.execute("ANALYZE crm_contact")
        cursor.execute("ANALYZE crm_account")


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm the cache and the plan
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL=postgres://... (this bench measures PostgreSQL).")

    Organisation.objects.filter(slug=SLUG).delete()
    org = Organisation.objects.create(name="Bench Oy", slug=SLUG)
    try:
        start = time.perf_counter()
        populate(org, args.contacts)
        print(f"populated {args.contacts:,} contacts in {time.perf_counter() - start:.1f} s\n")

        def baseline_count() -> int:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM crm_contact WHERE organisation_id = %s", [org.pk]
                )
                return cursor.fetchone()[0]

        base = median_ms(baseline_count, args.repeat)
        base_page = median_ms(
            lambda: list(Contact.objects.filter(organisation=org).select_related("account")[:50]),
            args.repeat,
        )
        print(f"{'case':55} {'members':>8} {'count ms':>9} {'x base':>7} {'page ms':>8}")
        print(f"{'baseline: count(*) / first page of all contacts':55} {'':>8} "
              f"{base:9.1f} {1:7.1f} {base_page:8.1f}")  # fmt: skip
        groups = []
        for label, (match, conditions) in CASES.items():
            group = TargetGroup.objects.create(
                organisation=org, name=label, match=match, conditions=conditions
            )
            groups.append(group)
            count = selectors.target_group_member_count(target_group=group)
            count_ms = median_ms(
                lambda g=group: selectors.target_group_member_count(target_group=g), args.repeat
            )
            page_ms = median_ms(
                lambda g=group: list(selectors.target_group_members(target_group=g)[:50]),
                args.repeat,
            )
            print(f"{label:55} {count:8,} {count_ms:9.1f} {count_ms / base:7.1f} {page_ms:8.1f}")

        qs = selectors.target_group_members(target_group=groups[1]).order_by()
        print("\nEXPLAIN ANALYZE of the count for:", groups[1].name)
        sql, params = qs.values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN ANALYZE SELECT count(*) FROM ({sql}) AS members", params)
            for (line,) in cursor.fetchall():
                print("  ", line)
    finally:
        Organisation.objects.filter(pk=org.pk).delete()
        print("\ncleaned up the bench organisation")


if __name__ == "__main__":
    main()

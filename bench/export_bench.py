"""The CSV export of a sendout's recipients: time and peak memory for 100,000 rows,
against a plain fetch of the same columns measured in the same run.

Run (PostgreSQL; the database must be migrated)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm python -m bench.export_bench [N]

Writes a sendout of N (default 100,000) messages with one SQL statement
(``generate_series``, so that writing them costs this process no memory), then
measures, each in the same process one after another (the export first):

- fetch: ``cursor.execute`` + ``fetchall`` of the columns the export reads (the
  baseline: what the database and the driver cost at least, all rows in memory);
- export: ``GET /api/v1/sms/sendouts/{id}/export/`` through Django's whole
  request path (middleware, authentication, DRF), its streamed body read and
  thrown away chunk by chunk, as a client downloading it would.

For each: seconds (median of ``RUNS``), the peak of Python's allocations
(``tracemalloc``, a separate run) and the growth of the process's peak resident
memory (``VmHWM``, reset before each through ``/proc/self/clear_refs``). Prints
the figures; asserts nothing. Deletes its data at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from crm.models import Membership, Organisation, Role  # noqa: E402
from sms.models import OutboundMessage, Sendout  # noqa: E402
from sms.report import EXPORT_COLUMNS  # noqa: E402

RUNS = 3
SLUG = "bench-export"
USERNAME = "bench-export"


def vm_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> None:
    """Start ``VmHWM`` again from the current resident size (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def create(n: int) -> Sendout:
    cleanup()
    organisation = Organisation.objects.create(name="Bench Export Oy", slug=SLUG)
    user = get_user_model().objects.create_user(USERNAME, password=None)
    Membership.objects.create(user=user, organisation=organisation, role=Role.MEMBER)
    sendout = Sendout.objects.create(
        organisation=organisation, sender="operator", phone_field="mobile_phone", body="Hei!"
    )
    table = OutboundMessage._meta.db_table
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Every fifth delivered a minute after sending, every tenth skipped.
        cursor.execute(
            f"""
            INSERT INTO {table} (sendout_id, to, body, messages, encoding, carrier_segments,
                status, reason, error_code, provider_id, attempts, created_at, updated_at,
                sent_at, delivered_at, claimed_by, recovery)
            SELECT %s, '+35840' || lpad(i::text, 7, '0'), 'Hei!',
                CASE WHEN i %% 10 = 0 THEN 0 ELSE 1 END, 'GSM-7', 1,
                CASE WHEN i %% 10 = 0 THEN 'skipped' WHEN i %% 5 = 0 THEN 'sent'
                     ELSE 'delivered' END,
                CASE WHEN i %% 10 = 0 THEN 'missing_number' ELSE '' END,
                '', '', 1, now(), now(),
                CASE WHEN i %% 10 = 0 THEN NULL ELSE now() - (i || ' seconds')::interval END,
                CASE WHEN i %% 5 = 0 THEN NULL
                     ELSE now() - (i || ' seconds')::interval + interval '1 minute' END,
                '', ''
            FROM generate_series(1, %s) AS i
            """.replace(" to,", ' "to",'),
            [sendout.pk, n],
        )
        cursor.execute(f"ANALYZE {table}")
    print(f"wrote {n:,} messages in {time.perf_counter() - started:.1f} s")
    return sendout


def cleanup() -> None:
    organisation = Organisation.objects.filter(slug=SLUG).first()
    if organisation is not None:
        OutboundMessage.objects.filter(sendout__organisation=organisation)._raw_delete(
            connection.alias
        )
        Sendout.objects.filter(organisation=organisation).delete()
        organisation.delete()
    get_user_model().objects.filter(username=USERNAME).delete()


def measure(name: str, fn: Callable[[], int]) -> None:
    fn()  # warm: plans, the connection, imports
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        size = fn()
        times.append(time.perf_counter() - start)
    reset_peak()
    before = vm_kb("VmRSS")
    fn()
    rss_growth = (vm_kb("VmHWM") - before) / 1024
    tracemalloc.start()
    fn()
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    unit = "bytes" if name == "export" else "rows"
    print(
        f"  {name:<8} {statistics.median(times):6.2f} s   python peak {peak / 2**20:6.1f} MB   "
        f"resident peak +{rss_growth:6.1f} MB   ({size:,} {unit})"
    )


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    keep = "--keep" in sys.argv
    n = int(args[0]) if args else 100_000
    if connection.vendor != "postgresql":
        sys.exit("export_bench needs PostgreSQL (DATABASE_URL)")
    try:
        sendout = Sendout.objects.filter(organisation__slug=SLUG).first()
        if sendout is None or sendout.messages.count() != n:
            sendout = create(n)
        fields = sorted({f for c in EXPORT_COLUMNS for f in c.source})
        qs = OutboundMessage.objects.filter(sendout=sendout).order_by("id").values_list(*fields)
        sql, params = qs.query.sql_with_params()

        def fetch() -> int:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return len(cursor.fetchall())

        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(get_user_model().objects.get(username=USERNAME))
        url = f"/api/v1/sms/sendouts/{sendout.pk}/export/"

        def export() -> int:
            response = client.get(url)
            assert response.status_code == 200, response.status_code
            return sum(len(chunk) for chunk in response.streaming_content)

        print(
            f"database: {connection.vendor}; {n:,} recipients; median of {RUNS} after a "
            f"warm-up; load average {os.getloadavg()[0]:.1f}"
        )
        # The export first: its resident peak is measured from a process that has
        # not yet held every row (the fetch grows it for good).
        measure("export", export)
        measure("fetch", fetch)
    finally:
        if not keep:
            cleanup()


if __name__ == "__main__":
    main()

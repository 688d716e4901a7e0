"""CSV import of 100,000 contacts through the import job: time and peak memory, printed.

    DATABASE_URL=postgres://... python -m bench.imports_bench [--rows N] [--tracemalloc]

Writes a CSV the way Excel exports it (UTF-8 with a BOM, ``;``, some quoted
fields, a tenth of the numbers without the country code, one in a thousand rows
broken), then, in its own organisation (slug ``bench-imports``), runs what the
pages do: the upload (header, suggested mapping, row count), the preview (every
row checked), the job (``contact_import_run``, as the worker runs it: the valid
rows imported in one transaction and included in a target group) and the job again
on the same file (every row a duplicate, skipped). Prints each step's wall time and
the process's peak resident memory so far; with ``--tracemalloc`` also the peak
Python allocated in the step (which slows Python down several times). Deletes the
organisation again.
"""

import argparse
import os
import resource
import time
import tracemalloc

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from crm import imports  # noqa: E402
from crm.models import Contact, Organisation  # noqa: E402
from imports import services  # noqa: E402
from imports.models import ContactImport, ImportStatus  # noqa: E402
from targetgroups.models import TargetGroup  # noqa: E402

SLUG = "bench-imports"


def make_csv(rows: int) -> bytes:
    lines = ["Etunimi;Sukunimi;Sähköposti;Matkapuhelin;Kaupunki"]
    for i in range(rows):
        phone = f"040 {i % 1000:03d} {i // 1000:04d}" if i % 10 == 0 else f"+35850{i:07d}"
        if i % 1000 == 999:
            lines.append(f"Rikki;{i}")  # a broken row
            continue
        lines.append(f'Etu{i};"Suku; {i}";bench{i}@example.fi;{phone};Helsinki')
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def measure(label: str, fn, *, trace: bool):
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = f"{label:<34} {elapsed:8.2f} s   peak RSS so far {rss:7.1f} MiB"
    if trace:
        _now, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        line += f"   traced peak {peak / 2**20:7.1f} MiB"
    print(line, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    trace = args.tracemalloc
    Organisation.objects.filter(slug=SLUG).delete()
    org = Organisation.objects.create(name="Bench imports", slug=SLUG)
    group = TargetGroup.objects.create(organisation=org, name="Imported")
    try:
        data = make_csv(args.rows)
        print(f"{args.rows:,} rows, {len(data) / 2**20:.1f} MiB of CSV")

        def run_job(duplicates: str = "skip"):
            job = services.contact_import_upload(
                organisation=org, user=None, file_name="bench.csv", data=data
            )
            # What contact_import_start stores, without handing the job to a worker:
            # this process runs it.
            ContactImport.objects.filter(pk=job.pk).update(
                status=ImportStatus.QUEUED, duplicates=duplicates, target_group=group
            )
            services.contact_import_run(contact_import_id=job.pk)
            job.refresh_from_db()
            return job

        job = measure(
            "upload (header, mapping, count)",
            lambda: services.contact_import_upload(
                organisation=org, user=None, file_name="bench.csv", data=data
            ),
            trace=trace,
        )
        mapping = {int(i): name for i, name in job.mapping.items()}
        preview = measure(
            "preview (check every row)",
            lambda: imports.preview(organisation=org, data=data, mapping=mapping, country="FI"),
            trace=trace,
        )
        print(f"  problems: {len(preview['problems']):,}")
        done = measure("job: import the valid rows", run_job, trace=trace)
        print(
            f"  {done.status}: created {done.created:,}, not imported {len(done.rejected):,};"
            f" contacts: {Contact.objects.filter(organisation=org).count():,},"
            f" included in the group: {group.included_contacts.count():,}"
        )
        again = measure("job again (all duplicates)", run_job, trace=trace)
        print(f"  skipped {again.skipped:,}")
    finally:
        Organisation.objects.filter(slug=SLUG).delete()


if __name__ == "__main__":
    main()

"""CSV import of 100,000 contacts: time and peak memory, printed.

    DATABASE_URL=postgres://... python -m bench.imports_bench [--rows N]

Writes a CSV the way Excel exports it (UTF-8 with a BOM, ``;``, some quoted
fields, a tenth of the numbers without the country code, one in a thousand rows
broken), imports the valid rows into its own organisation (slug ``bench-imports``),
prints the time and the peak memory Python allocated (tracemalloc) for the preview
and for the import, and deletes the organisation again.
"""

import argparse
import os
import time
import tracemalloc

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from crm import imports  # noqa: E402
from crm.models import Contact, Organisation  # noqa: E402

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


def measure(label: str, fn):
    tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<28} {elapsed:8.2f} s   peak {peak / 2**20:7.1f} MiB", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    Organisation.objects.filter(slug=SLUG).delete()
    org = Organisation.objects.create(name="Bench imports", slug=SLUG)
    try:
        data = make_csv(args.rows)
        print(f"{args.rows:,} rows, {len(data) / 2**20:.1f} MiB of CSV")
        header, _rows = imports.reader(imports.decode(data))
        mapping = imports.suggest_mapping(header)
        preview = measure(
            "preview (check every row)",
            lambda: imports.preview(organisation=org, data=data, mapping=mapping, country="FI"),
        )
        print(f"  problems: {len(preview['problems']):,}")
        result = measure(
            "import (valid rows)",
            lambda: imports.contacts_import(
                organisation=org, data=data, mapping=mapping, all_or_none=False
            ),
        )
        print(
            f"  created {result.created:,}, rejected {len(result.rejected):,}; "
            f"in the database: {Contact.objects.filter(organisation=org).count():,}"
        )
        again = measure(
            "import again (all duplicates)",
            lambda: imports.contacts_import(
                organisation=org, data=data, mapping=mapping, all_or_none=False
            ),
        )
        print(f"  skipped {again.skipped:,}")
    finally:
        Organisation.objects.filter(slug=SLUG).delete()


if __name__ == "__main__":
    main()

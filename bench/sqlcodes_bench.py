"""What the database's per-recipient codes cost per row (#21, ``sms.sqlcodes``),
against the Python oracle and a bare row measured in the same run.

Run (PostgreSQL, migrated; the server on this machine for the CPU figures)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm python -m bench.sqlcodes_bench [N]

For N rows (default 1,000,000) of ``generate_series``, one query each,
``SELECT count(f(...)) FROM generate_series(1, N) g`` (no parallel workers, as
in an ``INSERT ... SELECT``), best of ``RUNS``:

- bare: ``count(g)``, what a row costs without a code;
- link: ``sms_link_code`` (a short link's code, 4 SHA-256);
- optout: ``sms_optout_token`` (an opt-out token, HMAC-SHA256);
- python link / python optout: ``link_coder`` and ``optout_token`` per call in
  this process, the oracle the web process used to run per recipient.

Prints microseconds per row, both wall time and the server backend's CPU time
(from /proc, so other load on the machine counts less), with JIT on and off.
Asserts nothing.
"""

from __future__ import annotations

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from sms.optout import optout_token  # noqa: E402
from sms.rules.links import link_coder, link_key  # noqa: E402
from sms.sqlcodes import optout_pads  # noqa: E402

RUNS = 3
SENDOUT_ID = 123_456


def _backend_cpu(pid: int) -> float | None:
    """User and system CPU seconds of the backend, when it runs on this machine."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sql(cursor, pid: int, expression: str, params: list, n: int) -> tuple[float, float | None]:
    best_wall, best_cpu = float("inf"), None
    for _ in range(RUNS):
        cpu = _backend_cpu(pid)
        start = time.perf_counter()
        cursor.execute(f"SELECT count({expression}) FROM generate_series(1, %s) g", [*params, n])
        assert cursor.fetchone()[0] == n
        wall = time.perf_counter() - start
        after = _backend_cpu(pid)
        best_wall = min(best_wall, wall)
        if cpu is not None and after is not None:
            best_cpu = after - cpu if best_cpu is None else min(best_cpu, after - cpu)
    return best_wall, best_cpu


def _python(fn, n: int) -> float:
    start = time.perf_counter()
    for contact_id in range(1, n + 1):
        fn(contact_id)
    return time.perf_counter() - start


def main(n: int = 1_000_000) -> None:
    assert connection.vendor == "postgresql", "PostgreSQL only (DATABASE_URL=postgres://...)"
    key = link_key(settings.SECRET_KEY)
    ipad, opad = optout_pads(settings.SECRET_KEY)
    cases = [
        ("bare", "g", []),
        ("link", "sms_link_code(%s, %s, g, 1)", [key, SENDOUT_ID]),
        ("optout", "sms_optout_token(%s, %s, %s, g)", [ipad, opad, SENDOUT_ID]),
    ]
    print(f"{n:,} rows, best of {RUNS}; microseconds per row (wall / backend CPU)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), version()")
        pid, version = cursor.fetchone()
        print(version.split(",")[0])
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        for jit in ("on", "off"):
            cursor.execute(f"SET jit = {jit}")
            for name, expression, params in cases:
                wall, cpu = _sql(cursor, pid, expression, params, n)
                cpu_text = f"{cpu / n * 1e6:6.2f}" if cpu is not None else "   n/a"
                print(f"  jit {jit:3}  {name:7} {wall / n * 1e6:6.2f} / {cpu_text}")
    coder = link_coder(key=settings.SECRET_KEY, sendout_id=SENDOUT_ID)
    python_n = min(n, 200_000)
    link = _python(lambda contact_id: coder(contact_id, 1), python_n)
    token = _python(
        lambda contact_id: optout_token(sendout_id=SENDOUT_ID, contact_id=contact_id), python_n
    )
    print(f"  python   link    {link / python_n * 1e6:6.2f}   ({python_n:,} calls)")
    print(f"  python   optout  {token / python_n * 1e6:6.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)

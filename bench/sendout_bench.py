"""A whole sendout, end to end, against the raw twilio SDK in the same run.

    DATABASE_URL=postgres://... python -m bench.sendout_bench \
        [--recipients 20000] [--latency 0.05] [--chunk-size 500] [--worker-concurrency 4]

Needs PostgreSQL (``DATABASE_URL``; the bench creates and drops its own scratch
database ``<name>_sendout_bench``) and Redis (``CELERY_TEST_BROKER_URL``, default
redis://127.0.0.1:6379/14, FLUSHED). It starts the Twilio stand-in as its own
process with a fixed latency per request, and a real ``celery -A config worker``
(threads pool) sending through the twilio backend. Then it measures:

- sendout: from ``sendout_create`` (the user's Yes: resolve, reserve, write every
  message, enqueue) to the sendout completed (the last message accepted by the
  stand-in and recorded), and the send alone (the sendout's ``started_at`` to
  ``finished_at``);
- what it cost: the worker's CPU, its PostgreSQL backends' CPU (a local server,
  sampled from ``/proc``), transactions and row updates per message
  (``pg_stat_database``, the Yes included), the worker's idle and peak memory;
- baseline: the raw SDK sending as many messages from a ThreadPoolExecutor with
  as many requests in flight as the whole worker has
  (worker concurrency x ``SMS_SEND_CONCURRENCY``).

Prints the rates, their ratios and the load average. No assertions: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django

ROOT = Path(__file__).resolve().parents[1]
FROM = "+15005550006"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def standin_stats(base_url: str) -> dict:
    with urllib.request.urlopen(f"{base_url}/_standin/stats", timeout=30) as answer:
        return json.load(answer)


def standin_reset(base_url: str) -> None:
    request = urllib.request.Request(f"{base_url}/_standin/reset", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=30).close()


def start_standin(latency: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.sms.twilio_standin", "--port", str(port),
         "--latency", str(latency)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            standin_stats(base_url)
            return process, base_url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the stand-in did not start")


def normalised(contact):  # type: ignore[no-untyped-def]
    """What ``Contact.save`` and the services do, which ``bulk_create`` skips."""
    contact.normalise_phones()
    return contact


def rss_mb(pid: int, field: str) -> float:
    """A process's resident memory (``VmRSS``) or its peak (``VmHWM``) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes so far (0 for one gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


class BackendCpu:
    """CPU seconds of the local PostgreSQL server's processes serving
    ``database`` (their command line names it), other than ``own``: sampled
    (``sample``) while the sendout runs, since the worker's connections close
    with their tasks. A backend's last moments before it exits between two
    samples are missed: a slight undercount."""

    def __init__(self, *, postmaster: int, database: str, own: int) -> None:
        self.postmaster, self.database, self.own = postmaster, database, own
        self.seen: dict[int, float] = {}
        self.before = {pid: cpu_seconds([pid]) for pid in self._serving()}

    def _serving(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.postmaster}/task/{self.postmaster}/children")
            pids = [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []
        serving = []
        for pid in pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if f" {self.database} ".encode() in cmdline and pid != self.own:
                serving.append(pid)
        return serving

    def sample(self) -> None:
        for pid in self._serving():
            self.seen[pid] = max(self.seen.get(pid, 0.0), cpu_seconds([pid]))

    def total(self) -> float:
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in self.seen.items())


def database_counters(cursor, database: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Transactions committed and rows updated in ``database`` so far (the
    statistics collector's view, a little behind)."""
    cursor.execute(
        "SELECT xact_commit + xact_rollback, tup_updated FROM pg_stat_database WHERE datname = %s",
        [database],
    )
    return cursor.fetchone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument(
        "--send-concurrency", type=int, default=32, help="SMS_SEND_CONCURRENCY per chunk"
    )
    args = parser.parse_args()
    n = args.recipients
    in_flight = args.worker_concurrency * args.send_concurrency

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    from crm.legal import LegalBasis
    from crm.models import Contact, Organisation
    from sms.models import Sendout
    from sms.quota import quota_top_up, sms_settings_for
    from sms.sendouts.create import sendout_create
    from sms.statuses import SendoutStatus
    from targetgroups.models import TargetGroup
    from tests.sms.twilio_standin import ACCOUNT_SID, AUTH_TOKEN
    from tests.worker import (
        CeleryWorker,
        app_using_broker,
        broker_url_for_tests,
        database_url,
        flush_broker,
    )

    if connection.vendor != "postgresql":
        sys.exit("The sendout bench needs PostgreSQL: DATABASE_URL=postgres://...")
    db = settings.DATABASES["default"]
    db.setdefault("TEST", {})["NAME"] = f"{db['NAME']}_sendout_bench"
    old_name = db["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    broker = broker_url_for_tests()
    flush_broker(broker)
    standin, base_url = start_standin(args.latency)
    worker = None
    try:
        with app_using_broker(broker) as app:
            organisation = Organisation.objects.create(name="Bench Oy", slug="bench")
            user = get_user_model().objects.create_user(username="bench", password="x-bench-9")
            sms_settings = sms_settings_for(organisation=organisation)
            sms_settings.sms_enabled = True
            sms_settings.operator_number = "+358401111111"
            # Open around the clock: a bench run at night must not be scheduled
            # for the next opening.
            sms_settings.send_windows = ["00:00-24:00"] * 7
            sms_settings.closed_on_public_holidays = False
            sms_settings.save()
            quota_top_up(organisation=organisation, amount=n)
            Contact.objects.bulk_create(
                (
                    normalised(
                        Contact(
                            organisation=organisation,
                            first_name=f"Etu{i}",
                            mobile_phone=f"+35840{2_000_000 + i}",
                            city="Bench",
                            legal_basis=LegalBasis.CUSTOMER_RELATIONSHIP,
                        )
                    )
                    for i in range(n)
                ),
                batch_size=5000,
            )
            group = TargetGroup.objects.create(
                organisation=organisation,
                name="Bench",
                conditions=[{"field": "contact.city", "operator": "equals", "value": "Bench"}],
            )
            worker = CeleryWorker(
                env={
                    "DATABASE_URL": database_url(),
                    "CELERY_BROKER_URL": broker,
                    "SMS_BACKEND": "twilio",
                    "TWILIO_API_BASE_URL": base_url,
                    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_FROM_NUMBER": FROM,
                    "SMS_CHUNK_SIZE": str(args.chunk_size),
                    "SMS_SEND_CONCURRENCY": str(args.send_concurrency),
                    "LOG_LEVEL": "WARNING",
                },
                concurrency=args.worker_concurrency,
                log_path=ROOT / "var" / "bench-worker.log",
            ).start()
            worker.wait_ready(app)
            worker_pid = worker.process.pid
            idle_mb = rss_mb(worker_pid, "VmRSS")
            bench_db = settings.DATABASES["default"]["NAME"]
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                own_backend = cursor.fetchone()[0]
                counters_before = database_counters(cursor, bench_db)
            backends = BackendCpu(
                postmaster=parent_of(own_backend), database=bench_db, own=own_backend
            )
            worker_cpu_before = cpu_seconds([worker_pid])

            # The sendout: Yes → last message accepted.
            started = time.perf_counter()
            sendout, _created = sendout_create(
                target_group=group,
                created_by=user,
                sender="operator",
                phone_field="mobile_phone",
                body="Hei {{contact.first_name}}, kevään tarjous odottaa!",
            )
            created_seconds = time.perf_counter() - started
            deadline = time.monotonic() + 600
            while True:
                status = Sendout.objects.filter(pk=sendout.pk).values_list("status", flat=True)[0]
                if status == SendoutStatus.COMPLETED:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the sendout is still {status} after 10 minutes")
                backends.sample()
                time.sleep(0.05)
            sendout_seconds = time.perf_counter() - started
            worker_cpu = cpu_seconds([worker_pid]) - worker_cpu_before
            peak_mb = rss_mb(worker_pid, "VmHWM")
            backends.sample()
            pg_cpu = backends.total()
            # The statistics reach pg_stat_database within a second or, once a
            # backend is idle, ten: read until they stop moving.
            with connection.cursor() as cursor:
                counters_after = database_counters(cursor, bench_db)
                for _ in range(12):
                    time.sleep(1)
                    connection.close()
                    with connection.cursor() as again:
                        latest = database_counters(again, bench_db)
                    if latest == counters_after:
                        break
                    counters_after = latest
            transactions = counters_after[0] - counters_before[0]
            rows_updated = counters_after[1] - counters_before[1]
            sendout.refresh_from_db()
            counts = sendout.counts
            waited = (sendout.started_at - sendout.created_at).total_seconds()
            ran = (sendout.finished_at - sendout.started_at).total_seconds()
            stats = standin_stats(base_url)
            texted_twice = sum(1 for c in stats["count_by_to"].values() if c > 1)
            standin_reset(base_url)

            # The baseline: the raw SDK, as many requests in flight as the worker.
            class RebasedTwilioHttpClient(TwilioHttpClient):
                def request(self, method, url, *a, **kw):  # type: ignore[no-untyped-def]
                    parts, base = urlsplit(url), urlsplit(base_url)
                    url = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
                    return super().request(method, url, *a, **kw)

            sdk = Client(
                ACCOUNT_SID, AUTH_TOKEN, http_client=RebasedTwilioHttpClient(pool_connections=True)
            )
            sdk.http_client.session.mount(
                "http://",
                __import__("requests").adapters.HTTPAdapter(pool_maxsize=in_flight),
            )

            def raw_send(i: int) -> str:
                body = f"Hei Etu{i}, kevään tarjous odottaa!"
                return sdk.messages.create(to=f"+35841{2_000_000 + i}", body=body, from_=FROM).sid

            raw_send(n + 1)  # warm-up
            with ThreadPoolExecutor(max_workers=in_flight) as pool:
                started = time.perf_counter()
                sids = list(pool.map(raw_send, range(n)))
                raw_seconds = time.perf_counter() - started
    finally:
        if worker is not None:
            worker.stop()
        standin.terminate()
        standin.wait(timeout=10)
        flush_broker(broker)
        connection.creation.destroy_test_db(old_name, verbosity=0)

    sendout_rate = counts["sent"] / sendout_seconds
    raw_rate = len(sids) / raw_seconds
    print(
        f"Sendout bench: {n} recipients, stand-in {args.latency * 1000:.0f} ms per request, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"  worker: --pool=threads --concurrency={args.worker_concurrency}, "
        f"SMS_CHUNK_SIZE={args.chunk_size}, SMS_SEND_CONCURRENCY={args.send_concurrency} "
        f"({in_flight} requests in flight)"
    )
    print(
        f"  sendout, Yes to last acceptance {sendout_rate:8.0f} msg/s  ({sendout_seconds:.2f} s; "
        f"create {created_seconds:.2f} s; sent {counts['sent']}, failed {counts['failed']}, "
        f"unknown {counts['unknown']}, texted twice {texted_twice})"
    )
    print(f"    of which: queued until the worker started it {waited:.2f} s, then ran {ran:.2f} s")
    print(
        f"  sending alone (started to finished)  {counts['sent'] / ran:8.0f} msg/s  "
        f"(ratio to the raw SDK {counts['sent'] / ran / (len(sids) / raw_seconds):.2f})"
    )
    print(
        f"  raw SDK, ThreadPoolExecutor({in_flight})   {raw_rate:8.0f} msg/s  ({raw_seconds:.2f} s)"
    )
    print(f"  ratio sendout / raw SDK: {sendout_rate / raw_rate:.2f}")
    sent = max(1, counts["sent"])
    print(
        f"  worker CPU {worker_cpu:.1f} s ({worker_cpu / sent * 1e6:.0f} us a message), "
        f"its PostgreSQL backends {pg_cpu:.1f} s ({pg_cpu / sent * 1e6:.0f} us a message)"
    )
    print(
        f"  database: {transactions / sent:.2f} transactions and {rows_updated / sent:.2f} "
        f"row updates a message (the Yes included); worker memory idle {idle_mb:.0f} MB, "
        f"peak {peak_mb:.0f} MB"
    )
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()

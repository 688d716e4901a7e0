"""Scale: one target group of N contacts (default 1,000,000), from the count to the
last message accepted, next to the raw twilio SDK in the same run.

    DATABASE_URL=postgres://... python -m bench.scale_bench [--contacts 1000000]
        [--latency 0.05] [--worker-concurrency 2] [--send-concurrency 32]
        [--raw-messages 50000] [--no-send]

Quick runs: ``--contacts 10000`` or ``--contacts 100000``. Needs PostgreSQL (the
bench creates and drops its own scratch database ``<name>_scale_bench``) and
Redis (``CELERY_TEST_BROKER_URL``, FLUSHED). The contacts are written with
``COPY`` (one template contact, normalised as ``Contact.save`` would, then N rows
differing in name and number, the numbers not in the rows' order), not through
the API. Then it measures:

- member count: ``target_group_member_count``;
- preview: ``sendout_preview`` (what ``POST .../sms/preview/`` runs), median of 3;
- Yes: ``sendout_create`` in a process of its own (as a web process would run it:
  Django loaded, the request's work done once), its time and that process's peak
  resident memory next to its idle size before the Yes;
- written: for a group over ``SMS_WRITE_INLINE_MAX`` members, whose messages
  the worker writes after the Yes (``sms.sendouts.write``), from the Yes to
  ``messages_written`` (polled every 0.2 s); with ``--no-send``, the write run
  in the bench's process;
- first message accepted: from the Yes to the earliest ``sent_at``;
- the whole send: a real ``celery -A config worker`` (threads pool) through the
  twilio backend to the stand-in (its own process) at ``--latency`` per request,
  messages per second from the worker's start to the sendout completed, and the
  worker's peak resident memory (``VmHWM``);
- raw SDK: the SDK used the ordinary way (its own ``TwilioHttpClient`` from a
  ThreadPoolExecutor with as many requests in flight as the worker), on
  ``--raw-messages`` messages (default: as many as the sendout, at most 50,000).

Prints one table row; asserts nothing: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django

ROOT = Path(__file__).resolve().parents[1]
FROM = "+15005550006"
BODY = "Hei {{contact.first_name|ystävä}}, kevään tarjous odottaa!"

# The Yes's process and the worker run as in production: with DEBUG on, Django
# keeps the last 9,000 queries of each connection, which the worker's memory
# then measured (up to some 30 MB more at 100,000 messages).
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "scale-bench-secret-key-not-for-production-0123456789",
    "ALLOWED_HOSTS": "localhost",
}


def number(i: int) -> str:
    return f"+35840{2_000_000 + i}"  # 1,000,000 valid Finnish mobile numbers


def shuffle_step(n: int) -> int:
    """A multiplier coprime with n: ``i * step % n`` is a permutation of
    range(n), the i-th contact's number index (each once)."""
    step = 7919  # a prime
    while math.gcd(step, n) != 1:
        step += 2
    return step


def rss_mb(pid: int | str = "self", field: str = "VmHWM") -> float:
    """A process's resident memory (``VmRSS``) or its peak (``VmHWM``) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_peak_mb(pid: int) -> float:
    """The worker's peak resident memory: its own, or with a prefork pool the
    largest of its processes (each child sends on its own)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return max([rss_mb(pid)] + [rss_mb(child) for child in children])


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [str(pid), *Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def yes_child(group_id: int, user_id: int) -> None:
    """The Yes, in this process: prints JSON (start, seconds, idle and peak MB)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.contrib.auth import get_user_model

    from sms.sendouts.create import sendout_create
    from targetgroups.models import TargetGroup

    group = TargetGroup.objects.get(pk=group_id)
    user = get_user_model().objects.get(pk=user_id)
    idle = rss_mb(field="VmRSS")
    start = time.time()
    sendout, _created = sendout_create(
        target_group=group,
        created_by=user,
        sender="operator",
        phone_field="mobile_phone",
        body=BODY,
    )
    seconds = time.time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"sendout": sendout.pk, "start": start, "seconds": seconds,
                      "idle_mb": idle, "peak_mb": peak}))  # fmt: skip


def copy_contacts(organisation, n: int) -> float:  # type: ignore[no-untyped-def]
    """N contacts by COPY; answers the seconds it took (ANALYZE included)."""
    from django.db import connection

    from crm.models import Contact, optout_code_new

    template = Contact(
        organisation=organisation, first_name="Etu", last_name="Suku", city="Bench",
        mobile_phone=number(0), legal_basis="customer_relationship",
    )  # fmt: skip
    template.normalise_phones()
    fields = [f for f in Contact._meta.concrete_fields if not f.primary_key]
    values = {
        f.column: f.get_db_prep_save(f.pre_save(template, add=True), connection) for f in fields
    }
    columns = list(values)
    table = Contact._meta.db_table
    started = time.perf_counter()
    with connection.cursor() as cursor:
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        step = shuffle_step(n)
        with cursor.cursor.copy(sql) as copy:
            for i in range(n):
                # Numbers not in the contacts' order, as in a real CRM: the
                # duplicate-number window's sort has real work to do.
                phone = number(i * step % n)
                row = dict(values, first_name=f"Etu{i}", mobile_phone=phone)
                row["optout_code"] = optout_code_new()
                row["mobile_phone_e164"] = phone
                copy.write_row([row[c] for c in columns])
        cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--send-concurrency", type=int, default=32)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--pool", default="threads", help="the worker's pool: threads, prefork")
    parser.add_argument("--raw-messages", type=int, default=None)
    parser.add_argument("--no-send", action="store_true", help="stop after the Yes")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--yes-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.yes_child:
        yes_child(*args.yes_child)
        return
    n = args.contacts
    in_flight = args.worker_concurrency * args.send_concurrency
    raw_n = args.raw_messages or min(n, 50_000)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

    import requests
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import Min
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    from bench.sendout_bench import start_standin
    from crm.models import Organisation
    from sms.models import OutboundMessage, Sendout
    from sms.quota import quota_top_up, sms_settings_for
    from sms.selectors import sendout_preview
    from sms.sendouts.write import sendout_messages_write
    from sms.statuses import SendoutStatus
    from targetgroups.models import TargetGroup
    from targetgroups.selectors import target_group_member_count
    from tests.sms.twilio_standin import ACCOUNT_SID, AUTH_TOKEN
    from tests.worker import (
        CeleryWorker,
        app_using_broker,
        broker_url_for_tests,
        database_url,
        flush_broker,
    )

    if connection.vendor != "postgresql":
        sys.exit("The scale bench needs PostgreSQL: DATABASE_URL=postgres://...")
    db = settings.DATABASES["default"]
    db.setdefault("TEST", {})["NAME"] = f"{db['NAME']}_scale_bench"
    old_name = db["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    broker = broker_url_for_tests()
    flush_broker(broker)
    standin, base_url = start_standin(args.latency)
    worker = None
    row: dict[str, object] = {"contacts": n}
    try:
        with app_using_broker(broker) as app:
            organisation = Organisation.objects.create(name="Bench Oy", slug="bench")
            user = get_user_model().objects.create_user(username="bench", password="x-bench-9")
            sms_settings = sms_settings_for(organisation=organisation)
            sms_settings.sms_enabled = True
            sms_settings.operator_number = "+358401111111"
            # Open round the clock: run at night, the sendout would wait for 9:00.
            sms_settings.send_windows = ["00:00-24:00"] * 7
            sms_settings.save()
            quota_top_up(organisation=organisation, amount=n)
            row["copy_s"] = copy_contacts(organisation, n)
            group = TargetGroup.objects.create(
                organisation=organisation,
                name="Bench",
                conditions=[{"field": "contact.city", "operator": "equals", "value": "Bench"}],
            )

            def timed(fn) -> float:  # type: ignore[no-untyped-def]
                fn()
                runs = []
                for _ in range(3):
                    started = time.perf_counter()
                    fn()
                    runs.append(time.perf_counter() - started)
                return statistics.median(runs)

            row["count_s"] = timed(lambda: target_group_member_count(target_group=group))
            row["preview_s"] = timed(
                lambda: sendout_preview(
                    target_group=group,
                    sms_settings=sms_settings,
                    sender="operator",
                    phone_field="mobile_phone",
                    body=BODY,
                )
            )

            env = {
                **os.environ,
                "DATABASE_URL": database_url(),
                "CELERY_BROKER_URL": broker,
                "LOG_LEVEL": "WARNING",
                **PRODUCTION,
            }
            if not args.no_send:
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
                        **PRODUCTION,
                    },
                    concurrency=args.worker_concurrency,
                    pool=args.pool,
                    log_path=ROOT / "var" / "bench-scale-worker.log",
                ).start()
                worker.wait_ready(app)
                row["worker_idle_mb"] = rss_mb(worker.process.pid, "VmRSS")
                cpu_before = cpu_seconds(worker.process.pid)

            answer = subprocess.run(
                [sys.executable, "-m", "bench.scale_bench", "--yes-child", str(group.pk),
                 str(user.pk)],
                cwd=ROOT, env=env, check=False, capture_output=True, text=True,
            )  # fmt: skip
            if answer.returncode:
                sys.exit("The Yes failed:\n" + answer.stderr)
            yes = json.loads(answer.stdout.strip().splitlines()[-1])
            row |= {"yes_s": yes["seconds"], "yes_idle_mb": yes["idle_mb"]}
            row["yes_peak_mb"] = yes["peak_mb"]
            sendout_id = yes["sendout"]

            if args.no_send:
                # No worker: the messages a large group's Yes only tallied are
                # written here, as the worker's first task would.
                started = time.time()
                if sendout_messages_write(sendout_id=sendout_id):
                    row["written_s"] = time.time() - started
            else:
                while True:
                    status, written = Sendout.objects.filter(pk=sendout_id).values_list(
                        "status", "messages_written"
                    )[0]
                    if written and "written_s" not in row:
                        row["written_s"] = time.time() - yes["start"]
                    if status == SendoutStatus.COMPLETED:
                        break
                    time.sleep(0.2)
                done = time.time()
                row["worker_peak_mb"] = worker_peak_mb(worker.process.pid)
                row["worker_cpu_s"] = cpu_seconds(worker.process.pid) - cpu_before
                sendout = Sendout.objects.get(pk=sendout_id)
                first = OutboundMessage.objects.filter(sendout_id=sendout_id).aggregate(
                    first=Min("sent_at")
                )["first"]
                row["first_accepted_s"] = first.timestamp() - yes["start"]
                ran = (sendout.finished_at - sendout.started_at).total_seconds()
                row["sent"] = sendout.counts["sent"]
                row["send_rate"] = sendout.counts["sent"] / ran
                row["yes_to_done_s"] = done - yes["start"]
                worker.stop()
                worker = None

                class RebasedTwilioHttpClient(TwilioHttpClient):
                    def request(self, method, url, *a, **kw):  # type: ignore[no-untyped-def]
                        parts, base = urlsplit(url), urlsplit(base_url)
                        url = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
                        return super().request(method, url, *a, **kw)

                sdk = Client(
                    ACCOUNT_SID,
                    AUTH_TOKEN,
                    http_client=RebasedTwilioHttpClient(pool_connections=True),
                )
                sdk.http_client.session.mount(
                    "http://", requests.adapters.HTTPAdapter(pool_maxsize=in_flight)
                )

                def raw_send(i: int) -> str:
                    body = f"Hei Etu{i}, kevään tarjous odottaa!"
                    return sdk.messages.create(to=number(i), body=body, from_=FROM).sid

                raw_send(0)  # warm-up
                with ThreadPoolExecutor(max_workers=in_flight) as pool:
                    started = time.perf_counter()
                    sids = list(pool.map(raw_send, range(raw_n)))
                    row["raw_rate"] = len(sids) / (time.perf_counter() - started)
                row["ratio"] = row["send_rate"] / row["raw_rate"]
    finally:
        if worker is not None:
            worker.stop()
        standin.terminate()
        standin.wait(timeout=10)
        flush_broker(broker)
        if not args.keep:
            connection.creation.destroy_test_db(old_name, verbosity=0)

    print(
        f"Scale bench: {n} contacts, stand-in {args.latency * 1000:.0f} ms per request, "
        f"{os.cpu_count()} CPUs; worker --pool={args.pool} "
        f"--concurrency={args.worker_concurrency}, "
        f"SMS_SEND_CONCURRENCY={args.send_concurrency}, SMS_CHUNK_SIZE={args.chunk_size} "
        f"({in_flight} in flight; raw SDK on {raw_n} messages, {in_flight} threads)"
    )
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}))
    print(
        "| contacts | COPY | member count | preview | Yes (peak / idle MB) | written "
        "| first accepted "
        "| send | raw SDK | ratio | worker idle / peak MB |"
    )

    def cell(key: str, fmt: str) -> str:
        return format(row[key], fmt) if key in row else "-"

    print(
        f"| {n:,} | {cell('copy_s', '.1f')} s | {cell('count_s', '.2f')} s "
        f"| {cell('preview_s', '.2f')} s "
        f"| {cell('yes_s', '.2f')} s ({cell('yes_peak_mb', '.0f')} / {cell('yes_idle_mb', '.0f')}) "
        f"| {cell('written_s', '.2f')} s | {cell('first_accepted_s', '.2f')} s "
        f"| {cell('send_rate', '.0f')} msg/s "
        f"| {cell('raw_rate', '.0f')} msg/s | {cell('ratio', '.2f')} "
        f"| {cell('worker_idle_mb', '.0f')} / {cell('worker_peak_mb', '.0f')} |"
    )


if __name__ == "__main__":
    main()

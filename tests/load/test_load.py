"""Load: many users previewing and confirming sendouts at once, against a live
server on loopback (gunicorn, PostgreSQL test database, a real Celery worker with
the locmem backend), driven by Locust in headless mode (tests/load/locustfile.py).

Several organisations, each with several users (Token auth) and a quota that
fits only part of what they try to send. Afterwards:

- no answer was a 5xx, and Locust counted no failure (an unexpected status, or a
  double click answered with another sendout);
- the quota was never overdrawn: for every organisation, each ledger row's
  ``balance_after`` is the running sum of the ledger (so never below zero), and
  the stored balance equals the sum of the ledger;
- every accepted sendout (202) reserved exactly the messages the user confirmed,
  which are its messages' billed sum, in one reservation row; no sendout exists
  that was not answered 202 (a refused one wrote nothing);
- once the worker is done: charged = reserved - refunded = billed messages that
  left, and each organisation's balance = top-ups - charged.

``test_load_small`` runs in ``make test`` (a few users for a few seconds);
``test_load_soak`` in ``make soak`` (LOAD_USERS, default 20, for LOAD_SECONDS,
default 60). Both print one line of figures.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import Sum
from rest_framework.authtoken.models import Token

from crm.models import Organisation
from sms.models import OutboundMessage, QuotaTransaction, Sendout
from sms.statuses import SendoutStatus
from tests.factories import SmsSettingsFactory, TargetGroupFactory, sendable_contacts
from tests.sms.books import assert_books_balance
from tests.worker import (
    ROOT,
    CeleryWorker,
    broker_url_for_tests,
    database_url,
    free_port,
    sweep,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
CONTACTS_PER_ORGANISATION = 40


@pytest.fixture
def log_dir(request) -> Path:
    path = ROOT / "var" / "load" / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    return path


def server_env() -> dict[str, str]:
    """Production settings on loopback. The per-user rate limits on preview and send
    are lifted (the names the throttling settings read), so that the run measures
    the server and not the limiter; a 429 would still count as a refusal, not a 5xx."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url_for_tests(),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SMS_SEND_RATE": "100000/min",
        "SMS_PREVIEW_RATE": "100000/min",
        "LOG_LEVEL": "WARNING",
    }


class LiveServer:
    """``gunicorn config.wsgi`` (threads) on a free loopback port."""

    def __init__(self, log_path: Path, *, workers: int = 2, threads: int = 8) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.workers = workers
        self.threads = threads
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(gunicorn), "config.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--worker-class", "gthread", "--workers", str(self.workers),
             "--threads", str(self.threads), "--timeout", "60"],
            cwd=ROOT,
            env=server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, f"gunicorn exited: see {self.log_path}"
            assert time.monotonic() < deadline, f"gunicorn did not answer: see {self.log_path}"
            try:
                urllib.request.urlopen(f"{self.url}/api/v1/sms/quota/", timeout=2).close()
            except urllib.error.HTTPError:  # 401: it answers
                return self
            except OSError:
                time.sleep(0.1)

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def make_organisations(make_org, make_user, *, organisations: int, users_per: int, quota: int):
    """Organisations with SMS on, a target group of CONTACTS_PER_ORGANISATION, the
    quota given and ``users_per`` users with tokens; answers the Locust accounts."""
    accounts = []
    for n in range(organisations):
        org = make_org(f"Kuorma {n} Oy")
        SmsSettingsFactory(organisation=org, quota=quota)
        sendable_contacts(org, CONTACTS_PER_ORGANISATION, start=1_000_000 + n * 1000)
        group = TargetGroupFactory(organisation=org, in_town=True)
        for _ in range(users_per):
            token = Token.objects.create(user=make_user(org))
            accounts.append({"token": token.key, "target_group": group.pk, "organisation": org.pk})
    return accounts


def run_locust(host: str, accounts: list[dict], *, users: int, seconds: int, log_dir: Path):
    accounts_file = log_dir / "accounts.json"
    accounts_file.write_text(json.dumps(accounts))
    report_file = log_dir / "report.json"
    report_file.unlink(missing_ok=True)
    locust = Path(sys.executable).with_name("locust")
    with (log_dir / "locust.log").open("wb") as log:
        subprocess.run(
            [str(locust), "-f", str(LOCUSTFILE), "--headless", "--host", host,
             "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
             "--stop-timeout", "10", "--only-summary", "--exit-code-on-error", "0",
             "--loglevel", "WARNING"],
            cwd=ROOT,
            env={**os.environ, "LOAD_ACCOUNTS": str(accounts_file),
                 "LOAD_REPORT": str(report_file)},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=seconds + 60,
            check=True,
        )  # fmt: skip
    return json.loads(report_file.read_text())


def wait_for_worker(timeout: float = 120) -> None:
    """Until every sendout is completed; after ten seconds, the sweeper runs too."""
    started = time.monotonic()
    open_statuses = (SendoutStatus.QUEUED, SendoutStatus.SENDING)
    while Sendout.objects.filter(status__in=open_statuses).exists():
        assert time.monotonic() < started + timeout, "sendouts still open after the load run"
        if time.monotonic() > started + 10:
            sweep(older_than=timedelta(seconds=5))
        time.sleep(0.5)


def check_books(report: dict, organisations: list[Organisation], *, topped_up: int) -> dict:
    accepted = {int(k): v for k, v in report["accepted"].items()}
    sendouts = {s.pk: s for s in Sendout.objects.filter(organisation__in=organisations)}
    # A refused request wrote nothing; every sendout was answered 202 to someone.
    assert set(sendouts) == set(accepted)
    for sendout_id, seen in accepted.items():
        sendout = sendouts[sendout_id]
        billed = (
            OutboundMessage.objects.filter(sendout=sendout).aggregate(n=Sum("messages"))["n"] or 0
        )
        reservations = list(
            QuotaTransaction.objects.filter(sendout=sendout, kind="reservation").values_list(
                "amount", flat=True
            )
        )
        assert sendout.messages_reserved == seen["messages"] == billed, sendout_id
        assert reservations == [-billed], sendout_id
    charged_total = 0
    for org in organisations:
        finished = list(Sendout.objects.filter(organisation=org))
        for sendout in finished:
            assert sendout.status == SendoutStatus.COMPLETED
        assert_books_balance(org, *finished, topped_up=topped_up)
        charged_total += sum(sendout.messages_charged for sendout in finished)
    return {"sendouts": len(accepted), "messages_charged": charged_total}


def load_run(
    make_org: Callable, make_user: Callable, broker, log_dir: Path, *, name: str,
    organisations: int, users_per: int, users: int, seconds: int, sendouts_fit: int,
) -> None:  # fmt: skip
    # Each organisation's quota fits about `sendouts_fit` of the (1- or 2-message) sendouts.
    quota = sendouts_fit * CONTACTS_PER_ORGANISATION * 3 // 2
    accounts = make_organisations(
        make_org, make_user, organisations=organisations, users_per=users_per, quota=quota
    )
    orgs = list(Organisation.objects.filter(pk__in={a["organisation"] for a in accounts}))
    worker = CeleryWorker(
        env={
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url_for_tests(),
            "SMS_BACKEND": "locmem",
            "LOG_LEVEL": "WARNING",
        },
        concurrency=2,
        log_path=log_dir / "worker.log",
    )
    try:
        worker.start()
        worker.wait_ready(broker)
        with LiveServer(log_dir / "gunicorn.log") as server:
            report = run_locust(server.url, accounts, users=users, seconds=seconds, log_dir=log_dir)
        wait_for_worker()
    finally:
        worker.stop()
    books = check_books(report, orgs, topped_up=quota)
    refused = report["refused"].get("insufficient_quota", 0)
    print(
        f"\nLOAD {name}: users={users} organisations={organisations} seconds={seconds} "
        f"requests={report['requests']} failures={report['failures']} "
        f"5xx={report['server_errors']} p50={report['p50_ms']:.0f}ms "
        f"p95={report['p95_ms']:.0f}ms max={report['max_ms']:.0f}ms rps={report['rps']:.1f} "
        f"sendouts_accepted={books['sendouts']} refused_insufficient_quota={refused} "
        f"messages_charged={books['messages_charged']} overdrawn=0"
    )
    assert report["server_errors"] == 0, report["status_codes"]
    assert report["failures"] == 0, report["errors"]
    assert not report["exceptions"], report["exceptions"]
    assert books["sendouts"] > 0, report["status_codes"]
    assert refused > 0, "the quota never ran out: the run proves nothing about overdrawing"


def test_load_small(make_org, make_user, broker, log_dir):
    load_run(make_org, make_user, broker, log_dir, name="small", organisations=2, users_per=3,
             users=6, seconds=8, sendouts_fit=4)  # fmt: skip


@pytest.mark.soak
def test_load_soak(make_org, make_user, broker, log_dir):
    users = int(os.environ.get("LOAD_USERS", "20"))
    load_run(make_org, make_user, broker, log_dir, name="soak", organisations=4,
             users_per=users // 4 or 1, users=users,
             seconds=int(os.environ.get("LOAD_SECONDS", "60")), sendouts_fit=25)  # fmt: skip

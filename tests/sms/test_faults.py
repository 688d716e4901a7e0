"""Fault tests: a real Celery worker, PostgreSQL, Redis and the Twilio stand-in,
with something breaking in the middle of a sendout. After each, once the sweeper
has run, the same invariants hold (``check_invariants``):

- nobody was texted twice (the stand-in took at most one text per number, and
  exactly one for every message that ended sent or delivered; none for a message
  that ended failed, i.e. refunded);
- no message is left without a final status, and none is ``unknown``: whatever a
  crash or an ambiguous answer left open was reconciled with the stand-in's list;
- the quota equals the ledger and what the messages say: charged = billed
  messages that left (sent, delivered, undelivered, unknown), refunded = the rest.

Every test prints one line of figures (``FAULTS <name>: runs=... faults_injected=...
messages=... duplicates=0 lost=0``) for the README's reliability section. The
fast ones run in ``make test``; the ``soak`` ones in ``make soak``.

The workers run beat, so the sweeper runs inside them every second (the test
settings of ``tests/worker.py``: leases of 3 s, a grace period of 1 s after the
request could have ended), as in production every 10 s: it takes over expired
leases, reconciles them with the stand-in's Messages list, and enqueues lost
work again. A killed worker takes its sweeper with it; the next one brings it
back. ``drive_to_completion`` also re-enqueues lost work from the test process
whenever nothing has moved for a while.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from sms.models import OutboundMessage, Sendout
from sms.statuses import MessageStatus, SendoutStatus
from tests.conftest import port_answers, require
from tests.factories import SmsSettingsFactory, create_sendout, sendable_contacts
from tests.sms.books import CHARGED_STATUSES, FINAL_STATUSES, assert_books_balance
from tests.sms.twilio_standin import TwilioStandin
from tests.worker import (
    ROOT,
    Starter,
    app_using_broker,
    database_url,
    free_port,
    standin_worker_env,
    started_workers,
    sweep,
    using_test_broker,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

WORKER_APPLICATION_NAME = "sms-worker"
# Two messages per recipient (over 160 characters), so that billed messages and
# recipients differ in every sum.
BODY = (
    "Hei {{contact.first_name}}! Syysmessut alkavat ensi viikolla, ja olemme "
    "varanneet sinulle paikan. Tervetuloa osastollemme B12 kuulemaan uutuuksista "
    "ja nauttimaan kahvista."
)
# How long nothing may move before the sweeper steps in (the test's SMS_SENDING_TIMEOUT).
QUIET = 2.0
OPEN_STATUSES = (MessageStatus.PENDING, MessageStatus.SENDING)


# --- figures ------------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    runs: int = 1
    faults: dict[str, int] = field(default_factory=dict)
    messages: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    texts: int = 0
    duplicates: int = 0
    unknown: int = 0
    lost: int = 0
    sweeps: int = 0
    seconds: float = 0.0
    recovery: list[float] = field(default_factory=list)
    """Seconds from each kill until every message the dead worker held was settled."""

    def line(self) -> str:
        faults = sum(self.faults.values())
        detail = ", ".join(f"{kind}={n}" for kind, n in self.faults.items())
        statuses = " ".join(f"{status}={n}" for status, n in sorted(self.by_status.items()))
        return (
            f"FAULTS {self.name}: runs={self.runs} faults_injected={faults} ({detail}) "
            f"messages={self.messages} texts={self.texts} [{statuses}] "
            f"duplicates={self.duplicates} unknown={self.unknown} lost={self.lost} "
            f"sweeps={self.sweeps} seconds={self.seconds:.1f}"
            + (
                " recovery_seconds=" + ",".join(f"{r:.1f}" for r in self.recovery)
                if self.recovery
                else ""
            )
        )


# --- harness ------------------------------------------------------------------------------


class RedisServer:
    """Our own ``redis-server`` (no persistence) on a fixed port, to kill and restart."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 10
        while not port_answers("127.0.0.1", self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server did not start: see {self.log_path}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin(seed=8) as running:
        yield running


@pytest.fixture
def log_dir(request) -> Path:
    path = ROOT / "var" / "faults" / request.node.name
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.log"):
        old.unlink()
    return path


@pytest.fixture
def broker_url(require_postgres) -> Iterator[str]:
    """The shared test broker (``CELERY_TEST_BROKER_URL``), flushed around the test."""
    with using_test_broker() as url:
        yield url


@pytest.fixture
def own_redis(require_postgres, log_dir) -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may kill and restart."""
    import shutil

    require(shutil.which("redis-server") is not None, "redis-server on PATH")
    server = RedisServer(free_port(), log_dir / "redis.log").start()
    try:
        yield server
    finally:
        server.kill()


@contextlib.contextmanager
def workers(broker: str, standin: TwilioStandin, log_dir: Path) -> Iterator[Starter]:
    """``start(**env)`` starts a worker on ``broker``; every one is stopped at the end.
    The worker's PostgreSQL sessions are named ``sms-worker`` (application_name)."""
    env = standin_worker_env(
        standin,
        broker_url=broker,
        database=f"{database_url()}?application_name={WORKER_APPLICATION_NAME}",
        SMS_CHUNK_SIZE="25",
        SMS_MAX_ATTEMPTS="5",
    )
    with (
        app_using_broker(broker) as app,
        started_workers(
            app, env=env, log_path=lambda n: log_dir / f"worker-{n}.log", concurrency=2
        ) as start,
    ):
        yield start


def status_counts(sendout: Sendout) -> dict[str, int]:
    return dict(
        OutboundMessage.objects.filter(sendout=sendout)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )


def drive_to_completion(
    sendout: Sendout,
    figures: Figures,
    *,
    timeout: float = 90,
    during: Callable[[], None] | None = None,
) -> None:
    """Wait for the sendout to complete; whenever no message has changed status for
    ``QUIET`` seconds, run the sweeper. ``during`` is called on every look (faults)."""
    deadline = time.monotonic() + timeout
    last: dict[str, int] | None = None
    still_since = time.monotonic()
    while True:
        if during is not None:
            during()
        sendout.refresh_from_db()
        if sendout.status == SendoutStatus.COMPLETED:
            break
        assert time.monotonic() < deadline, f"not completed in {timeout}s: {status_counts(sendout)}"
        now = status_counts(sendout)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since > QUIET:
            sweep(older_than=timedelta(seconds=QUIET))  # lost work only: beat reconciles
            figures.sweeps += 1
            still_since = time.monotonic()
        time.sleep(0.2)
    # The sweeper's run after the end: nothing left for it to find.
    assert sweep(older_than=timedelta(0)) == 0
    figures.sweeps += 1


def script_provider_faults(standin: TwilioStandin) -> None:
    """About 20 % of requests fail: 429 and 5xx (surely no effect: retried), and a
    few taken and then hung up on (ambiguous: found in the provider's list by
    reconciliation, so sent, never retried)."""
    standin.script(probability=0.08, status=429, retry_after="0")
    standin.script(probability=0.07, status=500)
    standin.script(probability=0.06, status=503)
    standin.script(probability=0.03, drop=True)


def provider_faults(standin: TwilioStandin) -> dict[str, int]:
    statuses = [record.status for record in standin.requests]
    return {
        "http_429": statuses.count(429),
        "http_5xx": sum(1 for s in statuses if s is not None and s >= 500),
        "dropped_after_accept": statuses.count(None),
    }


def check_invariants(sendout: Sendout, standin: TwilioStandin, figures: Figures, *, topped_up: int):
    """The invariants of the module docstring; fills and prints ``figures``."""
    sendout.refresh_from_db()
    messages = list(OutboundMessage.objects.filter(sendout=sendout).exclude(to=""))
    counts = standin.count_by_to()
    figures.messages = len(messages)
    figures.texts = sum(counts.values())
    figures.by_status = status_counts(sendout)
    figures.duplicates = sum(1 for n in counts.values() if n > 1)
    figures.lost = sum(1 for m in messages if m.status not in FINAL_STATUSES)
    figures.unknown = sum(1 for m in messages if m.status == MessageStatus.UNKNOWN)
    print("\n" + figures.line())

    assert figures.duplicates == 0, {to: n for to, n in counts.items() if n > 1}
    assert figures.lost == 0, figures.by_status
    assert figures.unknown == 0, figures.by_status
    assert sendout.status == SendoutStatus.COMPLETED
    ours = {m.to for m in messages}
    assert set(counts) <= ours, "the stand-in was sent a number that is not in the sendout"
    for message in messages:
        texts = counts.get(message.to, 0)
        if message.status in (MessageStatus.SENT, MessageStatus.DELIVERED):
            assert texts == 1, (message.to, message.status, texts)
        elif message.status in CHARGED_STATUSES:  # unknown: it may or may not have left
            assert texts <= 1, (message.to, message.status, texts)
        else:  # failed, cancelled, skipped: refunded, so it must not have left
            assert texts == 0, (message.to, message.status, message.reason, texts)
    assert_books_balance(sendout.organisation, sendout, topped_up=topped_up)


# --- fast fault tests (make test) ------------------------------------------------------------


def test_provider_errors_and_dropped_connections(
    org, user, town_group, standin, broker_url, log_dir
):
    """(a) The provider answers about 20 % 429/5xx and sometimes hangs up after
    taking the message, during a sendout of 500."""
    total = 500
    SmsSettingsFactory(organisation=org, quota=2 * total)
    sendable_contacts(org, total)
    script_provider_faults(standin)
    figures = Figures("provider_errors")
    started = time.monotonic()
    with workers(broker_url, standin, log_dir) as start:
        start()
        sendout = create_sendout(target_group=town_group, created_by=user, body=BODY)
        drive_to_completion(sendout, figures)
    figures.faults = provider_faults(standin)
    figures.seconds = time.monotonic() - started
    assert figures.faults["http_429"] + figures.faults["http_5xx"] > total // 10
    assert figures.faults["dropped_after_accept"] > 0
    check_invariants(sendout, standin, figures, topped_up=2 * total)
    recovered = OutboundMessage.objects.filter(sendout=sendout, recovery="recovered").count()
    assert recovered >= figures.faults["dropped_after_accept"]


def terminate_worker_connections() -> int:
    """``pg_terminate_backend`` every session of the worker (application_name
    ``sms-worker``) on this database; answers how many were terminated."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = %s",
            [WORKER_APPLICATION_NAME],
        )
        return cursor.fetchone()[0]


def test_worker_database_connections_dropped_mid_sendout(
    org, user, town_group, standin, broker_url, log_dir
):
    """(b) Every PostgreSQL connection of the worker is terminated, again and again,
    while it sends 500 messages."""
    total = 500
    SmsSettingsFactory(organisation=org, quota=2 * total)
    sendable_contacts(org, total)
    standin.latency = 0.05
    figures = Figures("postgres_connections_dropped")
    terminated = {"rounds": 0, "backends": 0}
    next_at = [0.0]

    def drop_connections() -> None:
        if terminated["rounds"] >= 8 or time.monotonic() < next_at[0]:
            return
        if not standin.received:  # not yet sending: nothing to break
            return
        killed = terminate_worker_connections()
        if killed:
            terminated["rounds"] += 1
            terminated["backends"] += killed
        next_at[0] = time.monotonic() + 0.4

    started = time.monotonic()
    with workers(broker_url, standin, log_dir) as start:
        start()
        sendout = create_sendout(target_group=town_group, created_by=user, body=BODY)
        drive_to_completion(sendout, figures, during=drop_connections)
    figures.faults = {"backends_terminated": terminated["backends"]}
    figures.seconds = time.monotonic() - started
    assert terminated["rounds"] >= 2, "the sendout ended before the faults could matter"
    check_invariants(sendout, standin, figures, topped_up=2 * total)


def test_redis_restarted_mid_sendout(org, user, town_group, standin, own_redis, log_dir):
    """(c) The broker (our own redis-server, no persistence: every queued task is
    lost) is killed mid-sendout and started again two seconds later."""
    total = 500
    SmsSettingsFactory(organisation=org, quota=2 * total)
    sendable_contacts(org, total)
    standin.latency = 0.05
    figures = Figures("redis_restarted")
    restarts = {"n": 0}

    def restart_redis() -> None:
        if restarts["n"] or len(standin.received) < total // 5:
            return
        own_redis.kill()
        time.sleep(2)
        own_redis.start()
        restarts["n"] += 1

    started = time.monotonic()
    with workers(own_redis.url, standin, log_dir) as start:
        start()
        sendout = create_sendout(target_group=town_group, created_by=user, body=BODY)
        drive_to_completion(sendout, figures, during=restart_redis)
    figures.faults = {"redis_restarts": restarts["n"]}
    figures.seconds = time.monotonic() - started
    assert restarts["n"] == 1
    assert len(standin.received) < 2 * total
    check_invariants(sendout, standin, figures, topped_up=2 * total)


# --- workers killed (make test: a few thousand, three kills; make soak: 10,000+, five) ---------


class Stranded:
    """What each kill left in ``sending`` (the dead worker's leases), and when the
    sweeper had settled all of it (found and sent, or back to pending to resend)."""

    def __init__(self, sendout: Sendout) -> None:
        self.sendout = sendout
        self.kills: list[tuple[float, set[int]]] = []
        self.settled: dict[int, float] = {}

    def killed(self) -> None:
        held = set(
            OutboundMessage.objects.filter(
                sendout=self.sendout, status=MessageStatus.SENDING
            ).values_list("id", flat=True)
        )
        self.kills.append((time.monotonic(), held))

    def look(self) -> None:
        for n, (at, held) in enumerate(self.kills):
            if n in self.settled:
                continue
            if not OutboundMessage.objects.filter(
                id__in=held, status=MessageStatus.SENDING
            ).exists():
                self.settled[n] = time.monotonic() - at

    def seconds(self) -> list[float]:
        return [self.settled.get(n, float("nan")) for n in range(len(self.kills))]


def kill_workers_during_sendout(
    *,
    name: str,
    org,
    user,
    town_group,
    standin: TwilioStandin,
    broker_url: str,
    log_dir: Path,
    total: int,
    kills_wanted: int,
    worker_settings: dict[str, str],
    timeout: float,
) -> tuple[Figures, float]:
    """SIGKILL the worker ``kills_wanted`` times, evenly through a sendout of ``total``
    while the provider fails about 20 % of requests; a new worker (with its beat)
    starts after each kill. Answers the figures and the seconds from the last
    restart to the sendout's completion; checks the invariants."""
    SmsSettingsFactory(organisation=org, quota=2 * total)
    sendable_contacts(org, total)
    standin.latency = 0.01
    standin.listing_delay = 0.5
    script_provider_faults(standin)
    figures = Figures(name)
    kills = 0
    started = time.monotonic()
    with workers(broker_url, standin, log_dir) as start:
        worker = start(**worker_settings)
        sendout = create_sendout(target_group=town_group, created_by=user, body=BODY)
        stranded = Stranded(sendout)
        step = total // (kills_wanted + 2)
        while kills < kills_wanted:
            deadline = time.monotonic() + 120
            while len(standin.received) < step * (kills + 1):
                assert time.monotonic() < deadline, "the worker never got going"
                stranded.look()
                time.sleep(0.02)
            worker.kill()
            kills += 1
            stranded.killed()
            worker = start(**worker_settings)
        restarted = time.monotonic()
        drive_to_completion(sendout, figures, timeout=timeout, during=stranded.look)
        finished = time.monotonic() - restarted
        stranded.look()
    figures.faults = {"sigkill": kills, **provider_faults(standin)}
    figures.seconds = time.monotonic() - started
    figures.recovery = stranded.seconds()
    figures.name = f"{name} (worker processes: {kills + 1})"
    assert kills == kills_wanted
    assert sum(len(held) for _at, held in stranded.kills) > 0, "no kill caught a worker sending"
    check_invariants(sendout, standin, figures, topped_up=2 * total)
    print(f"FAULTS {name}: completed {finished:.1f}s after the last restart")
    return figures, finished


def test_worker_killed_three_times_with_provider_faults(
    org, user, town_group, standin, broker_url, log_dir
):
    """(d) Issue #16: the worker is SIGKILLed three times during a sendout of 2,000
    while the provider answers 429/5xx and hangs up after taking messages. Nobody
    is texted twice, no message ends unknown, the books balance, and the sendout
    completes within 60 s of the last restart."""
    figures, finished = kill_workers_during_sendout(
        name="worker_killed",
        org=org,
        user=user,
        town_group=town_group,
        standin=standin,
        broker_url=broker_url,
        log_dir=log_dir,
        total=int(os.environ.get("FAULTS_RECIPIENTS", "2000")),
        kills_wanted=3,
        worker_settings={"SMS_CHUNK_SIZE": "50", "SMS_SEND_CONCURRENCY": "8"},
        timeout=90,
    )
    assert finished < 60, finished
    assert all(seconds < 60 for seconds in figures.recovery), figures.recovery


# --- soak (make soak) ----------------------------------------------------------------------


@pytest.mark.soak
def test_soak_worker_killed_repeatedly_with_provider_faults(
    org, user, town_group, standin, broker_url, log_dir
):
    """The worker is SIGKILLed five times during a sendout of 10,000 while the
    provider fails about 20 % of requests; a new worker starts after each crash."""
    _figures, finished = kill_workers_during_sendout(
        name="soak_worker_killed",
        org=org,
        user=user,
        town_group=town_group,
        standin=standin,
        broker_url=broker_url,
        log_dir=log_dir,
        total=int(os.environ.get("SOAK_RECIPIENTS", "10000")),
        kills_wanted=int(os.environ.get("SOAK_KILLS", "5")),
        worker_settings={"SMS_CHUNK_SIZE": "100", "SMS_SEND_CONCURRENCY": "16"},
        timeout=300,
    )
    assert finished < 60, finished

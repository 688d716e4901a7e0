"""A real ``celery -A config worker`` in a subprocess, and the test process's Celery
app pointed at the same broker; the environment of a worker that sends through the
Twilio stand-in, and the sweeper as beat runs it. Used by the integration, fault
and load tests and the bench."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import kombu.pools
from django.conf import settings
from django.db import connection

from sms.sendouts.common import sendout_enqueue
from sms.sendouts.lifecycle import sweep_stuck_messages

if TYPE_CHECKING:
    from tests.sms.twilio_standin import TwilioStandin

ROOT = Path(__file__).resolve().parents[1]  # the checkout
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"
CALLBACK_BASE = "https://crm.example.com"
TWILIO_FROM = "+15005550006"


def broker_url_for_tests() -> str:
    """The Redis database the tests and the bench may flush (``CELERY_TEST_BROKER_URL``)."""
    return os.environ.get("CELERY_TEST_BROKER_URL") or DEFAULT_BROKER_URL


def database_url() -> str:
    """A URL for the database this process uses now (the test database under pytest)."""
    db = settings.DATABASES["default"]
    assert connection.vendor == "postgresql", "the worker shares PostgreSQL with the test"
    user = quote(db.get("USER") or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def flush_broker(url: str) -> None:
    """Empty the broker's Redis database (only that one)."""
    import redis

    redis.Redis.from_url(url).flushdb()


@contextlib.contextmanager
def app_using_broker(url: str) -> Iterator[object]:
    """Point ``config.celery.app`` (which ``sendout_enqueue`` uses) at ``url`` for a while."""
    from config.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)

    def reset_pools() -> None:
        # kombu keeps pools per connection URL, process-wide: close and forget them all.
        kombu.pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    reset_pools()
    app.conf.broker_url = url
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    try:
        yield app
    finally:
        reset_pools()
        app.conf.broker_url, app.conf.broker_transport_options = saved


class CeleryWorker:
    """``celery -A config worker`` as its own process group (so SIGKILL takes all of it).
    With ``beat`` it runs the periodic sweeper too, as ``tools/run`` does: killing
    the worker kills its sweeper, and the next worker brings it back."""

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        concurrency: int = 4,
        pool: str = "threads",
        log_path: Path | None = None,
        beat: bool = False,
    ) -> None:
        self.env = {**os.environ, **env}
        self.concurrency = concurrency
        self.pool = pool
        self.log_path = log_path or ROOT / "var" / "test-worker.log"
        self.beat = beat
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> CeleryWorker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        celery = Path(sys.executable).with_name("celery")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(celery),
                "-A",
                "config",
                "worker",
                f"--pool={self.pool}",
                f"--concurrency={self.concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
                "--hostname=sms-test-worker-%h-" + str(time.monotonic_ns()),
                *(
                    [
                        "--beat",
                        f"--schedule={self.log_path.with_suffix('')}-beat-{time.monotonic_ns()}",
                    ]
                    if self.beat
                    else []
                ),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def wait_ready(self, app, *, timeout: float = 60) -> None:
        """Until the worker answers a ping through the broker: proof that the test
        process and the worker share it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited: see {self.log_path}")
            if app.control.ping(timeout=0.5):
                return
        raise RuntimeError(f"the worker did not answer within {timeout}s: see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, nothing cleaned up."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@contextlib.contextmanager
def using_test_broker() -> Iterator[str]:
    """The shared test broker (``CELERY_TEST_BROKER_URL``): required (a skip, or a
    failure under REQUIRE_SERVICES=1) and flushed before and after its use."""
    from tests.conftest import port_answers, require

    url = broker_url_for_tests()
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition("@")[2].partition(":")
    require(port_answers(host, int(port or 6379)), f"Redis at {url} (CELERY_TEST_BROKER_URL)")
    flush_broker(url)
    try:
        yield url
    finally:
        flush_broker(url)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def standin_worker_env(
    standin: TwilioStandin, *, broker_url: str, database: str | None = None, **overrides: str
) -> dict[str, str]:
    """The environment of a worker that shares the test database (or ``database``)
    and sends through the Twilio stand-in: short timeouts, backoffs, leases and
    sweeps, so that retries and recovery happen within a test; ``overrides`` win."""
    return {
        "DATABASE_URL": database or database_url(),
        "CELERY_BROKER_URL": broker_url,
        **standin.settings(),
        "TWILIO_FROM_NUMBER": TWILIO_FROM,
        "TWILIO_MESSAGING_SERVICE_SID": "",
        "SMS_STATUS_CALLBACK_BASE_URL": CALLBACK_BASE,
        "SMS_SEND_CONCURRENCY": "8",
        "SMS_SEND_TIMEOUT": "2,5",
        "SMS_RETRY_BACKOFF_BASE": "0.05",
        "SMS_RETRY_BACKOFF_MAX": "0.3",
        "SMS_LEASE_SECONDS": "3",
        "SMS_SWEEP_INTERVAL": "1",
        "SMS_RECONCILE_GRACE": "1",
        "SMS_LOST_WORK_SECONDS": "3",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


Starter = Callable[..., CeleryWorker]


@contextlib.contextmanager
def started_workers(
    app, *, env: Mapping[str, str], log_path: Callable[[int], Path], concurrency: int
) -> Iterator[Starter]:
    """``start(concurrency=..., **env)`` starts a worker with beat (the n-th logs to
    ``log_path(n)``) and waits until it answers through ``app``'s broker; every
    worker started is stopped at the end."""
    started: list[CeleryWorker] = []

    def start(concurrency: int = concurrency, **more_env: str) -> CeleryWorker:
        worker = CeleryWorker(
            env={**env, **more_env},
            concurrency=concurrency,
            log_path=log_path(len(started) + 1),
            beat=True,
        )
        started.append(worker.start())
        worker.wait_ready(app)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


def sweep(*, older_than: timedelta) -> int:
    """The part of the sweeper that needs no provider, run in the test process:
    sendouts with pending messages untouched for ``older_than`` are enqueued again;
    answers how many were. Expired leases are left to the workers' own sweeper
    (beat, in ``started_workers``), which reaches the provider the worker sends to."""
    lost = sweep_stuck_messages(older_than=older_than, reconcile=False)
    for sendout_id in lost:
        sendout_enqueue(sendout_id=sendout_id)
    return len(lost)

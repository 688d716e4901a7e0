"""Throughput, and messages per CPU second, of the twilio SMS backend against the
Twilio stand-in, next to the SDK's two clients used the ordinary way.

    python -m bench.sms_backend_bench [--messages 3000] [--latency 0.05] [--concurrency 64]

Starts the stand-in as its own process (so that its CPU is not counted) with a
fixed latency per request, then sends the same N messages four ways, each to
fresh numbers, with ``--concurrency`` requests in flight:

- the backend (``get_backend("twilio").send_messages``: the SDK's ``create_async``
  on the backend's event loop and ``aiohttp`` session),
- the raw SDK with its ordinary client (``TwilioHttpClient``, only taught the
  stand-in's address) from a plain ThreadPoolExecutor,
- the raw SDK with its asynchronous client (``AsyncTwilioHttpClient``) from
  ``asyncio.gather`` under a semaphore,
- for scale, the SDK one message at a time (on a smaller sample).

Prints messages per second and per CPU second of this process (user + system,
every thread), and the ratios. No assertions: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import django


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured(n: int, fn: Callable[[], object]) -> tuple[float, float]:
    """(messages per second, messages per CPU second) of ``fn`` sending ``n``."""
    started, cpu_started = time.perf_counter(), cpu()
    fn()
    seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
    return n / seconds, n / max(cpu_seconds, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--serial-sample", type=int, default=100)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    # The SDK's clients log every request at INFO: that would time the log, not the send.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    logging.getLogger("twilio.async_http_client").setLevel(logging.WARNING)
    # The SDK mounts its sized pool for https only: over http it warns on every discard.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

    import requests
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    from bench.sendout_bench import standin_stats, start_standin
    from sms.backends import SmsMessage, get_backend
    from tests.sms.twilio_standin import ACCOUNT_SID, AUTH_TOKEN

    n, workers = args.messages, args.concurrency
    standin, base_url = start_standin(args.latency)
    base = urlsplit(base_url)

    def rebased(url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    class RebasedTwilioHttpClient(TwilioHttpClient):
        """The SDK's own client, only sent to the stand-in instead of api.twilio.com."""

        def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
            return super().request(method, rebased(url), *args, **kwargs)

    class RebasedAsyncTwilioHttpClient(AsyncTwilioHttpClient):
        async def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
            return await super().request(method, rebased(url), *args, **kwargs)

    def batch(prefix: str, count: int) -> list[SmsMessage]:
        return [
            SmsMessage(to=f"+358{prefix}{i:07d}", body=f"Hei {i}, tarjous!", reference=i)
            for i in range(count)
        ]

    try:
        backend = get_backend(
            "twilio",
            base_url=base_url,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_number="+15005550006",
            messaging_service_sid="",
            concurrency=workers,
        )
        sdk = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RebasedTwilioHttpClient())
        sdk.http_client.session.mount(
            "http://", requests.adapters.HTTPAdapter(pool_maxsize=workers)
        )

        def raw_send(message: SmsMessage) -> str:
            return sdk.messages.create(to=message.to, body=message.body, from_="+15005550006").sid

        async def raw_async(messages: list[SmsMessage]) -> None:
            http = RebasedAsyncTwilioHttpClient()
            client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
            slots = asyncio.Semaphore(workers)

            async def one(message: SmsMessage) -> str:
                async with slots:
                    created = await client.messages.create_async(
                        to=message.to, body=message.body, from_="+15005550006"
                    )
                    return created.sid

            await asyncio.gather(*(one(m) for m in messages))
            await http.close()

        # Warm up every path (imports, pools) outside the timing.
        with backend:
            backend.send_messages(batch("49", workers))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(raw_send, batch("48", workers)))
                asyncio.run(raw_async(batch("47", workers)))

                rates = {
                    "twilio backend (async)": measured(
                        n, lambda: backend.send_messages(batch("40", n))
                    ),
                    "raw SDK + thread pool": measured(
                        n, lambda: list(pool.map(raw_send, batch("41", n)))
                    ),
                    "raw SDK async client": measured(
                        n, lambda: asyncio.run(raw_async(batch("43", n)))
                    ),
                }
        serial = batch("42", min(args.serial_sample, n))
        rates["raw SDK one at a time"] = measured(
            len(serial), lambda: [raw_send(m) for m in serial]
        )
        max_concurrency = standin_stats(base_url)["max_concurrency"]
    finally:
        standin.terminate()
        standin.wait(timeout=10)

    print(
        f"SMS backend bench: {n} messages, {args.latency * 1000:.0f} ms per request, "
        f"{workers} in flight, stand-in in its own process, on {os.cpu_count()} CPUs"
    )
    for name, (rate, per_cpu) in rates.items():
        print(f"  {name:26} {rate:7.0f} msg/s  {per_cpu:7.0f} msg per CPU second")
    ours, threads = rates["twilio backend (async)"], rates["raw SDK + thread pool"]
    print(f"  ratio backend / raw SDK threads: {ours[0] / threads[0]:.2f} per second, "
          f"{ours[1] / threads[1]:.2f} per CPU second")  # fmt: skip
    print(f"  stand-in max concurrent requests: {max_concurrency}")


if __name__ == "__main__":
    main()

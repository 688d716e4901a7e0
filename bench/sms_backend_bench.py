"""Throughput of the twilio SMS backend against the Twilio stand-in.

    python -m bench.sms_backend_bench [--messages 2000] [--latency 0.05] [--concurrency 32]

Starts the stand-in in this process with a fixed latency per request, then sends
the same N messages three ways, each to fresh numbers:

- the backend (``get_backend("twilio").send_messages``),
- the baseline: the raw twilio SDK (its own ``TwilioHttpClient``, only taught the
  stand-in's address) called from a plain ThreadPoolExecutor of the same size,
- for scale, the SDK one message at a time (on a smaller sample).

Prints messages per second and the ratio backend / baseline. No assertions: the
figures depend on the machine (the stand-in shares its CPU with the client).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--serial-sample", type=int, default=100)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    # The SDK's client logs every request at INFO: that would time the log, not the send.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    # The SDK mounts its sized pool for https only: over http it warns on every discard.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    from sms.backends import SmsMessage, get_backend
    from tests.sms.twilio_standin import TwilioStandin

    class RebasedTwilioHttpClient(TwilioHttpClient):
        """The SDK's own client, only sent to the stand-in instead of api.twilio.com."""

        def __init__(self, base_url: str, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.base = urlsplit(base_url)

        def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
            parts = urlsplit(url)
            url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
            return super().request(method, url, *args, **kwargs)

    def batch(prefix: str, n: int) -> list[SmsMessage]:
        return [
            SmsMessage(to=f"+358{prefix}{i:07d}", body=f"Hei {i}, tarjous!", reference=i)
            for i in range(n)
        ]

    n, workers = args.messages, args.concurrency
    with TwilioStandin(latency=args.latency) as standin:
        # Warm up both paths (imports, pools) outside the timing.
        backend = get_backend(
            "twilio",
            base_url=standin.base_url,
            account_sid=standin.account_sid,
            auth_token=standin.auth_token,
            from_number="+15005550006",
            messaging_service_sid="",
            concurrency=workers,
        )
        sdk = Client(
            standin.account_sid,
            standin.auth_token,
            http_client=RebasedTwilioHttpClient(standin.base_url, pool_connections=True),
        )
        backend.send_messages(batch("49", workers))
        sdk.messages.create(to="+358480000000", body="warm-up", from_="+15005550006")

        with backend:
            started = time.perf_counter()
            results = backend.send_messages(batch("40", n))
            backend_seconds = time.perf_counter() - started
        failed = sum(not r.ok for r in results)

        def raw_send(message: SmsMessage) -> str:
            return sdk.messages.create(to=message.to, body=message.body, from_="+15005550006").sid

        raw_batch = batch("41", n)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            started = time.perf_counter()
            sids = list(pool.map(raw_send, raw_batch))
            baseline_seconds = time.perf_counter() - started

        serial = batch("42", min(args.serial_sample, n))
        started = time.perf_counter()
        for message in serial:
            raw_send(message)
        serial_seconds = time.perf_counter() - started
        max_concurrency = standin.max_concurrency

    backend_rate = n / backend_seconds
    baseline_rate = len(sids) / baseline_seconds
    serial_rate = len(serial) / serial_seconds
    print(
        f"SMS backend bench: {n} messages, {args.latency * 1000:.0f} ms per request, "
        f"{workers} workers, on {os.cpu_count()} CPUs"
    )
    print(
        f"  twilio backend          {backend_rate:8.0f} msg/s  ({backend_seconds:.2f} s, "
        f"{failed} failed)"
    )
    print(f"  raw SDK + thread pool   {baseline_rate:8.0f} msg/s  ({baseline_seconds:.2f} s)")
    print(f"  raw SDK one at a time   {serial_rate:8.0f} msg/s  ({len(serial)} messages)")
    print(f"  ratio backend / raw SDK pool: {backend_rate / baseline_rate:.2f}")
    print(f"  ratio backend / one at a time: {backend_rate / serial_rate:.1f}")
    print(f"  stand-in max concurrent requests: {max_concurrency}")


if __name__ == "__main__":
    main()

"""A stand-in for Twilio's Messages API, for tests and benches (standard library only).

It speaks Twilio's wire format for ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``
(form-encoded ``To``, ``Body``, ``From`` or ``MessagingServiceSid``,
``StatusCallback``; HTTP basic auth with the account SID and auth token) and
answers like Twilio: ``201`` with a message resource, or an error JSON
``{"code", "message", "more_info", "status"}``.

Behaviour can be scripted per recipient or by probability::

    standin.script("+358401234567", status=400, code=21211)   # permanent
    standin.script("+358401234568", status=429, times=1)       # once, then accepted
    standin.script("+358401234569", latency=5)                 # slow answer
    standin.script("+358401234570", drop=True)                 # accept, then hang up
    standin.script(probability=0.01, status=503)               # any number, 1 %
    standin.latency = 0.05                                     # every answer

It also serves Twilio's Messages list resource, ``GET .../Messages.json`` with
``To``, ``From``, ``DateSent>``/``DateSent<`` (by day, as Twilio), ``PageSize``,
``Page`` and ``PageToken``, newest first, paged through ``next_page_uri`` as the
SDK follows it. A taken message shows in the list ``listing_delay`` seconds
later; ``list_faults`` scripts list requests to fail (a list of HTTP statuses,
used up in order, e.g. ``[503]``).

Every message the stand-in *took* (answered 201, or took and then hung up on
or answered too late: Twilio would have sent those) is in ``received``;
``count_by_to()`` tells how many texts each number got. Every request is in
``requests``. ``max_concurrency`` is the most requests seen in flight at once.

In tests use the ``twilio_standin`` fixture (tests/sms/conftest.py). Standalone,
for benches and integration runs::

    python -m tests.sms.twilio_standin --port 8765 --latency 0.05

which also serves ``GET /_standin/stats`` (counts as JSON) and ``POST /_standin/reset``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import hashlib
import hmac
import json
import random
import re
import secrets
import socket
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "standin-auth-token"
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

ERROR_MESSAGES = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}.",  # noqa: E501
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number via SMS.",  # noqa: E501
    21614: "'To' number {to} is not a valid mobile number",
    30003: "Unreachable destination handset",
}
DEFAULT_CODES = {400: 21211, 401: 20003, 429: 20429, 500: 20500, 503: 20503}

# GSM 03.38 basic set and extension table, to count segments like a carrier.
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = set("^{}\\[~]|€\f")


def num_segments(body: str) -> int:
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in body):
        units = sum(2 if ch in GSM_EXTENSION else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in body)
        single, multi = 70, 67
    return 1 if units <= single else -(-units // multi)


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """``X-Twilio-Signature``: HMAC-SHA1 of the URL followed by the sorted params."""
    payload = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Rule:
    to: str | None = None
    status: int = 201
    code: int | None = None
    message: str | None = None
    latency: float | None = None
    drop: bool = False
    retry_after: str | None = None
    probability: float = 1.0
    times: int | None = None


@dataclass(frozen=True)
class ReceivedMessage:
    sid: str
    to: str
    body: str
    from_: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    outcome: str
    """``answered`` (201 sent), ``dropped`` (connection closed instead of an answer)."""
    created: float = field(default_factory=time.time)


@dataclass(frozen=True)
class RequestRecord:
    path: str
    form: dict[str, str]
    status: int | None
    """The HTTP status answered, or None when the stand-in hung up."""


@dataclass
class TwilioStandin:
    """The stand-in server. Start it with ``with TwilioStandin() as standin:``."""

    host: str = "127.0.0.1"
    port: int = 0
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    latency: float = 0.0
    seed: int | None = 0
    send_status_callbacks: bool = False
    """Post ``sent`` then ``delivered`` (signed) to each message's StatusCallback."""
    listing_delay: float = 0.0
    """Seconds before a taken message shows in the list resource."""
    list_faults: list[int] = field(default_factory=list)
    """HTTP statuses the next list requests answer, used up in order."""
    list_requests: int = field(default=0, init=False)

    received: list[ReceivedMessage] = field(default_factory=list, init=False)
    requests: list[RequestRecord] = field(default_factory=list, init=False)
    max_concurrency: int = field(default=0, init=False)
    rules: list[Rule] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._random = random.Random(self.seed)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the stand-in is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> TwilioStandin:
        handler = type("Handler", (_Handler,), {"standin": self})
        server = _Server((self.host, self.port), handler, bind_and_activate=False)
        server.daemon_threads = True
        server.request_queue_size = 1024
        server.allow_reuse_address = True
        server.server_bind()
        server.server_activate()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TwilioStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- scripting and inspection ------------------------------------------------------

    def script(self, to: str | None = None, **behaviour: Any) -> Rule:
        """Add a behaviour for ``to`` (or for any number when ``to`` is None).

        Keywords: ``status`` (201, 400, 429, 500, 503, ...), ``code`` (Twilio's error
        code; a default per status), ``message``, ``latency`` (seconds before
        answering), ``drop`` (take the message, then close without answering),
        ``retry_after`` (header value), ``probability`` (0..1), ``times`` (then
        the rule is spent). Rules for a number come before rules for any number;
        the latest added wins.
        """
        rule = Rule(to=to, **behaviour)
        with self._lock:
            self.rules.append(rule)
        return rule

    def reset(self) -> None:
        with self._lock:
            self.rules.clear()
            self.received.clear()
            self.requests.clear()
            self.max_concurrency = 0

    def count_by_to(self) -> dict[str, int]:
        with self._lock:
            return dict(collections.Counter(message.to for message in self.received))

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "received": len(self.received),
                "requests": len(self.requests),
                "max_concurrency": self.max_concurrency,
                "count_by_to": dict(collections.Counter(m.to for m in self.received)),
            }

    def settings(self) -> dict[str, Any]:
        """Django settings that point the ``twilio`` backend here."""
        return {
            "SMS_BACKEND": "twilio",
            "TWILIO_API_BASE_URL": self.base_url,
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
        }

    # --- used by the handler -----------------------------------------------------------

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_concurrency = max(self.max_concurrency, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _choose(self, to: str) -> Rule | None:
        with self._lock:
            for rule in sorted(
                reversed(self.rules), key=lambda rule: rule.to is None
            ):  # per-number first, newest first
                if rule.to not in (None, to):
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                return rule
        return None

    def _record(self, message: ReceivedMessage | None, request: RequestRecord) -> None:
        with self._lock:
            if message is not None:
                self.received.append(message)
            self.requests.append(request)

    def _post_status_callbacks(self, message: ReceivedMessage) -> None:
        for status in ("sent", "delivered"):
            params = {
                "AccountSid": self.account_sid,
                "MessageSid": message.sid,
                "SmsSid": message.sid,
                "MessageStatus": status,
                "SmsStatus": status,
                "To": message.to,
                "From": message.from_ or "",
                "ApiVersion": "2010-04-01",
            }
            request = urllib.request.Request(
                message.status_callback or "",
                data=urllib.parse.urlencode(params).encode(),
                headers={
                    "X-Twilio-Signature": twilio_signature(
                        self.auth_token, message.status_callback or "", params
                    ),
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=5):
                pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (read timeout) makes the late answer fail: expected here.
        pass


class _Handler(BaseHTTPRequestHandler):
    standin: TwilioStandin
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API: the client pools connections
    server_version = "TwilioStandin/1"
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK
    # would add ~40 ms to every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(
        self, status: int, code: int, to: str = "", message: str | None = None, **headers: str
    ) -> None:
        text = message or ERROR_MESSAGES.get(code, "Error").format(to=to)
        payload = {
            "code": code,
            "message": text,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        self._answer(status, payload, headers)

    def _authorised(self, account: str) -> bool:
        expected = f"{self.standin.account_sid}:{self.standin.auth_token}".encode()
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(header[6:], validate=True)
        except ValueError:
            return False
        return hmac.compare_digest(given, expected) and account == self.standin.account_sid

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        match = MESSAGES_PATH.match(parts.path)
        if self.path == "/_standin/stats":
            self._answer(200, self.standin.stats())
        elif match is not None:
            self._list_messages(match["account"], parts.path, parts.query)
        else:
            self._error(404, 20404, message="The requested resource was not found")

    def _list_messages(self, account: str, path: str, raw_query: str) -> None:
        """Twilio's Messages list: filtered, newest first, paged by ``PageToken``."""
        standin = self.standin
        if not self._authorised(account):
            self._error(401, 20003, **{"WWW-Authenticate": 'Basic realm="Twilio API"'})
            return
        with standin._lock:
            standin.list_requests += 1
            fault = standin.list_faults.pop(0) if standin.list_faults else None
            taken = list(standin.received)
        if fault is not None:
            self._error(fault, DEFAULT_CODES.get(fault, fault))
            return
        query = {key: values[-1] for key, values in urllib.parse.parse_qs(raw_query).items()}
        after = _day(query.get("DateSent>"))
        before = _day(query.get("DateSent<"))
        visible_until = time.time() - standin.listing_delay
        found = [
            m
            for m in taken
            if m.created <= visible_until
            and m.to == query.get("To", m.to)
            and (m.from_ or "") == query.get("From", m.from_ or "")
            and (after is None or time.strftime("%Y-%m-%d", time.gmtime(m.created)) >= after)
            and (before is None or time.strftime("%Y-%m-%d", time.gmtime(m.created)) <= before)
        ]
        found.sort(key=lambda m: m.created, reverse=True)
        size = max(1, min(1000, int(query.get("PageSize") or 50)))
        token = query.get("PageToken", "")
        start = int(token[2:]) if token.startswith("PA") and token[2:].isdigit() else 0
        page = int(query.get("Page") or 0)
        rows = found[start : start + size]
        filters = {k: v for k, v in query.items() if k not in {"Page", "PageSize", "PageToken"}}

        def page_uri(number: int, offset: int | None) -> str:
            params = {**filters, "PageSize": str(size), "Page": str(number)}
            if offset:
                params["PageToken"] = f"PA{offset}"
            return f"{path}?{urllib.parse.urlencode(params)}"

        more = start + size < len(found)
        self._answer(
            200,
            {
                "messages": [self._resource(account, m) for m in rows],
                "end": start + len(rows) - 1,
                "first_page_uri": page_uri(0, None),
                "next_page_uri": page_uri(page + 1, start + size) if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": page_uri(page - 1, max(0, start - size)) if page else None,
                "start": start,
                "uri": page_uri(page, start),
            },
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        if self.path == "/_standin/reset":
            self.standin.reset()
            self._answer(200, {"reset": True})
            return
        match = MESSAGES_PATH.match(self.path)
        if match is None:
            self._error(404, 20404, message="The requested resource was not found")
            return
        self.standin._enter()
        try:
            self._create_message(match["account"], raw)
        finally:
            self.standin._leave()

    def _create_message(self, account: str, raw: str) -> None:
        standin = self.standin
        form = {key: values[-1] for key, values in urllib.parse.parse_qs(raw).items()}
        if not self._authorised(account):
            standin._record(None, RequestRecord(self.path, form, 401))
            self._error(401, 20003, **{"WWW-Authenticate": 'Basic realm="Twilio API"'})
            return
        to = form.get("To", "")
        rule = standin._choose(to)
        latency = standin.latency if rule is None or rule.latency is None else rule.latency

        # Decide and record at once; answer after the latency (a client that gave up
        # by then still had its message taken, as with the real API).
        status, code = 201, None
        if not to:
            status, code = 400, 21604
        elif not E164.match(to):
            status, code = 400, 21211
        elif not form.get("Body"):
            status, code = 400, 21602
        elif not (form.get("From") or form.get("MessagingServiceSid")):
            status, code = 400, 21603
        elif rule is not None and rule.status != 201:
            status, code = rule.status, rule.code or DEFAULT_CODES.get(rule.status, rule.status)
        if status != 201:
            standin._record(None, RequestRecord(self.path, form, status))
            time.sleep(latency)
            headers = {"Retry-After": rule.retry_after} if rule and rule.retry_after else {}
            self._error(status, code, to, rule.message if rule else None, **headers)
            return

        sid = "SM" + secrets.token_hex(16)
        dropped = rule is not None and rule.drop
        message = ReceivedMessage(
            sid=sid,
            to=to,
            body=form["Body"],
            from_=form.get("From"),
            messaging_service_sid=form.get("MessagingServiceSid"),
            status_callback=form.get("StatusCallback"),
            outcome="dropped" if dropped else "answered",
        )
        standin._record(message, RequestRecord(self.path, form, None if dropped else 201))
        time.sleep(latency)
        if dropped:
            # Took the message, then hung up without a word: the client cannot know.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._answer(201, self._resource(account, message))
        if standin.send_status_callbacks and message.status_callback:
            threading.Thread(
                target=standin._post_status_callbacks, args=(message,), daemon=True
            ).start()

    def _resource(self, account: str, message: ReceivedMessage) -> dict[str, Any]:
        now = formatdate(message.created, usegmt=True)
        uri = f"/2010-04-01/Accounts/{account}/Messages/{message.sid}.json"
        return {
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": message.body,
            "date_created": now,
            "date_sent": now,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(num_segments(message.body)),
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": "accepted" if message.messaging_service_sid else "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": message.to,
            "uri": uri,
        }


def _day(value: str | None) -> str | None:
    """``YYYY-MM-DD`` of a ``DateSent`` filter (the SDK sends ``YYYY-MM-DDTHH:MM:SSZ``)."""
    return value[:10] if value else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a stand-in for Twilio's Messages API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--account-sid", default=ACCOUNT_SID)
    parser.add_argument("--auth-token", default=AUTH_TOKEN)
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share answered with an error"
    )
    parser.add_argument("--error-status", type=int, default=503)
    parser.add_argument("--status-callbacks", action="store_true", help="post sent/delivered")
    args = parser.parse_args(argv)
    standin = TwilioStandin(
        host=args.host,
        port=args.port,
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        latency=args.latency,
        seed=None,
        send_status_callbacks=args.status_callbacks,
    )
    if args.error_rate:
        standin.script(probability=args.error_rate, status=args.error_status)
    with standin:
        print(
            f"Twilio stand-in at {standin.base_url} "
            f"(TWILIO_ACCOUNT_SID={standin.account_sid} TWILIO_AUTH_TOKEN={standin.auth_token})",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()

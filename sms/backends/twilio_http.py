"""The Twilio SDK's HTTP clients for ``sms.backends.twilio``, both able to point
the SDK at a stand-in server (``TWILIO_API_BASE_URL``):

- :class:`PooledHttpClient`: one pooled ``requests.Session`` per process, shared
  by threads (lookups for reconciliation);
- :class:`AsyncPooledHttpClient`: the SDK's asynchronous side (``create_async``)
  over one ``aiohttp`` session, run by :class:`AsyncSender` on an event loop of
  its own thread, once per process. Sending goes this way: against the stand-in
  at 50 ms it sends about 2.4 times as many messages per CPU second as 64
  threads (``python -m bench.sms_backend_bench``).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import contextvars
import functools
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from http.cookiejar import DefaultCookiePolicy
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import requests
from requests.adapters import HTTPAdapter
from twilio.http import AsyncHttpClient, HttpClient
from twilio.http.response import Response

logger = logging.getLogger(__name__)

Timeout = tuple[float, float]
T = TypeVar("T")


def rebase(base_url: str | None, url: str) -> str:
    """``url`` with its scheme and host (and a path prefix) taken from ``base_url``."""
    if not base_url:
        return url
    base = urlsplit(base_url)
    parts = urlsplit(url)
    return urlunsplit(
        (base.scheme, base.netloc, base.path + parts.path, parts.query, parts.fragment)
    )


class PooledHttpClient(HttpClient):
    """A Twilio ``HttpClient`` over one ``requests.Session``, shared by many threads.

    - The connection pool holds ``pool_size`` connections per host (``http`` and
      ``https``), so that as many threads can send at once without reconnecting.
    - urllib3 never retries by itself (``max_retries=0``): a POST is sent at most
      once per call, and the caller's classification stays true.
    - ``base_url`` (optional) replaces the scheme and host of every URL.
    - The headers of the last response seen by the current thread are kept, for
      ``Retry-After`` (the SDK's exceptions do not carry headers).
    """

    def __init__(self, *, base_url: str | None, pool_size: int, timeout: Timeout) -> None:
        super().__init__(logger, is_async=False, timeout=None)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.send_timeout = timeout
        self.session = requests.Session()
        # Twilio sets no cookies we need; keeping none avoids sharing a jar across threads.
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._local = threading.local()

    def rebase(self, url: str) -> str:
        return rebase(self.base_url, url)

    @property
    def last_response_headers(self) -> Mapping[str, str] | None:
        return getattr(self._local, "headers", None)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self._local.headers = None
        body = _request_body(data, headers)
        response = self.session.request(
            method.upper(),
            self.rebase(uri),
            params=params,
            headers=headers,
            auth=auth,
            timeout=timeout or self.send_timeout,
            allow_redirects=allow_redirects,
            **body,
        )
        self._local.headers = response.headers
        return Response(int(response.status_code), response.text, response.headers)

    def close(self) -> None:
        self.session.close()


_http_clients: dict[tuple[object, ...], PooledHttpClient] = {}
_http_clients_lock = threading.Lock()


def shared_http_client(
    *, base_url: str | None, pool_size: int, timeout: Timeout
) -> PooledHttpClient:
    """Answer this process's pooled HTTP client for the given configuration.

    Created lazily, once per process (the pid is part of the key, so a forked
    worker never reuses its parent's sockets), and safe to share between threads.
    """
    key = (os.getpid(), base_url, pool_size, timeout)
    with _http_clients_lock:
        client = _http_clients.get(key)
        if client is None:
            client = _http_clients[key] = PooledHttpClient(
                base_url=base_url, pool_size=pool_size, timeout=timeout
            )
        return client


# --- asynchronous sending ------------------------------------------------------------

_async_headers: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "sms_twilio_response_headers", default=None
)


class AsyncPooledHttpClient(AsyncHttpClient):
    """A Twilio ``AsyncHttpClient`` over one ``aiohttp`` session, used by one event loop.

    - No limit of its own on connections (the chunks of one worker process share
      the session, each keeping its own window: ``sms.backends.twilio``); idle
      connections are kept for the next request. The timeouts count from the
      socket: ``sock_connect`` and ``sock_read``.
    - aiohttp never retries by itself: a POST is sent at most once per call.
    - ``base_url`` (optional) replaces the scheme and host of every URL.
    - The headers of the last response seen by the current task are kept
      (:attr:`last_response_headers`, a context variable), for ``Retry-After``.
    """

    def __init__(self, *, base_url: str | None, pool_size: int, timeout: Timeout) -> None:
        super().__init__(logger, is_async=True, timeout=None)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.pool_size = pool_size
        self.send_timeout = timeout
        self.session: aiohttp.ClientSession | None = None

    @property
    def last_response_headers(self) -> Mapping[str, str] | None:
        return _async_headers.get()

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:  # inside the loop: aiohttp binds to the running loop
            connect, read = self.send_timeout
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self.session

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        _async_headers.set(None)
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = _basic_auth(*auth)
        body = _request_body(data, headers)
        if body.get("data") and headers.get("Content-Type") == FORM:
            # Encoded here, as aiohttp's FormData would encode a dict (repeated
            # keys for lists), at a third of its cost per request.
            body = {"data": urlencode(body["data"], doseq=True).encode()}
        async with self._session().request(
            method.upper(),
            rebase(self.base_url, uri),
            params=params,
            headers=headers,
            allow_redirects=allow_redirects,
            **body,
        ) as response:
            text = await response.text()
        _async_headers.set(response.headers)
        return Response(int(response.status), text, response.headers)

    async def close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()


FORM = "application/x-www-form-urlencoded"


@functools.lru_cache(maxsize=8)
def _basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header of HTTP basic auth, worked out once per
    account (aiohttp's ``BasicAuth`` encodes it per request, and warns)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("latin1")).decode("ascii")


class AsyncSender:
    """An :class:`AsyncPooledHttpClient` and the event loop that runs it (one
    daemon thread per process, shared by every sender); :meth:`run` hands it a
    coroutine from any thread."""

    def __init__(self, *, base_url: str | None, pool_size: int, timeout: Timeout) -> None:
        self.http_client = AsyncPooledHttpClient(
            base_url=base_url, pool_size=pool_size, timeout=timeout
        )
        self.loop = _process_loop()
        self._tasks: set[asyncio.Task[Any]] = set()  # touched on the loop only

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def start_each(
        self,
        send: Callable[[T], Coroutine[Any, Any, Any]],
        items: Sequence[T],
        done: Callable[[asyncio.Future[Any], T], None],
    ) -> None:
        """Start ``send(item)`` on the loop for every item, and call ``done(task,
        item)`` there as each ends: one hop to the loop for them all (``run``
        costs one wake-up of the loop and one thread-safe future per item)."""
        items = list(items)

        def start() -> None:
            for item in items:
                task = self.loop.create_task(send(item))
                self._tasks.add(task)  # the loop keeps only a weak reference
                task.add_done_callback(self._tasks.discard)
                task.add_done_callback(functools.partial(_call_done, done, item))

        self.loop.call_soon_threadsafe(start)


def _call_done(
    done: Callable[[asyncio.Future[Any], T], None], item: T, task: asyncio.Future[Any]
) -> None:
    done(task, item)


_async_senders: dict[tuple[object, ...], AsyncSender] = {}
_loops: dict[int, asyncio.AbstractEventLoop] = {}


def _process_loop() -> asyncio.AbstractEventLoop:
    """This process's sending loop, started on first use (under the lock)."""
    loop = _loops.get(os.getpid())
    if loop is None:
        loop = _loops[os.getpid()] = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name="sms-send-loop", daemon=True).start()
        atexit.register(_close_senders, os.getpid())
    return loop


def _close_senders(pid: int) -> None:
    """At exit: close the sessions on their loop, so that aiohttp does not warn."""
    loop = _loops.get(pid)
    if pid != os.getpid() or loop is None or not loop.is_running():
        return
    for key, sender in list(_async_senders.items()):
        if key[0] == pid:
            with contextlib.suppress(Exception):
                sender.run(sender.http_client.close()).result(timeout=2)
    loop.call_soon_threadsafe(loop.stop)


def shared_async_sender(*, base_url: str | None, pool_size: int, timeout: Timeout) -> AsyncSender:
    """Answer this process's :class:`AsyncSender` for the given configuration:
    created once per process (a forked worker makes its own; a thread does not
    survive a fork), its connections kept from one chunk to the next."""
    key = (os.getpid(), base_url, pool_size, timeout)
    with _http_clients_lock:
        sender = _async_senders.get(key)
        if sender is None:
            sender = _async_senders[key] = AsyncSender(
                base_url=base_url, pool_size=pool_size, timeout=timeout
            )
        return sender


def _request_body(data: dict[str, object] | None, headers: dict[str, str] | None) -> dict[str, Any]:
    """The keyword that carries a request's payload, as the SDK's own clients choose it:
    JSON for the JSON content types, else form data."""
    if headers and headers.get("Content-Type") in {"application/json", "application/scim+json"}:
        return {"json": data}
    return {"data": data}

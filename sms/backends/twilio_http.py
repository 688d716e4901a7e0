"""The Twilio SDK's HTTP client for ``sms.backends.twilio``: one pooled
``requests.Session`` per process, shared by the sending threads, that can point
the SDK at a stand-in server (``TWILIO_API_BASE_URL``)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.http import HttpClient
from twilio.http.response import Response

logger = logging.getLogger(__name__)

Timeout = tuple[float, float]


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
        if not self.base_url:
            return url
        base = urlsplit(self.base_url)
        parts = urlsplit(url)
        return urlunsplit(
            (base.scheme, base.netloc, base.path + parts.path, parts.query, parts.fragment)
        )

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
        body: dict[str, Any] = {"data": data}
        if headers and headers.get("Content-Type") in {"application/json", "application/scim+json"}:
            body = {"json": data}
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

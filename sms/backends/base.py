"""The shape every SMS backend shares, after ``django.core.mail.backends.base``.

A backend turns :class:`SmsMessage` values into :class:`SendResult` values, one
per message and in the same order. It never raises for a failed send: every
failure comes back classified, so that the caller decides what to do from data:

- ``permanent``: the provider refused the message and will refuse it again
  (invalid number, unsubscribed recipient, ...). Fail it, refund it.
- ``transient``: the request surely took no effect (429, 5xx, connection refused,
  connect timeout). Retrying later is safe.
- ``ambiguous``: the request may have reached the provider (read timeout, the
  connection dropped after sending). Never retry: the recipient may have it.

Ambiguous failures, and messages whose worker died mid-send, are settled by
asking the provider: :meth:`BaseSmsBackend.lookup` answers, per
:class:`LookupQuery`, the provider's messages to that number, from that sender,
with that text, within the attempt's time window (:class:`LookupResult`).

Backends are pure I/O adapters: they import no model and no service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Self

from django.conf import settings


class ErrorKind(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"


UNSUBSCRIBED_CODES = frozenset({"21610"})
"""Provider error codes meaning the recipient unsubscribed at the carrier."""


@dataclass(frozen=True, kw_only=True)
class SendError:
    """Why a message was not accepted, in terms a caller can act on."""

    kind: ErrorKind
    code: str | None = None
    """The provider's error code as text (Twilio's ``21211``), or ours (``connection_refused``)."""
    http_status: int | None = None
    message: str = ""
    retry_after: float | None = None
    """Seconds the provider asked us to wait (``Retry-After``), when it said so."""

    @property
    def retryable(self) -> bool:
        return self.kind is ErrorKind.TRANSIENT

    @property
    def recipient_unsubscribed(self) -> bool:
        """The recipient has unsubscribed at the carrier (Twilio's 21610: they
        replied STOP): never text the number again until they opt back in."""
        return self.kind is ErrorKind.PERMANENT and self.code in UNSUBSCRIBED_CODES


@dataclass(frozen=True)
class SmsMessage:
    to: str
    """The recipient in E.164 (``+358401234567``)."""
    body: str
    sender: str | None = None
    """An alphanumeric sender name; ``None`` sends from the backend's default number or
    messaging service."""
    status_callback: str | None = None
    """The URL the provider calls with delivery statuses, or ``None``."""
    reference: str | int | None = None
    """Our id for the message, echoed in its :class:`SendResult`."""
    messaging_service_sid: str | None = None
    """The organisation's own messaging service (``MG...``), used when there is no
    ``sender``; ``None`` falls back to the backend's default."""


@dataclass(frozen=True)
class SendResult:
    reference: str | int | None
    ok: bool
    provider_id: str | None = None
    provider_status: str | None = None
    error: SendError | None = None

    @classmethod
    def accepted(
        cls, message: SmsMessage, provider_id: str | None, provider_status: str | None = None
    ) -> SendResult:
        return cls(message.reference, True, provider_id, provider_status, None)

    @classmethod
    def failed(cls, message: SmsMessage, error: SendError) -> SendResult:
        return cls(message.reference, False, None, None, error)


@dataclass(frozen=True, kw_only=True)
class LookupQuery:
    """One message to look for at the provider: sent to ``to`` with ``body`` from
    ``sender`` (or through ``messaging_service_sid``), created between
    ``sent_after`` and ``sent_before`` (the attempt's window, aware datetimes)."""

    reference: str | int | None
    to: str
    body: str
    sent_after: datetime
    sent_before: datetime
    sender: str | None = None
    messaging_service_sid: str | None = None


@dataclass(frozen=True)
class LookupResult:
    """What the provider's list says of one :class:`LookupQuery`.

    ``provider_ids``: the matching messages, oldest first (empty: not found);
    ``error``: the provider could not be asked (then ``provider_ids`` means nothing).
    An ``error`` of kind ``permanent`` will not get better by asking again
    (no credentials, a backend that cannot list)."""

    reference: str | int | None
    provider_ids: tuple[str, ...] = ()
    error: SendError | None = None

    @property
    def found(self) -> bool:
        return self.error is None and bool(self.provider_ids)


class BaseSmsBackend:
    """Base class for SMS backends.

    Subclasses implement :meth:`send_messages`; those that hold a connection (a
    pooled HTTP client, a thread pool) also implement :meth:`open` and
    :meth:`close`. Use a backend as a context manager to reuse its connection
    across several calls::

        with get_backend() as backend:
            results = backend.send_messages(messages)

    ``fail_silently`` is accepted for the same signature as Django's mail
    backends; it changes nothing, because no backend raises for a failed send.
    """

    concurrency: int = 1
    """How many messages the backend has in flight at once: claims are made in
    slices no larger, so that a crash strands at most one slice."""
    max_request_seconds: float = 0.0
    """The longest a send request can stay in flight (connect plus read timeout):
    a message not in the provider's list may still arrive until then."""

    def __init__(self, fail_silently: bool = False, **kwargs: object) -> None:
        self.fail_silently = fail_silently
        self.concurrency = max(1, int(getattr(settings, "SMS_SEND_CONCURRENCY", 1) or 1))

    def open(self) -> bool | None:
        """Open a reusable connection. Return True when a new one was opened."""
        return None

    def close(self) -> None:
        """Close the connection opened by :meth:`open`."""

    def __enter__(self) -> Self:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def send_messages(self, messages: Sequence[SmsMessage]) -> list[SendResult]:
        """Send the messages; answer one result per message, in the same order."""
        raise NotImplementedError(
            "subclasses of BaseSmsBackend must override send_messages() method"
        )

    def pipeline(self, *, window: int) -> SendPipeline:
        """A window of at most ``window`` requests in flight, for a caller that
        keeps it fed while it waits (``sms.sendouts.send``). The default sends
        each submitted batch at once through :meth:`send_messages`; a backend
        that can keep requests in flight in the background answers its own."""
        return SendPipeline(self)

    def lookup(self, queries: Sequence[LookupQuery]) -> list[LookupResult]:
        """Look the messages up at the provider; one result per query, in order.
        Never raises: a backend that cannot look answers a ``permanent`` error."""
        error = SendError(
            kind=ErrorKind.PERMANENT,
            code="lookup_unsupported",
            message=f"{type(self).__name__} cannot look messages up.",
        )
        return [LookupResult(query.reference, error=error) for query in queries]


class SendPipeline:
    """Messages submitted now, results collected later in any order (each names
    its message by ``reference``); :attr:`in_flight` counts what was submitted
    and not collected yet. Never raises for a failed send.

    This one sends each batch when it is submitted (``send_messages``):
    everything is done by the time :meth:`collect` is called."""

    background = False
    """Whether submitted messages are sent while the caller does other work: then
    messages submitted beyond the window wait in the pipeline and go out the
    moment a request ends, and the caller keeps a small backlog there."""

    def __init__(self, backend: BaseSmsBackend) -> None:
        self.backend = backend
        self._done: list[SendResult] = []

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def submit(self, messages: Sequence[SmsMessage]) -> None:
        self._done.extend(self.backend.send_messages(messages))

    def collect(self, at_least: int = 0) -> list[SendResult]:
        """Every result ready, after waiting for ``at_least`` of them (or for
        everything in flight, when less)."""
        done, self._done = self._done, []
        return done

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Results not collected are dropped: their messages keep their leases,
        which run out, and the sweeper reconciles them."""

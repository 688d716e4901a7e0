"""The twilio backend, through the real SDK, against the Twilio stand-in."""

import http.client
import http.server
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import requests
import urllib3.exceptions
from django.core.exceptions import ImproperlyConfigured
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from sms.backends import ErrorKind, SmsMessage, get_backend
from sms.backends.twilio import classify_exception, message_status, parse_retry_after
from sms.backends.twilio_http import PooledHttpClient, shared_http_client
from sms.statuses import MessageStatus
from tests.sms.twilio_standin import TwilioStandin

FROM_NUMBER = "+15005550006"
CALLBACK = "https://crm.example.fi/sms/status/?sendout=7"


def backend_for(standin: TwilioStandin, **kwargs):
    options = {
        "base_url": standin.base_url,
        "account_sid": standin.account_sid,
        "auth_token": standin.auth_token,
        "from_number": FROM_NUMBER,
        "messaging_service_sid": "",
    }
    options.update(kwargs)
    return get_backend("twilio", **options)


def send_one(backend, to="+358401234567", **fields):
    fields.setdefault("body", "Hei!")
    return backend.send_messages([SmsMessage(to=to, reference=1, **fields)])[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- accepted ------------------------------------------------------------------------------


def test_sends_to_body_from_and_callback_exactly(twilio_standin):
    body = "Hei Åsa! Tarjous 20 % 😀\nTervetuloa."
    result = send_one(backend_for(twilio_standin), body=body, status_callback=CALLBACK)

    (received,) = twilio_standin.received
    assert (received.to, received.body, received.from_) == ("+358401234567", body, FROM_NUMBER)
    assert received.status_callback == CALLBACK
    assert received.messaging_service_sid is None
    assert result.ok and result.error is None
    assert result.reference == 1
    assert result.provider_id == received.sid
    assert result.provider_status == "queued"


def test_without_callback_sends_none(twilio_standin):
    send_one(backend_for(twilio_standin))
    assert "StatusCallback" not in twilio_standin.requests[0].form


def test_messaging_service_is_used_when_configured(twilio_standin):
    backend = backend_for(twilio_standin, messaging_service_sid="MG" + "a" * 32, from_number="")
    result = send_one(backend)

    (received,) = twilio_standin.received
    assert received.messaging_service_sid == "MG" + "a" * 32
    assert received.from_ is None
    assert result.ok and result.provider_status == "accepted"


def test_the_organisations_messaging_service_wins_over_the_default(twilio_standin):
    backend = backend_for(twilio_standin, messaging_service_sid="MG" + "a" * 32)
    send_one(backend, messaging_service_sid="MG" + "b" * 32)

    (received,) = twilio_standin.received
    assert received.messaging_service_sid == "MG" + "b" * 32
    assert received.from_ is None


def test_named_sender_goes_out_as_from(twilio_standin):
    backend = backend_for(twilio_standin, messaging_service_sid="MG" + "a" * 32)
    send_one(backend, sender="Acme Oy")

    (received,) = twilio_standin.received
    assert received.from_ == "Acme Oy"
    assert received.messaging_service_sid is None


def test_no_sender_configured_is_permanent_and_sends_nothing(twilio_standin):
    result = send_one(backend_for(twilio_standin, from_number=""))

    assert result.error.kind is ErrorKind.PERMANENT
    assert result.error.code == "no_sender"
    assert twilio_standin.requests == []


def test_settings_select_the_twilio_backend(twilio_settings):
    result = get_backend().send_messages([SmsMessage(to="+358401234567", body="Hei")])[0]
    assert result.ok
    assert twilio_settings.count_by_to() == {"+358401234567": 1}


# --- refused by the provider ------------------------------------------------------------


@pytest.mark.parametrize("code", [21211, 21408, 21610, 21612, 21614, 30003])
def test_twilio_error_codes_are_permanent(twilio_standin, code):
    twilio_standin.script("+358401234567", status=400, code=code)
    result = send_one(backend_for(twilio_standin))

    assert not result.ok
    assert result.error.kind is ErrorKind.PERMANENT
    assert result.error.code == str(code)
    assert result.error.http_status == 400
    assert result.provider_id is None
    assert twilio_standin.received == []


def test_invalid_number_checked_by_the_provider_is_permanent(twilio_standin):
    result = send_one(backend_for(twilio_standin), to="0401234567")
    assert (result.error.kind, result.error.code) == (ErrorKind.PERMANENT, "21211")
    assert "0401234567" in result.error.message


def test_wrong_credentials_are_a_classified_error(twilio_standin):
    result = send_one(backend_for(twilio_standin, auth_token="wrong"))

    assert result.error.kind is ErrorKind.PERMANENT
    assert (result.error.code, result.error.http_status) == ("20003", 401)
    assert twilio_standin.received == []


def test_too_many_requests_is_transient_with_retry_after(twilio_standin):
    twilio_standin.script("+358401234567", status=429, retry_after="7")
    result = send_one(backend_for(twilio_standin))

    assert result.error.kind is ErrorKind.TRANSIENT
    assert result.error.http_status == 429
    assert result.error.retry_after == 7.0


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient_and_sent_once(twilio_standin, status):
    twilio_standin.script("+358401234567", status=status)
    result = send_one(backend_for(twilio_standin))

    assert result.error.kind is ErrorKind.TRANSIENT
    assert result.error.http_status == status
    assert result.error.retry_after is None
    assert len(twilio_standin.requests) == 1, "the HTTP layer must not retry by itself"


def test_a_scripted_failure_with_times_then_succeeds(twilio_standin):
    twilio_standin.script("+358401234567", status=503, times=1)
    backend = backend_for(twilio_standin)
    assert send_one(backend).error.kind is ErrorKind.TRANSIENT
    assert send_one(backend).ok


# --- no answer ----------------------------------------------------------------------------


def test_connection_refused_is_transient():
    backend = get_backend(
        "twilio",
        base_url=f"http://127.0.0.1:{closed_port()}",
        account_sid="AC123",
        auth_token="secret",
        from_number=FROM_NUMBER,
    )
    result = send_one(backend)
    assert result.error.kind is ErrorKind.TRANSIENT
    assert result.error.code == "connection_failed"


def test_answer_slower_than_the_read_timeout_is_ambiguous(twilio_standin):
    twilio_standin.script("+358401234567", latency=2.0)
    result = send_one(backend_for(twilio_standin, timeout=(2.0, 0.3)))

    assert result.error.kind is ErrorKind.AMBIGUOUS
    assert result.error.code == "read_timeout"
    assert twilio_standin.count_by_to() == {"+358401234567": 1}


def test_connection_closed_after_the_request_is_ambiguous(twilio_standin):
    twilio_standin.script("+358401234567", drop=True)
    result = send_one(backend_for(twilio_standin))

    assert result.error.kind is ErrorKind.AMBIGUOUS
    assert result.error.code == "connection_lost"
    assert twilio_standin.count_by_to() == {"+358401234567": 1}
    assert len(twilio_standin.requests) == 1, "an ambiguous send must never be repeated"


# --- batches -------------------------------------------------------------------------------


def test_a_batch_is_sent_concurrently_once_per_recipient(twilio_standin):
    twilio_standin.latency = 0.02
    batch = [SmsMessage(to=f"+3584012{i:05d}", body=f"Viesti {i}", reference=i) for i in range(200)]
    results = backend_for(twilio_standin, concurrency=16).send_messages(batch)

    assert [r.reference for r in results] == list(range(200))
    assert all(r.ok for r in results)
    assert twilio_standin.count_by_to() == {m.to: 1 for m in batch}
    assert 1 < twilio_standin.max_concurrency <= 16
    sids = {m.to: m.sid for m in twilio_standin.received}
    assert all(sids[m.to] == r.provider_id for m, r in zip(batch, results, strict=True))


def test_a_mixed_batch_answers_each_message_in_order(twilio_standin):
    twilio_standin.script("+358401000001", status=400, code=21610)
    twilio_standin.script("+358401000002", status=429)
    twilio_standin.script("+358401000003", drop=True)
    batch = [SmsMessage(to=f"+35840100000{i}", body="Hei", reference=i) for i in range(5)]

    results = backend_for(twilio_standin).send_messages(batch)

    assert [r.reference for r in results] == [0, 1, 2, 3, 4]
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert [r.error.kind for r in results[1:4]] == [
        ErrorKind.PERMANENT,
        ErrorKind.TRANSIENT,
        ErrorKind.AMBIGUOUS,
    ]


def test_an_open_backend_sends_several_batches(twilio_standin):
    with backend_for(twilio_standin, concurrency=4) as backend:
        first = backend.send_messages([SmsMessage(to="+358401000001", body="1")] * 3)
        second = backend.send_messages([SmsMessage(to="+358401000002", body="2")] * 3)
    assert all(r.ok for r in first + second)
    assert twilio_standin.count_by_to() == {"+358401000001": 3, "+358401000002": 3}


# --- configuration -----------------------------------------------------------------------


def test_missing_credentials_are_improperly_configured(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(ImproperlyConfigured, match="TWILIO_ACCOUNT_SID"):
        get_backend("twilio")


def test_a_base_url_that_is_not_http_is_improperly_configured():
    with pytest.raises(ImproperlyConfigured, match="TWILIO_API_BASE_URL"):
        get_backend("twilio", account_sid="AC1", auth_token="t", base_url="ftp://example.com")


# --- classification of what requests raises -------------------------------------------------
# Built the way requests' HTTPAdapter wraps urllib3's errors, for the cases that a
# local server cannot produce reliably (connect timeout, DNS).


def _new_connection_error(cause: OSError) -> urllib3.exceptions.NewConnectionError:
    conn = urllib3.connection.HTTPConnection("api.twilio.com", 443)
    error = urllib3.exceptions.NewConnectionError(conn, f"Failed to establish: {cause}")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ConnectionError(
            urllib3.exceptions.MaxRetryError(
                None, "/", _new_connection_error(ConnectionRefusedError(111, "refused"))
            )
        ),
        requests.exceptions.ConnectionError(
            urllib3.exceptions.MaxRetryError(
                None,
                "/",
                urllib3.exceptions.NameResolutionError(
                    "api.twilio.com",
                    urllib3.connection.HTTPConnection("api.twilio.com", 443),
                    socket.gaierror(-2, "Name or service not known"),
                ),
            )
        ),
    ],
    ids=["connect-timeout", "refused", "dns"],
)
def test_failures_before_sending_are_transient(exc):
    assert classify_exception(exc).kind is ErrorKind.TRANSIENT


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError(
            urllib3.exceptions.ProtocolError(
                "Connection aborted.", http.client.RemoteDisconnected("closed")
            )
        ),
        requests.exceptions.ConnectionError(
            urllib3.exceptions.ProtocolError(
                "Connection aborted.", ConnectionResetError(104, "reset by peer")
            )
        ),
        requests.exceptions.ChunkedEncodingError("incomplete chunked read"),
        requests.exceptions.ConnectionError("something we do not recognise"),
        ValueError("not JSON"),
    ],
    ids=["read-timeout", "remote-disconnected", "reset", "chunked", "unknown-conn", "unexpected"],
)
def test_failures_after_the_request_may_have_left_are_ambiguous(exc):
    assert classify_exception(exc).kind is ErrorKind.AMBIGUOUS


def test_a_rest_exception_keeps_twilio_code_and_status():
    error = classify_exception(TwilioRestException(400, "/Messages.json", "Bad 'To'", 21614))
    assert (error.kind, error.code, error.http_status) == (ErrorKind.PERMANENT, "21614", 400)
    assert error.message == "Bad 'To'"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("1.5", 1.5), ("", None), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_in_the_past_is_zero():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# --- the stand-in itself ---------------------------------------------------------------------


def test_standin_refuses_requests_without_basic_auth(twilio_standin):
    url = (
        f"{twilio_standin.base_url}/2010-04-01/Accounts/{twilio_standin.account_sid}/Messages.json"
    )
    request = urllib.request.Request(url, data=b"To=%2B358401234567&Body=Hei&From=%2B1500")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 401
    assert twilio_standin.received == []


def test_standin_probability_rules_are_seeded(twilio_standin):
    twilio_standin.script(probability=0.5, status=503)
    batch = [SmsMessage(to=f"+3584012{i:05d}", body="Hei") for i in range(40)]
    results = backend_for(twilio_standin, concurrency=1).send_messages(batch)
    failed = sum(not r.ok for r in results)
    assert 0 < failed < 40
    assert len(twilio_standin.received) == 40 - failed


def test_standin_stats_endpoint(twilio_standin):
    send_one(backend_for(twilio_standin))
    with urllib.request.urlopen(f"{twilio_standin.base_url}/_standin/stats", timeout=5) as answer:
        stats = json.load(answer)
    assert stats["received"] == 1
    assert stats["count_by_to"] == {"+358401234567": 1}


def test_retry_after_belongs_to_each_message_in_a_concurrent_batch(twilio_standin):
    twilio_standin.latency = 0.01
    for i in range(0, 40, 2):
        twilio_standin.script(f"+3584012{i:05d}", status=429, retry_after=str(i + 1))
    batch = [SmsMessage(to=f"+3584012{i:05d}", body="Hei", reference=i) for i in range(40)]

    results = backend_for(twilio_standin, concurrency=8).send_messages(batch)

    assert [r.error.retry_after if r.error else None for r in results] == [
        float(i + 1) if i % 2 == 0 else None for i in range(40)
    ]


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        (None, "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/2010-04-01/Accounts/AC1/Messages.json"),
        (
            "https://proxy.example/twilio/",
            "https://proxy.example/twilio/2010-04-01/Accounts/AC1/Messages.json",
        ),
    ],
)
def test_the_http_client_rebases_only_scheme_host_and_prefix(base_url, expected):
    client = PooledHttpClient(base_url=base_url, pool_size=2, timeout=(1.0, 1.0))
    assert client.rebase("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json") == expected


def test_the_http_client_is_shared_per_process_and_configuration():
    first = shared_http_client(base_url="http://127.0.0.1:1", pool_size=4, timeout=(1.0, 2.0))
    again = shared_http_client(base_url="http://127.0.0.1:1", pool_size=4, timeout=(1.0, 2.0))
    other = shared_http_client(base_url="http://127.0.0.1:2", pool_size=4, timeout=(1.0, 2.0))
    assert first is again
    assert other is not first


class _CallbackReceiver(http.server.BaseHTTPRequestHandler):
    posts: list[tuple[str, dict[str, str], str]] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = dict(urllib.parse.parse_qsl(raw))
        self.posts.append((self.path, form, self.headers.get("X-Twilio-Signature", "")))
        self.send_response(204)
        self.end_headers()


def test_standin_posts_signed_status_callbacks(twilio_standin):
    _CallbackReceiver.posts = []
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CallbackReceiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    callback = f"http://127.0.0.1:{receiver.server_address[1]}/sms/status/?sendout=7"
    twilio_standin.send_status_callbacks = True
    try:
        result = send_one(backend_for(twilio_standin), status_callback=callback)
        deadline = time.monotonic() + 5
        while len(_CallbackReceiver.posts) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        receiver.shutdown()
        receiver.server_close()

    validator = RequestValidator(twilio_standin.auth_token)
    assert [form["MessageStatus"] for _, form, _ in _CallbackReceiver.posts] == [
        "sent",
        "delivered",
    ]
    for path, form, signature in _CallbackReceiver.posts:
        assert path == "/sms/status/?sendout=7"
        assert form["MessageSid"] == result.provider_id
        assert validator.validate(callback, form, signature)
        assert not validator.validate(callback, {**form, "MessageStatus": "failed"}, signature)


@pytest.mark.parametrize(
    ("twilio", "ours"),
    [
        ("accepted", MessageStatus.SENT),
        ("queued", MessageStatus.SENT),
        ("sending", MessageStatus.SENT),
        ("sent", MessageStatus.SENT),
        (" Delivered ", MessageStatus.DELIVERED),
        ("undelivered", MessageStatus.UNDELIVERED),
        ("failed", MessageStatus.UNDELIVERED),  # after acceptance: the carrier's refusal
        ("receiving", None),
        ("read", None),
        ("", None),
        ("pending\x00", None),
    ],
)
def test_twilios_status_words_become_ours_at_the_edge(twilio: str, ours) -> None:
    assert message_status(twilio) == ours

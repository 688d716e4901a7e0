"""The SMS backend base, its selection, and the console and locmem backends."""

import io

import pytest
from django.core.exceptions import ImproperlyConfigured

from sms.backends import (
    BaseSmsBackend,
    ErrorKind,
    SendError,
    SendResult,
    SmsMessage,
    console,
    get_backend,
    locmem,
)
from sms.backends import twilio as twilio_backend


def messages(*numbers: str) -> list[SmsMessage]:
    return [SmsMessage(to=number, body=f"Hei {i}", reference=i) for i, number in enumerate(numbers)]


# --- selection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "module"),
    [("console", console), ("locmem", locmem)],
)
def test_get_backend_by_name(name, module):
    assert type(get_backend(name)) is module.SmsBackend


def test_get_backend_twilio_by_name(settings):
    settings.TWILIO_ACCOUNT_SID = "AC123"
    settings.TWILIO_AUTH_TOKEN = "secret"
    assert type(get_backend("twilio")) is twilio_backend.SmsBackend


def test_get_backend_by_dotted_path():
    assert type(get_backend("sms.backends.locmem.SmsBackend")) is locmem.SmsBackend


def test_get_backend_defaults_to_the_setting(settings):
    settings.SMS_BACKEND = "locmem"
    assert type(get_backend()) is locmem.SmsBackend
    settings.SMS_BACKEND = "sms.backends.console.SmsBackend"
    assert type(get_backend()) is console.SmsBackend


def test_the_default_setting_is_the_console_backend():
    from config import settings as project_settings

    assert project_settings.SMS_BACKEND == "console"


def test_get_backend_passes_keyword_arguments():
    stream = io.StringIO()
    backend = get_backend("console", stream=stream)
    assert backend.stream is stream


@pytest.mark.parametrize(
    "name",
    ["carrier-pigeon", "sms.backends.nope.SmsBackend", "sms.backends.console.Nope"],
)
def test_get_backend_unknown_is_improperly_configured(name):
    with pytest.raises(ImproperlyConfigured, match="SMS backend"):
        get_backend(name)


def test_get_backend_refuses_a_class_that_is_not_a_backend():
    with pytest.raises(ImproperlyConfigured, match="not a BaseSmsBackend"):
        get_backend("collections.OrderedDict")


# --- base --------------------------------------------------------------------------------


def test_base_backend_requires_send_messages():
    with pytest.raises(NotImplementedError):
        BaseSmsBackend().send_messages(messages("+358401234567"))


def test_backend_as_context_manager_opens_and_closes():
    events = []

    class Recording(BaseSmsBackend):
        def open(self):
            events.append("open")
            return True

        def close(self):
            events.append("close")

    with Recording() as backend:
        assert isinstance(backend, Recording)
        events.append("inside")
    assert events == ["open", "inside", "close"]


def test_only_transient_errors_are_retryable():
    assert SendError(kind=ErrorKind.TRANSIENT).retryable
    assert not SendError(kind=ErrorKind.PERMANENT).retryable
    assert not SendError(kind=ErrorKind.AMBIGUOUS).retryable


def test_error_kinds_are_plain_strings():
    assert [kind.value for kind in ErrorKind] == ["permanent", "transient", "ambiguous"]
    assert ErrorKind("ambiguous") is ErrorKind.AMBIGUOUS


# --- console -------------------------------------------------------------------------------


def test_console_writes_each_message_and_accepts_it():
    stream = io.StringIO()
    batch = [
        SmsMessage(to="+358401234567", body="Hei Åsa,\nterve!", reference=41),
        SmsMessage(
            to="+358501234567",
            body="Toinen",
            sender="Acme",
            status_callback="https://crm.example.fi/sms/status/",
            reference="42",
        ),
    ]
    results = get_backend("console", stream=stream).send_messages(batch)

    output = stream.getvalue()
    assert "+358401234567" in output
    assert "Hei Åsa,\nterve!" in output
    assert "from Acme" in output
    assert "https://crm.example.fi/sms/status/" in output
    assert [r.reference for r in results] == [41, "42"]
    assert all(r.ok and r.error is None for r in results)
    assert all(r.provider_id.startswith("SMconsole") for r in results)
    assert results[0].provider_id in output
    assert results[0].provider_id != results[1].provider_id


def test_console_defaults_to_stdout(capsys):
    get_backend("console").send_messages(messages("+358401234567"))
    assert "+358401234567" in capsys.readouterr().out


# --- locmem ----------------------------------------------------------------------------------


def test_locmem_keeps_accepted_messages_in_the_outbox(sms_outbox):
    batch = messages("+358401234567", "+358401234568")
    results = get_backend("locmem").send_messages(batch)

    assert sms_outbox == batch
    assert locmem.outbox is sms_outbox
    assert [r.reference for r in results] == [0, 1]
    assert all(r.ok for r in results)
    assert len({r.provider_id for r in results}) == 2


def test_locmem_scripted_failure_applies_to_every_attempt(sms_outbox):
    error = SendError(kind=ErrorKind.PERMANENT, code="21211", http_status=400)
    locmem.failures["+358401234568"] = error
    backend = get_backend("locmem")

    first = backend.send_messages(messages("+358401234567", "+358401234568"))
    again = backend.send_messages(messages("+358401234568"))

    assert first[0].ok
    assert first[1] == SendResult(reference=1, ok=False, error=error)
    assert again[0].error == error
    assert [m.to for m in sms_outbox] == ["+358401234567"]
    assert [m.to for m in locmem.attempts] == ["+358401234567", "+358401234568", "+358401234568"]


def test_locmem_scripted_failures_in_a_list_are_used_up_in_order(sms_outbox):
    transient = SendError(kind=ErrorKind.TRANSIENT, http_status=429, retry_after=2.0)
    ambiguous = SendError(kind=ErrorKind.AMBIGUOUS, code="read_timeout")
    locmem.failures["+358401234567"] = [transient, ambiguous]
    backend = get_backend("locmem")

    outcomes = [backend.send_messages(messages("+358401234567"))[0] for _ in range(3)]

    assert [r.error for r in outcomes] == [transient, ambiguous, None]
    assert outcomes[2].ok
    assert len(sms_outbox) == 1


def test_locmem_reset_empties_everything_in_place(sms_outbox):
    locmem.failures["+358401234567"] = SendError(kind=ErrorKind.PERMANENT)
    get_backend("locmem").send_messages(messages("+358401234567", "+358401234568"))
    outbox = locmem.outbox

    locmem.reset()

    assert outbox is locmem.outbox
    assert (locmem.outbox, locmem.attempts, locmem.failures) == ([], [], {})


def test_an_empty_batch_answers_no_results(sms_outbox):
    assert get_backend("locmem").send_messages([]) == []
    assert get_backend("console", stream=io.StringIO()).send_messages([]) == []

"""Fixtures for the SMS tests."""

from collections.abc import Callable, Iterator

import pytest

from sms.backends import locmem
from sms.models import Sendout
from sms.sendouts.lifecycle import sendout_finish_if_done
from sms.sendouts.reconcile import messages_reconcile, take_over_expired_leases
from sms.sendouts.send import sendout_dispatch, sendout_send_chunk
from sms.statuses import MessageStatus
from targetgroups.models import TargetGroup
from tests.factories import ContactFactory, TargetGroupFactory
from tests.sms.twilio_standin import TwilioStandin

# More retry rounds than any test scripts failures for: a sendout still retrying
# after them is a bug, not a slow provider.
MAX_ROUNDS = 10

SendToTheEnd = Callable[..., dict[int, float]]


@pytest.fixture
def group(org) -> TargetGroup:
    """Five hand-picked members: three sendable (+358 40 100 0001 to 0003, the third
    with a first name of 100 characters), one opted out, one without a number."""
    return TargetGroupFactory(
        organisation=org,
        included_contacts=[
            ContactFactory(organisation=org, blank=True, **fields)
            for fields in [
                {"first_name": "Maija", "mobile_phone": "+358 40 100 0001"},
                {"first_name": "Juha", "mobile_phone": "+358 40 100 0002"},
                {"first_name": "L" * 100, "mobile_phone": "+358 40 100 0003"},
                {"first_name": "Out", "mobile_phone": "+358 40 100 0004", "sms_opt_out": True},
                {"first_name": "Nonumber"},
            ]
        ],
    )


@pytest.fixture
def town_group(org) -> TargetGroup:
    """Every contact of ``org`` in the test town (``sendable_contacts``,
    ``unsendable_contacts``), resolved when a sendout is created."""
    return TargetGroupFactory(organisation=org, in_town=True)


@pytest.fixture
def twilio_standin() -> Iterator[TwilioStandin]:
    """A running Twilio stand-in (``.base_url``, ``.script(...)``, ``.received``)."""
    with TwilioStandin() as standin:
        yield standin


@pytest.fixture
def twilio_settings(settings, twilio_standin: TwilioStandin) -> TwilioStandin:
    """Settings that make ``get_backend()`` the twilio backend talking to the stand-in."""
    for name, value in twilio_standin.settings().items():
        setattr(settings, name, value)
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    return twilio_standin


@pytest.fixture
def sms_outbox(settings) -> Iterator[list]:
    """The locmem backend, chosen (``SMS_BACKEND``) and emptied with its scripted
    failures around the test; answers its outbox."""
    settings.SMS_BACKEND = "locmem"
    locmem.reset()
    yield locmem.outbox
    locmem.reset()


@pytest.fixture
def send_to_the_end() -> SendToTheEnd:
    """``send_to_the_end(sendout, rounds=None)``: what the worker does, in process,
    through whichever backend the settings choose: dispatch, send every chunk, then
    the messages to retry as one chunk, round after round (the retry delays are not
    waited for), and what the sweeper does with messages whose request ended
    ambiguously: reconcile them with the provider, and send again the ones it says
    it never took (those it may still list stay ``sending`` within
    ``SMS_RECONCILE_GRACE``). Without ``rounds`` it goes on until nothing is left
    to retry and checks that no message is still pending (nor ``sending`` other
    than waiting for reconciliation); with ``rounds`` it stops after that many.
    Answers the retries (message id: delay) of the last round."""

    def send(sendout: Sendout, *, rounds: int | None = None) -> dict[int, float]:
        work = sendout_dispatch(sendout_id=sendout.pk)
        for done in range(1, MAX_ROUNDS + 1):
            retries: dict[int, float] = {}
            for chunk in work:
                retries |= sendout_send_chunk(sendout_id=sendout.pk, message_ids=chunk)
            if rounds is not None and done >= rounds:
                return retries
            reconciled = messages_reconcile(messages=take_over_expired_leases())
            for sendout_id in reconciled.sendouts:
                sendout_finish_if_done(sendout_id=sendout_id)
            resend = reconciled.resend
            if not retries and not resend:
                assert not sendout.messages.filter(status=MessageStatus.PENDING).exists()
                assert not sendout.messages.filter(
                    status=MessageStatus.SENDING, claimed_by__gt=""
                ).exists()
                return retries
            work = [list(retries) + resend.get(sendout.pk, [])]
        raise AssertionError(f"still retrying after {MAX_ROUNDS} rounds")

    return send


@pytest.fixture
def handed_to_workers(monkeypatch) -> list[tuple[str, list, float | None]]:
    """What the services hand to Celery (task name, args, countdown), recorded at
    the library's door instead of reaching a broker."""
    from celery import current_app

    handed: list[tuple[str, list, float | None]] = []

    def send_task(name: str, args=None, countdown=None, **options):
        handed.append((name, list(args or []), countdown))

    monkeypatch.setattr(current_app._get_current_object(), "send_task", send_task)
    return handed

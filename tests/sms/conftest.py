"""Fixtures for the SMS tests."""

from collections.abc import Iterator

import pytest

from sms.backends import locmem
from tests.sms.twilio_standin import TwilioStandin


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
def sms_outbox() -> Iterator[list]:
    """The locmem backend's outbox, emptied (with its scripted failures) around the test."""
    locmem.reset()
    yield locmem.outbox
    locmem.reset()

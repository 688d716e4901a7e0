"""The optional messages-per-second cap per organisation and sender."""

import pytest
from django.core.cache import cache

from sms.backends import locmem
from sms.ratelimit import SenderRateLimit
from tests.factories import SmsSettingsFactory, create_sendout, sendable_contacts


class FakeClock:
    """Time that moves only when somebody sleeps; records when each send happened."""

    def __init__(self, start: float = 1_000.25) -> None:
        self.now = start
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


class ClockedLocmemBackend(locmem.SmsBackend):
    """locmem, noting the fake clock's second for every message it is handed."""

    clock = FakeClock()  # each test patches in its own clock and list
    sent_at: list[int] = []

    def send_messages(self, messages):
        self.sent_at.extend(int(self.clock.now) for _ in messages)
        return super().send_messages(messages)


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_window_holds_at_most_the_cap():
    clock = FakeClock()
    limit = SenderRateLimit(key="t1", per_second=5, clock=clock.time, sleep=clock.sleep)
    seconds = []
    for n in (3, 2, 4, 5, 1):
        limit.take(n)
        seconds.append(int(clock.now))
    # 3+2 fill second 1000; 4 moves to 1001; 5 to 1002; 1 to 1003.
    assert seconds == [1000, 1000, 1001, 1002, 1003]
    assert clock.slept == pytest.approx(0.75 + 1.0 + 1.0)


def test_keys_are_separate():
    clock = FakeClock()
    a = SenderRateLimit(key="org1:operator", per_second=2, clock=clock.time, sleep=clock.sleep)
    b = SenderRateLimit(key="org1:AcmeOy", per_second=2, clock=clock.time, sleep=clock.sleep)
    a.take(2)
    b.take(2)
    assert clock.slept == 0


def test_the_cap_must_be_positive():
    with pytest.raises(ValueError):
        SenderRateLimit(key="x", per_second=0)


@pytest.mark.django_db
def test_a_capped_sendout_is_sent_in_slices_of_the_cap(
    org, user, town_group, settings, sms_outbox, send_to_the_end, monkeypatch
):
    clock = FakeClock()
    monkeypatch.setattr("sms.ratelimit.time.time", clock.time)
    monkeypatch.setattr("sms.ratelimit.time.sleep", clock.sleep)
    SmsSettingsFactory(organisation=org, quota=50, messages_per_second=3)
    sendable_contacts(org, 10)
    sendout = create_sendout(
        target_group=town_group, created_by=user, body="Hei {{contact.first_name}}"
    )
    sent_at: list[int] = []
    monkeypatch.setattr(ClockedLocmemBackend, "clock", clock)
    monkeypatch.setattr(ClockedLocmemBackend, "sent_at", sent_at)
    settings.SMS_BACKEND = f"{__name__}.ClockedLocmemBackend"
    send_to_the_end(sendout)
    assert len(sms_outbox) == 10
    per_second = {second: sent_at.count(second) for second in set(sent_at)}
    assert max(per_second.values()) <= 3
    assert len(per_second) == 4  # 3 + 3 + 3 + 1

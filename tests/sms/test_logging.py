"""Sendout steps are logged with their ids; INFO records never carry a phone
number or a message body (privacy), in plain or JSON format."""

import json
import logging
import re
from datetime import timedelta

import pytest

from config.logging import JsonFormatter
from sms import tasks
from sms.backends import ErrorKind, SendError, locmem
from sms.models import OutboundMessage
from sms.sendouts.lifecycle import sendout_cancel, sweep_stuck_messages
from sms.sendouts.send import sendout_dispatch
from tests.factories import SmsSettingsFactory, create_sendout, people_of_oulu

BODY = "Hei {{contact.first_name}}, tervetuloa Kalevan asiakasiltaan!"
PHONE_DIGITS = re.compile(r"\d[\d ]{6,}\d")  # +358 40 100 0001, 358401000001, ...


@pytest.fixture
def sendout_world(org, user, settings, sms_outbox):
    settings.SMS_CHUNK_SIZE = 2
    settings.SMS_MAX_ATTEMPTS = 3
    SmsSettingsFactory(organisation=org, operator_number="+358401110000", quota=100)
    names = ["Matti", "Maija", "Juha", "Anna", "Sanna"]
    people = [(first, f"+358 40 100 000{n}", False) for n, first in enumerate(names, start=1)]
    group = people_of_oulu(org, user, [*people, ("Timo", "", False)])
    locmem.failures["+358401000002"] = SendError(kind=ErrorKind.PERMANENT, code="21211")
    # Taken, then the connection dropped: reconciliation finds it in the provider's list.
    locmem.taken_then_lost["+358401000003"] = SendError(
        kind=ErrorKind.AMBIGUOUS, code="read_timeout"
    )
    settings.SMS_RECONCILE_GRACE = 0
    locmem.failures["+358401000004"] = [SendError(kind=ErrorKind.TRANSIENT, http_status=429)]
    return group, names


def run_sendouts(group, user, capture_on_commit, send_to_the_end) -> list[int]:
    def press_send():
        with capture_on_commit(execute=False):
            return create_sendout(
                target_group=group, created_by=user, sender="", phone_field="", body=BODY
            )

    sendout = press_send()
    send_to_the_end(sendout)
    second = press_send()
    sendout_cancel(sendout=second, cancelled_by=user)
    # A third one whose worker "crashed" mid-send: the sweeper looks its messages
    # up, does not find them, and hands them back to the workers.
    third = press_send()
    sendout_dispatch(sendout_id=third.pk)
    OutboundMessage.objects.filter(sendout=third, status="pending").update(status="sending")
    sweep_stuck_messages(older_than=timedelta(seconds=-1))
    return [sendout.pk, second.pk, third.pk]


@pytest.mark.django_db
def test_every_sendout_step_is_logged_with_ids_and_without_numbers_or_bodies(
    sendout_world, user, caplog, django_capture_on_commit_callbacks, send_to_the_end
):
    group, names = sendout_world
    caplog.set_level(logging.INFO)
    first, second, third = run_sendouts(
        group, user, django_capture_on_commit_callbacks, send_to_the_end
    )
    assert len(locmem.attempts) == 6  # 5 numbers + 1 retry; nothing for the cancelled one

    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in records]
    plain = logging.Formatter("%(message)s")
    texts = lines + [plain.format(r) for r in records]
    for text in texts:
        assert not PHONE_DIGITS.search(text), text
        for secret in ["tervetuloa", "Kalevan", "{{contact", *names]:
            assert secret not in text, text

    events = [json.loads(line) for line in lines]
    by_sendout = [e for e in events if e.get("sendout_id") == first]
    messages = [e["message"] for e in by_sendout]
    assert any(
        m.endswith("created: 5 recipients, 1 skipped, 5 messages reserved") for m in messages
    )
    assert any("dispatched: 5 pending messages in 3 chunks" in m for m in messages)
    chunks = [e for e in by_sendout if "chunk sent" in e["message"]]
    assert sum(e["ok"] for e in chunks) == 3  # Matti, Anna (after a retry), Sanna
    assert sum(e["failed"] for e in chunks) == 1
    assert sum(e["unknown"] for e in chunks) == 1
    assert sum(e["retry"] for e in chunks) == 1
    assert any(m.endswith("completed") for m in messages)
    for event in by_sendout:
        assert event["organisation_id"] == group.organisation_id
        assert event["target_group_id"] == group.pk
        assert {"timestamp", "level", "logger"} <= set(event)
    cancelled = [e for e in events if e.get("sendout_id") == second and "cancelled" in e["message"]]
    assert cancelled and cancelled[0]["messages_refunded"] == 5
    reconciled = [e for e in events if e["message"].startswith("sms reconciliation")]
    assert any(e.get("reconciled_recovered") == 1 for e in reconciled)  # the first's
    assert any(e.get("reconciled_resent") == 5 for e in reconciled)  # the third's
    assert set(
        OutboundMessage.objects.filter(sendout=third)
        .exclude(to="")
        .values_list("status", "recovery")
    ) == {("pending", "resent")}


@pytest.mark.django_db
def test_task_start_and_finish_are_logged_with_id_and_runtime(caplog, settings):
    caplog.set_level(logging.INFO, logger="crm.tasks")
    result = tasks.sweep.apply()  # runs here, through Celery's tracer
    assert result.successful(), result.traceback
    records = [r for r in caplog.records if r.name == "crm.tasks"]
    assert [r.getMessage().split(":")[0] for r in records] == ["task started", "task finished"]
    finished = records[-1]
    assert finished.task_id == result.id
    assert finished.task_name == "sms.tasks.sweep"
    assert finished.state == "SUCCESS"
    assert isinstance(finished.runtime, float) and finished.runtime >= 0
    data = json.loads(JsonFormatter().format(finished))
    assert data["task_id"] == result.id

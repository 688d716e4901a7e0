"""``sms/sendouts/write.py``: a group of more than ``SMS_WRITE_INLINE_MAX``
members is only tallied by the Yes, and its messages are written by the worker
right after (#21). The Yes's guarantees hold (the count confirmed, the quota
reserved, nothing on a refusal); the write trues the bill up in its own
transaction; a cancellation, a lost task or a second task neither loses nor
doubles a message. (Concurrency on PostgreSQL at the end.)"""

import os
from datetime import timedelta

import pytest
from django.db import connection

from core.errors import DomainError
from crm.models import Contact
from sms.models import (
    OutboundMessage,
    QuotaKind,
    QuotaTransaction,
    SenderAuthorisation,
    SenderName,
    Sendout,
)
from sms.quota import quota_adjust
from sms.selectors import quota_balance
from sms.sendouts.lifecycle import (
    sendout_cancel,
    sendout_finish_if_done,
    sendout_run_sweep,
    sendouts_unwritten,
    sweep_stuck_messages,
)
from sms.sendouts.send import sendout_dispatch, sendout_run_write
from sms.sendouts.write import sendout_messages_write
from sms.statuses import MessageStatus, SendoutStatus
from tests.conftest import run_in_threads
from tests.factories import SmsSettingsFactory, create_sendout, sendable_contacts
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db

BODY = "x" * 61 + "{{contact.first_name}}"  # 66, 65 and 161 characters: 4 messages
QUOTA = 50


def rows(sendout: Sendout) -> list[tuple]:
    """What a message row says, but for the codes of its own sendout."""
    return list(
        OutboundMessage.objects.filter(sendout=sendout)
        .order_by("contact_id")
        .values_list(
            "contact_id", "to", "status", "reason", "messages", "encoding", "carrier_segments"
        )
    )


def texts(sendout: Sendout) -> list[tuple[int, str, int]]:
    """Each message's first line (the rendered template) and its length."""
    bodies = OutboundMessage.objects.filter(sendout=sendout).order_by("contact_id")
    return [(b.contact_id, b.body.split("\n")[0], len(b.body)) for b in bodies]


@pytest.fixture
def quota(org):
    return SmsSettingsFactory(organisation=org, quota=QUOTA)


@pytest.fixture
def deferred(settings):
    """Every group with more than two members is written by the worker."""
    settings.SMS_WRITE_INLINE_MAX = 2


def test_the_worker_writes_what_the_yes_would_have_written(
    settings, org, user, group, quota, django_capture_on_commit_callbacks
):
    settings.SMS_WRITE_INLINE_MAX = 5  # the group's five members: written by the Yes
    inline = create_sendout(target_group=group, created_by=user, body=BODY, expected_messages=4)
    assert inline.messages_written
    settings.SMS_WRITE_INLINE_MAX = 4
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        later = create_sendout(target_group=group, created_by=user, body=BODY, expected_messages=4)
    assert len(callbacks) == 1  # the writing task
    later.refresh_from_db()
    assert not later.messages_written
    assert not OutboundMessage.objects.filter(sendout=later).exists()
    assert (later.messages_reserved, later.recipients_total) == (4, 5)
    assert later.record == inline.record
    assert later.counts == inline.counts  # the record's, until written
    assert later.counts["pending"] == 3

    assert sendout_messages_write(sendout_id=later.pk)
    later.refresh_from_db()
    assert later.messages_written
    assert rows(later) == rows(inline)
    assert texts(later) == texts(inline)
    assert later.counts == inline.counts
    assert later.record["written"] == {k: v for k, v in inline.record.items() if k != "optout"}
    assert later.messages_reserved == 4
    assert QuotaTransaction.objects.filter(sendout=later).count() == 1  # nothing trued up
    assert not sendout_messages_write(sendout_id=later.pk)  # once
    assert OutboundMessage.objects.filter(sendout=later).count() == 5


def test_the_yes_refuses_as_before_and_writes_nothing(deferred, org, user, group, quota):
    with pytest.raises(DomainError) as changed:
        create_sendout(target_group=group, created_by=user, body=BODY, expected_messages=3)
    assert (changed.value.code, changed.value.status_code) == ("count_changed", 409)
    quota_adjust(organisation=org, amount=3 - QUOTA, reason="spent elsewhere")
    with pytest.raises(DomainError) as short:
        create_sendout(target_group=group, created_by=user, body=BODY, expected_messages=4)
    assert short.value.code == "insufficient_quota"
    assert not Sendout.objects.exists()
    assert QuotaTransaction.objects.filter(kind=QuotaKind.RESERVATION).count() == 0
    assert quota_balance(organisation=org) == 3


def test_dispatch_writes_first_and_sends_every_message_once(
    deferred, org, user, group, quota, sms_outbox, send_to_the_end
):
    sendout = create_sendout(target_group=group, created_by=user, body=BODY)
    send_to_the_end(sendout)  # sendout_dispatch writes, then hands out chunks
    sendout.refresh_from_db()
    assert sendout.messages_written
    assert sendout.status == SendoutStatus.COMPLETED
    assert sorted(m.to for m in sms_outbox) == ["+358401000001", "+358401000002", "+358401000003"]
    assert_books_balance(org, sendout, topped_up=QUOTA)


def test_the_write_task_dispatches_a_queued_sendout_only(deferred, org, user, group, quota):
    sendout = create_sendout(target_group=group, created_by=user, body=BODY)
    assert sendout_run_write(sendout_id=sendout.pk) == 1  # one chunk handed on
    sendout.refresh_from_db()
    assert (sendout.status, sendout.messages_written) == (SendoutStatus.SENDING, True)

    later = create_sendout(
        target_group=group,
        created_by=user,
        body=BODY,
        send_at=sendout.created_at + timedelta(days=1),
    )
    assert later.status == SendoutStatus.SCHEDULED
    assert sendout_run_write(sendout_id=later.pk) == 0
    later.refresh_from_db()
    assert (later.status, later.messages_written) == (SendoutStatus.SCHEDULED, True)
    assert later.messages.filter(status=MessageStatus.PENDING).count() == 3


@pytest.mark.parametrize(
    ("name", "change", "trued_up", "charged", "sent"),
    [
        ("Maija", {"sms_opt_out": True}, (QuotaKind.REFUND, 1), 3, 2),
        ("Juha", {"first_name": "J" * 100}, (QuotaKind.RESERVATION, -1), 5, 3),
    ],
)
def test_changes_before_the_write_are_refunded_or_reserved(
    deferred,
    org,
    user,
    group,
    quota,
    sms_outbox,
    send_to_the_end,
    name,
    change,
    trued_up,
    charged,
    sent,
):
    sendout = create_sendout(target_group=group, created_by=user, body=BODY, expected_messages=4)
    contact = Contact.objects.get(first_name=name)
    for field, value in change.items():
        setattr(contact, field, value)
    contact.save()
    assert sendout_messages_write(sendout_id=sendout.pk)
    sendout.refresh_from_db()
    ledger = QuotaTransaction.objects.filter(sendout=sendout).order_by("id")
    assert [(t.kind, t.amount) for t in ledger] == [(QuotaKind.RESERVATION, -4), trued_up]
    assert sendout.record["messages"] == 4  # what the user confirmed
    assert sendout.record["written"]["messages"] == sendout.messages_charged == charged
    send_to_the_end(sendout)
    assert len(sms_outbox) == sent
    assert_books_balance(org, sendout, topped_up=QUOTA)


def test_a_write_the_quota_no_longer_covers_cancels_and_refunds_all(
    deferred, org, user, group, quota
):
    sendout = create_sendout(target_group=group, created_by=user, body=BODY, expected_messages=4)
    quota_adjust(organisation=org, amount=4 - QUOTA, reason="spent elsewhere meanwhile")
    Contact.objects.filter(first_name="Maija").update(first_name="M" * 100)
    assert not sendout_messages_write(sendout_id=sendout.pk)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.CANCELLED
    assert not sendout.messages_written
    assert not OutboundMessage.objects.filter(sendout=sendout).exists()
    assert sendout.record["written"] == {"refused": "insufficient_quota"}
    assert (sendout.messages_reserved, sendout.messages_refunded) == (4, 4)
    assert sendout.counts["cancelled"] == 3
    assert quota_balance(organisation=org) == 4
    assert_books_balance(org, sendout)


def test_a_deleted_target_group_cancels_and_refunds(deferred, org, user, group, quota):
    sendout = create_sendout(target_group=group, created_by=user, body=BODY)
    group.delete()
    assert not sendout_messages_write(sendout_id=sendout.pk)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.CANCELLED
    assert sendout.record["written"] == {"refused": "target_group_deleted"}
    assert sendout.messages_charged == 0
    assert quota_balance(organisation=org) == QUOTA


def test_cancelled_before_the_write_refunds_all_and_writes_nothing(
    deferred, org, user, group, quota
):
    sendout = create_sendout(target_group=group, created_by=user, body=BODY)
    sendout_cancel(sendout=sendout, cancelled_by=user)
    sendout.refresh_from_db()
    assert (sendout.status, sendout.messages_refunded) == (SendoutStatus.CANCELLED, 4)
    assert sendout.counts["cancelled"] == 3
    assert not sendout_messages_write(sendout_id=sendout.pk)
    assert sendout_dispatch(sendout_id=sendout.pk) == []
    assert not OutboundMessage.objects.filter(sendout=sendout).exists()
    assert_books_balance(org, sendout, topped_up=QUOTA)


def test_an_unwritten_sendout_is_not_completed_and_the_sweeper_writes_it(
    deferred, org, user, group, quota
):
    sendout = create_sendout(target_group=group, created_by=user, body=BODY)
    Sendout.objects.filter(pk=sendout.pk).update(created_at=sendout.created_at - timedelta(hours=1))
    assert not sendout_finish_if_done(sendout_id=sendout.pk)
    sweep_stuck_messages(older_than=timedelta(0), reconcile=False)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.QUEUED
    assert sendouts_unwritten() == [sendout.pk]
    assert sendouts_unwritten(older_than=timedelta(hours=2)) == []
    sendout_run_write(sendout_id=sendout.pk)
    assert sendouts_unwritten() == []


def test_the_api_shows_an_unwritten_sendout_from_its_record(deferred, api, org, group, quota):
    response = api.post(
        f"/api/v1/target-groups/{group.pk}/sms/sendouts/", {"body": BODY}, format="json"
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["messages_written"] is False
    assert body["counts"]["pending"] == 3
    assert body["counts"]["recipients"] == 5
    assert body["progress"] == 40  # the two skipped are done
    sendout_messages_write(sendout_id=body["id"])
    again = api.get(f"/api/v1/sms/sendouts/{body['id']}/").json()
    assert again["messages_written"] is True
    assert again["counts"] == body["counts"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writes_and_a_cancel_never_double_or_lose(deferred, org, user, town_group):
    """Three writing tasks and a cancellation at once: the messages are written
    once or not at all, and the books balance either way."""
    SmsSettingsFactory(organisation=org, quota=QUOTA)
    sendable_contacts(org, 10)
    outcomes = []
    for cancel in (False, True):
        sendout = create_sendout(target_group=town_group, created_by=user)
        work = [lambda s=sendout: outcomes.append(sendout_messages_write(sendout_id=s.pk))] * 3
        if cancel:
            work.append(lambda s=sendout: sendout_cancel(sendout=s))
        assert run_in_threads(work) == []
        sendout.refresh_from_db()
        written = OutboundMessage.objects.filter(sendout=sendout)
        assert written.count() in (0, 10)
        assert written.values("contact_id").distinct().count() == written.count()
        if cancel:
            assert sendout.status == SendoutStatus.CANCELLED
            assert sendout.messages_charged == 0
            assert not written.exclude(status=MessageStatus.CANCELLED).exists()
            assert_books_balance(org, sendout)
        else:
            assert sendout.messages_written and written.count() == 10
            assert sendout.messages_charged == 10
            assert_books_balance(org)
    assert connection.vendor == "postgresql"


@pytest.mark.parametrize("on_at_the_yes", [True, False])
def test_the_write_keeps_the_optout_the_yes_confirmed(
    deferred, settings, org, user, group, quota, on_at_the_yes
):
    """The settings changing between the Yes and the write change no text."""
    settings.SMS_OPTOUT_IN_TEXT = on_at_the_yes
    sendout = create_sendout(target_group=group, created_by=user, body="Hei!")
    settings.SMS_OPTOUT_IN_TEXT = not on_at_the_yes
    assert sendout_messages_write(sendout_id=sendout.pk)
    sendout.refresh_from_db()
    bodies = set(
        sendout.messages.filter(status=MessageStatus.PENDING).values_list("body", flat=True)
    )
    assert len(bodies) == (3 if on_at_the_yes else 1)  # each recipient's own link, or none
    assert all(("/s/o/" in body) == on_at_the_yes for body in bodies)
    assert sendout.messages_charged == sendout.record["messages"]


@pytest.mark.postgres
@pytest.mark.parametrize("inline_max", [20_000, 2], ids=["by-the-yes", "by-the-worker"])
def test_a_role_that_may_not_create_temporary_tables_writes_too(
    settings, org, user, group, quota, inline_max
):
    """The Yes decides a group's members into a temporary table (parallel
    workers); a database role without that privilege writes in one statement."""
    settings.SMS_WRITE_INLINE_MAX = inline_max
    role = f"sms_no_temp_{os.getpid()}"
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN NOSUPERUSER")
        cursor.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        cursor.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(
            f"REVOKE TEMPORARY ON DATABASE {quote(connection.settings_dict['NAME'])} FROM PUBLIC"
        )
        cursor.execute(f"SET ROLE {role}")
        cursor.execute("SELECT has_database_privilege(current_database(), 'TEMPORARY')")
        assert cursor.fetchone() == (False,)
    try:
        sendout = create_sendout(
            target_group=group, created_by=user, body=BODY, expected_messages=4
        )
        sendout_messages_write(sendout_id=sendout.pk)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert sendout.messages.count() == 5
    assert sendout.messages.filter(status=MessageStatus.PENDING).count() == 3


def test_the_yes_hands_the_write_to_the_workers_and_the_sweeper_hands_it_again(
    deferred, org, user, group, quota, handed_to_workers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sendout = create_sendout(target_group=group, created_by=user, body=BODY)
    assert handed_to_workers == [("sms.tasks.sendout_write", [sendout.pk], None)]
    assert sendout_run_sweep() == 0  # young: its task is on its way
    Sendout.objects.filter(pk=sendout.pk).update(created_at=sendout.created_at - timedelta(hours=1))
    assert sendout_run_sweep() == 1
    assert handed_to_workers[1:] == [("sms.tasks.sendout_write", [sendout.pk], None)]


def test_a_broker_out_of_reach_leaves_the_write_to_the_sweeper(
    deferred, monkeypatch, caplog, org, user, group, quota, django_capture_on_commit_callbacks
):
    from celery import current_app

    def unreachable(name, args=None, **options):
        raise ConnectionError("broker down")

    monkeypatch.setattr(current_app._get_current_object(), "send_task", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        sendout = create_sendout(target_group=group, created_by=user, body=BODY)
    assert Sendout.objects.filter(pk=sendout.pk, messages_written=False).exists()
    assert sendout.messages_reserved == 4
    assert "could not enqueue its writing; the sweeper will retry" in caplog.text


def test_a_sender_no_longer_authorised_at_the_write_cancels_and_refunds(deferred, org, user, group):
    SmsSettingsFactory(
        organisation=org, quota=QUOTA, named_senders_enabled=True, approved=["AcmeOy"]
    )
    sendout = create_sendout(target_group=group, created_by=user, body=BODY, sender="AcmeOy")
    SenderName.objects.filter(name="AcmeOy").update(authorisation=SenderAuthorisation.PENDING)
    assert not sendout_messages_write(sendout_id=sendout.pk)
    sendout.refresh_from_db()
    assert sendout.status == SendoutStatus.CANCELLED
    assert sendout.record["written"] == {"refused": "sender_not_authorised"}
    assert not sendout.messages.exists()
    assert quota_balance(organisation=org) == QUOTA
    assert_books_balance(org, sendout, topped_up=QUOTA)

"""``POST /target-groups/{id}/sms/sendouts/``, the sendout list, detail, recipients and
cancel. The send path itself is tested in tests/sms/sendouts/.

The on-commit hook would enqueue a Celery task; tests run inside a transaction that
never commits, so it never runs (some tests capture it to count it), and a test
that needs messages sent drives the send path in process (``send_to_the_end``).
"""

import pytest
from rest_framework.test import APIClient

from crm.models import Role
from sms.models import OutboundMessage, QuotaKind, QuotaTransaction, Sendout
from sms.selectors import quota_balance
from sms.sendouts.send import sendout_dispatch, sendout_send_chunk
from sms.statuses import SendoutStatus
from tests.factories import ContactFactory, SendoutFactory, SmsSettingsFactory, TargetGroupFactory
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db

BODY = "Hei {{contact.first_name}}!"


def create_url(group) -> str:
    return f"/api/v1/target-groups/{group.pk}/sms/sendouts/"


def balance(org) -> int:
    return quota_balance(organisation=org)


def post(client, group, data, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(create_url(group), data, format="json", headers=headers)


def nothing_written(org, before: int, rows_before: int) -> None:
    assert not Sendout.objects.exists()
    assert not OutboundMessage.objects.exists()
    assert QuotaTransaction.objects.filter(organisation=org).count() == rows_before
    assert balance(org) == before


# --- create -----------------------------------------------------------------------------


def test_create_answers_202_writes_messages_and_reserves_once(
    api, org, user, group, django_capture_on_commit_callbacks
):
    SmsSettingsFactory(organisation=org, quota=20)
    with django_capture_on_commit_callbacks(execute=False) as captured:
        response = post(api, group, {"body": "x" * 61 + "{{contact.first_name}}"})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert {
        "id",
        "target_group",
        "sender",
        "phone_field",
        "body",
        "status",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "messages_reserved",
        "messages_charged",
        "counts",
    } <= set(body)
    # Texts: 61 + 5, 61 + 4, 61 + 100 = 161 characters: 1 + 1 + 2 messages.
    assert (body["status"], body["sender"], body["phone_field"]) == (
        "queued",
        "operator",
        "mobile_phone",
    )
    assert (body["target_group"], body["created_by"]) == (group.pk, user.username)
    assert (body["messages_reserved"], body["messages_charged"]) == (4, 4)
    assert body["counts"] == {
        "recipients": 5,
        "pending": 3,
        "sending": 0,
        "sent": 0,
        "delivered": 0,
        "undelivered": 0,
        "failed": 0,
        "skipped": 2,
        "cancelled": 0,
        "unknown": 0,
    }
    messages = list(OutboundMessage.objects.filter(sendout_id=body["id"]).order_by("id"))
    assert [(m.to, m.status, m.reason, m.messages) for m in messages] == [
        ("+358401000001", "pending", "", 1),
        ("+358401000002", "pending", "", 1),
        ("+358401000003", "pending", "", 2),
        ("", "skipped", "opted_out", 0),
        ("", "skipped", "missing_number", 0),
    ]
    rows = QuotaTransaction.objects.filter(sendout_id=body["id"])
    assert [(r.kind, r.amount, r.balance_after) for r in rows] == [(QuotaKind.RESERVATION, -4, 16)]
    assert balance(org) == 16
    assert_books_balance(org)
    assert len(captured) == 1  # the dispatch is enqueued on commit, once


def test_create_renders_the_body_per_recipient(api, org, group):
    SmsSettingsFactory(organisation=org, quota=20)
    sendout_id = post(api, group, {"body": BODY}).json()["id"]
    bodies = list(
        OutboundMessage.objects.filter(sendout_id=sendout_id, status="pending").values_list(
            "body", flat=True
        )
    )
    assert bodies[:2] == ["Hei Maija!", "Hei Juha!"]


def test_insufficient_quota_is_409_with_needs_and_has_and_writes_nothing(
    api, org, group, django_capture_on_commit_callbacks
):
    SmsSettingsFactory(organisation=org, quota=2)
    with django_capture_on_commit_callbacks(execute=False) as captured:
        response = post(api, group, {"body": BODY})
    assert response.status_code == 409
    answer = response.json()
    assert answer["code"] == "insufficient_quota"
    assert (answer["needs"], answer["has"]) == (3, 2)
    assert "3" in answer["detail"] and "2" in answer["detail"]
    nothing_written(org, 2, 1)
    assert captured == []


def test_count_changed_is_409_and_writes_nothing(api, org, group):
    SmsSettingsFactory(organisation=org, quota=20)
    response = post(api, group, {"body": BODY, "expected_messages": 4})
    assert response.status_code == 409
    assert response.json()["code"] == "count_changed"
    assert "3" in response.json()["detail"]
    nothing_written(org, 20, 1)
    ok = post(api, group, {"body": BODY, "expected_messages": 3})
    assert ok.status_code == 202


def test_sms_off_is_403_and_writes_nothing(api, org, group):
    response = post(api, group, {"body": BODY})
    assert response.status_code == 403
    assert response.json()["code"] == "sms_not_enabled"
    nothing_written(org, 0, 0)


def test_nobody_sendable_is_400(api, org):
    SmsSettingsFactory(organisation=org, quota=5)
    only_out = TargetGroupFactory(
        organisation=org,
        included_contacts=[
            ContactFactory(
                organisation=org,
                first_name="Out",
                mobile_phone="+358401000009",
                sms_opt_out=True,
                blank=True,
            )
        ],
    )
    response = post(api, only_out, {"body": "Hi"})
    assert response.status_code == 400
    assert response.json()["code"] == "no_recipients"
    nothing_written(org, 5, 1)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"body": BODY, "expected_messages": -1}, "expected_messages"),
        ({"body": BODY, "expected_messages": "three"}, "expected_messages"),
        ({"body": BODY, "expected_messages": 1.5}, "expected_messages"),
        ({"body": ""}, "body"),
        ({"body": "x" * 481}, "body"),
        ({"body": "{{contact.shoe_size}}"}, "body"),
        ({}, "body"),
        ({"body": BODY, "sender": "Pending"}, "sender"),
        ({"body": BODY, "sender": "Nobody"}, "sender"),
        ({"body": BODY, "phone_field": "phone"}, "phone_field"),
        ({"body": BODY, "phone_field": "account.phone"}, "phone_field"),
    ],
)
def test_bad_field_is_400_at_that_field_and_writes_nothing(api, org, group, data, field):
    SmsSettingsFactory(
        organisation=org, quota=20, named_senders_enabled=True, not_approved=["Pending"]
    )
    response = post(api, group, data)
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert errors[field][0]
    nothing_written(org, 20, 1)


def test_named_sender_while_named_senders_are_off_is_400(api, org, group):
    SmsSettingsFactory(organisation=org, quota=20, approved=["Acme"])
    response = post(api, group, {"body": BODY, "sender": "Acme"})
    assert response.status_code == 400
    assert list(response.json()) == ["sender"]
    nothing_written(org, 20, 1)


def test_approved_named_sender_is_kept(api, org, group):
    SmsSettingsFactory(organisation=org, quota=20, named_senders_enabled=True, approved=["Acme"])
    response = post(api, group, {"body": BODY, "sender": "Acme"})
    assert response.status_code == 202
    assert response.json()["sender"] == "Acme"


def test_another_organisations_group_is_404(api, other_org):
    SmsSettingsFactory(organisation=other_org, quota=20)
    theirs = TargetGroupFactory(
        organisation=other_org,
        included_contacts=[
            ContactFactory(
                organisation=other_org, first_name="X", mobile_phone="+358401000001", blank=True
            )
        ],
    )
    assert post(api, theirs, {"body": "Hi"}).status_code == 404
    assert not Sendout.objects.exists()


def test_viewer_may_not_create(org, make_user, group):
    SmsSettingsFactory(organisation=org, quota=20)
    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.VIEWER))
    assert post(client, group, {"body": BODY}).status_code == 403
    assert not Sendout.objects.exists()


def test_same_idempotency_key_twice_is_one_sendout(
    api, org, group, django_capture_on_commit_callbacks
):
    SmsSettingsFactory(organisation=org, quota=20)
    with django_capture_on_commit_callbacks(execute=False) as captured:
        first = post(api, group, {"body": BODY}, key="click-1")
        second = post(api, group, {"body": BODY}, key="click-1")
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] == second.json()["id"]
    assert Sendout.objects.count() == 1
    assert QuotaTransaction.objects.filter(kind=QuotaKind.RESERVATION).count() == 1
    assert balance(org) == 17
    assert len(captured) == 1


def test_same_key_from_another_user_is_another_sendout(api, org, make_user, group):
    SmsSettingsFactory(organisation=org, quota=20)
    other = APIClient()
    other.force_authenticate(make_user(org))
    first = post(api, group, {"body": BODY}, key="click-1")
    second = post(other, group, {"body": BODY}, key="click-1")
    assert first.json()["id"] != second.json()["id"]
    assert balance(org) == 14


def test_different_keys_are_different_sendouts(api, org, group):
    SmsSettingsFactory(organisation=org, quota=20)
    assert (
        post(api, group, {"body": BODY}, key="a").json()["id"]
        != post(api, group, {"body": BODY}, key="b").json()["id"]
    )


# --- list, detail, recipients, cancel ------------------------------------------------------


@pytest.fixture
def sendout(api, org, group) -> Sendout:
    SmsSettingsFactory(organisation=org, quota=20)
    response = post(api, group, {"body": BODY})
    assert response.status_code == 202
    return Sendout.objects.get(pk=response.json()["id"])


def test_list_and_detail(api, sendout, other_org):
    theirs = SendoutFactory(organisation=other_org, body="x")
    listed = api.get("/api/v1/sms/sendouts/").json()
    assert [s["id"] for s in listed["results"]] == [sendout.pk]
    detail = api.get(f"/api/v1/sms/sendouts/{sendout.pk}/").json()
    assert detail["counts"]["pending"] == 3 and detail["messages_reserved"] == 3
    assert api.get(f"/api/v1/sms/sendouts/{theirs.pk}/").status_code == 404


def test_recipients_paginated_and_filtered(api, sendout):
    url = f"/api/v1/sms/sendouts/{sendout.pk}/recipients/"
    page = api.get(url).json()
    assert page["count"] == 5
    assert {
        "contact",
        "to",
        "body",
        "messages",
        "status",
        "reason",
        "provider_id",
        "updated_at",
    } <= set(page["results"][0])
    skipped = api.get(url, {"status": "skipped"}).json()
    assert sorted(r["reason"] for r in skipped["results"]) == ["missing_number", "opted_out"]
    bad = api.get(url, {"status": "lost"})
    assert bad.status_code == 400
    assert list(bad.json()) == ["status"]


def test_cancel_refunds_pending_messages(api, org, sendout):
    assert balance(org) == 17
    response = api.post(f"/api/v1/sms/sendouts/{sendout.pk}/cancel/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert (body["messages_reserved"], body["messages_charged"]) == (3, 0)
    assert body["counts"]["cancelled"] == 3 and body["counts"]["pending"] == 0
    refunds = QuotaTransaction.objects.filter(sendout=sendout, kind=QuotaKind.REFUND)
    assert [(r.amount, r.balance_after) for r in refunds] == [(3, 20)]
    assert balance(org) == 20
    assert_books_balance(org)
    again = api.post(f"/api/v1/sms/sendouts/{sendout.pk}/cancel/")
    assert again.status_code == 409


def test_cancelling_a_completed_sendout_is_409(api, org, sendout, sms_outbox, send_to_the_end):
    send_to_the_end(sendout)
    response = api.post(f"/api/v1/sms/sendouts/{sendout.pk}/cancel/")
    assert response.status_code == 409
    assert response.json()["code"] == "not_cancellable"
    assert balance(org) == 17


def test_viewer_may_read_but_not_cancel(org, make_user, sendout):
    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.VIEWER))
    assert client.get(f"/api/v1/sms/sendouts/{sendout.pk}/").status_code == 200
    assert client.post(f"/api/v1/sms/sendouts/{sendout.pk}/cancel/").status_code == 403
    assert Sendout.objects.get(pk=sendout.pk).status == SendoutStatus.QUEUED


# --- cancelling while the send path runs -------------------------------------------------


def test_cancel_after_partial_send_refunds_only_what_did_not_leave(api, org, sendout, sms_outbox):
    first = sendout_dispatch(sendout_id=sendout.pk)[0][:1]
    sendout_send_chunk(sendout_id=sendout.pk, message_ids=first)
    body = api.post(f"/api/v1/sms/sendouts/{sendout.pk}/cancel/").json()
    assert (body["status"], body["messages_charged"]) == ("cancelled", 1)
    assert body["counts"]["sent"] == 1 and body["counts"]["cancelled"] == 2
    assert balance(org) == 19
    assert_books_balance(org)
    # A chunk arriving after the cancel sends nothing.
    remaining = list(OutboundMessage.objects.filter(sendout=sendout).values_list("id", flat=True))
    sendout_send_chunk(sendout_id=sendout.pk, message_ids=remaining)
    assert len(sms_outbox) == 1

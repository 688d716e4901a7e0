"""The SMS models: invariants the database itself holds."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from sms.models import (
    OutboundMessage,
    QuotaKind,
    QuotaTransaction,
    SenderName,
    Sendout,
    SmsSettings,
)
from sms.statuses import MESSAGE_TRANSITIONS, MessageStatus, allowed_previous, can_move
from sms.validators import validate_e164, validate_messaging_service_sid, validate_sender_name
from tests.factories import SendoutFactory


def raises_integrity(fn) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


# --- settings -------------------------------------------------------------------------


def test_settings_default_to_off_and_no_quota(org):
    sms_settings = SmsSettings.objects.create(organisation=org)
    assert sms_settings.sms_enabled is False
    assert sms_settings.named_senders_enabled is False
    assert sms_settings.quota_balance == 0
    assert org.sms_settings == sms_settings


def test_balance_cannot_go_below_zero_in_the_database(org):
    SmsSettings.objects.create(organisation=org, quota_balance=0)
    raises_integrity(lambda: SmsSettings.objects.filter(organisation=org).update(quota_balance=-1))
    assert SmsSettings.objects.get(organisation=org).quota_balance == 0


def test_messages_per_second_cannot_be_zero_in_the_database(org):
    SmsSettings.objects.create(organisation=org)
    raises_integrity(
        lambda: SmsSettings.objects.filter(organisation=org).update(messages_per_second=0)
    )


def test_one_settings_row_per_organisation(org):
    SmsSettings.objects.create(organisation=org)
    raises_integrity(lambda: SmsSettings.objects.create(organisation=org))


@pytest.mark.parametrize(
    "value", ["", "MG" + "0123456789abcdef" * 2, "MG" + "0123456789ABCDEF" * 2]
)
def test_messaging_service_sid_accepted(value):
    validate_messaging_service_sid(value)


@pytest.mark.parametrize(
    "value",
    ["MG123", "AC" + "0" * 32, "MG" + "g" * 32, "MG" + "0" * 33, " MG" + "0" * 32],
)
def test_messaging_service_sid_refused(value):
    with pytest.raises(ValidationError, match="MG followed by 32 hexadecimal"):
        validate_messaging_service_sid(value)


@pytest.mark.parametrize("value", ["", "+358401234567", "+14155550100"])
def test_operator_number_accepted(value):
    validate_e164(value)


@pytest.mark.parametrize("value", ["0401234567", "+358 40 123 4567", "+0401234567", "+35840", "x"])
def test_operator_number_refused(value):
    with pytest.raises(ValidationError, match=r"E\.164"):
        validate_e164(value)


def test_settings_full_clean_names_bad_fields(org):
    sms_settings = SmsSettings(
        organisation=org, operator_number="040123", messaging_service_sid="MGx"
    )
    with pytest.raises(ValidationError) as info:
        sms_settings.full_clean()
    assert set(info.value.message_dict) == {"operator_number", "messaging_service_sid"}


# --- sender names ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Acme", "ACME Oy", "a", "Kauppa 24", "A B C D 123", "x" * 11])
def test_sender_names_accepted(name):
    validate_sender_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Write a sender name"),
        ("x" * 12, "at most 11"),
        ("12345", "at least one letter"),
        ("1 2", "at least one letter"),
        ("Kauppa-24", "cannot contain"),
        ("Acme  Oy", "two spaces in a row"),
        ("Kauppa.fi", "cannot contain"),
        ("Ääni", "cannot contain"),
        ("Acme!", "cannot contain"),
    ],
)
def test_sender_names_refused_with_a_clear_message(name, message):
    with pytest.raises(ValidationError, match=message):
        validate_sender_name(name)


def test_sender_name_unique_per_organisation(org, other_org):
    SenderName.objects.create(organisation=org, name="Acme")
    SenderName.objects.create(organisation=other_org, name="Acme")
    raises_integrity(lambda: SenderName.objects.create(organisation=org, name="Acme"))


def test_sender_name_model_validation(org):
    with pytest.raises(ValidationError) as info:
        SenderName(organisation=org, name="123").full_clean()
    assert "name" in info.value.message_dict


# --- sendouts -------------------------------------------------------------------------


def test_messages_charged_is_reserved_minus_refunded(org):
    sendout = SendoutFactory(organisation=org, messages_reserved=10, messages_refunded=3)
    assert sendout.messages_charged == 7


def test_refunds_cannot_exceed_reservations_in_the_database(org):
    sendout = SendoutFactory(organisation=org, messages_reserved=2)
    raises_integrity(lambda: Sendout.objects.filter(pk=sendout.pk).update(messages_refunded=3))


def test_idempotency_key_unique_per_user_when_given(org, user, make_user):
    SendoutFactory(organisation=org, created_by=user, idempotency_key="k1")
    SendoutFactory(organisation=org, created_by=user, idempotency_key="")
    SendoutFactory(organisation=org, created_by=user, idempotency_key="")  # no key: no constraint
    SendoutFactory(
        organisation=org, created_by=make_user(org), idempotency_key="k1"
    )  # another user
    raises_integrity(
        lambda: SendoutFactory(organisation=org, created_by=user, idempotency_key="k1")
    )


# --- outbound messages -----------------------------------------------------------------


def test_provider_id_unique_when_given(org):
    sendout = SendoutFactory(organisation=org)
    OutboundMessage.objects.create(sendout=sendout, provider_id="SM1", messages=1)
    OutboundMessage.objects.create(sendout=sendout, provider_id="", messages=1)
    OutboundMessage.objects.create(sendout=sendout, provider_id="", messages=1)
    raises_integrity(
        lambda: OutboundMessage.objects.create(sendout=sendout, provider_id="SM1", messages=1)
    )


def test_skipped_message_is_never_billed_in_the_database(org):
    sendout = SendoutFactory(organisation=org)
    OutboundMessage.objects.create(sendout=sendout, status=MessageStatus.SKIPPED, messages=0)
    raises_integrity(
        lambda: OutboundMessage.objects.create(
            sendout=sendout, status=MessageStatus.SKIPPED, messages=1
        )
    )


def test_deleting_a_contact_keeps_its_message_history(org, contact):
    sendout = SendoutFactory(organisation=org)
    message = OutboundMessage.objects.create(
        sendout=sendout, contact=contact, to="+358401234567", body="Hi", messages=1
    )
    contact.delete()
    message.refresh_from_db()
    assert message.contact is None
    assert message.to == "+358401234567"


def test_deleting_a_sendout_deletes_its_messages_without_a_database_constraint(org, contact):
    """The sendout's foreign key has no database constraint (#21): the ORM's
    cascade is what keeps no message without its sendout."""
    sendout = SendoutFactory(organisation=org)
    kept = SendoutFactory(organisation=org)
    OutboundMessage.objects.create(sendout=sendout, contact=contact, messages=1)
    OutboundMessage.objects.create(sendout=kept, contact=contact, messages=1)
    sendout.delete()
    assert list(OutboundMessage.objects.values_list("sendout_id", flat=True)) == [kept.pk]


def test_a_status_report_finds_its_message_by_the_unique_provider_id_index(org):
    """The plain provider_id index is gone (#21): the partial unique one serves
    the look a status report makes."""
    sendout = SendoutFactory(organisation=org)
    OutboundMessage.objects.create(sendout=sendout, provider_id="SM1", messages=1)
    explained = OutboundMessage.objects.filter(provider_id="SM1").explain()
    if connection.vendor == "postgresql":
        assert "sms_message_provider_id_unique" in explained
    assert OutboundMessage.objects.get(provider_id="SM1").sendout_id == sendout.pk


# --- status transitions ----------------------------------------------------------------

FORWARD = {
    ("pending", "sending"),
    ("pending", "cancelled"),
    ("pending", "skipped"),
    ("pending", "failed"),
    ("sending", "sent"),
    ("sending", "failed"),
    ("sending", "unknown"),
    ("sending", "pending"),
    ("sending", "delivered"),  # a callback for a message whose worker died
    ("sending", "undelivered"),
    ("sent", "delivered"),
    ("sent", "undelivered"),
    ("sent", "failed"),
    ("unknown", "delivered"),
    ("unknown", "undelivered"),
}


@pytest.mark.parametrize("old", MessageStatus.values)
@pytest.mark.parametrize("new", MessageStatus.values)
def test_can_move_exactly_the_forward_moves(old, new):
    assert can_move(old, new) is ((old, new) in FORWARD)


def test_every_status_is_in_the_transition_table():
    assert set(MESSAGE_TRANSITIONS) == set(MessageStatus.values)


def test_final_statuses_never_move():
    for final in ("delivered", "undelivered", "failed", "skipped", "cancelled"):
        assert not any(can_move(final, new) for new in MessageStatus.values)


def test_allowed_previous_matches_can_move():
    for new in MessageStatus.values:
        assert allowed_previous(new) == sorted(
            old for old in MessageStatus.values if can_move(old, new)
        )


# --- ledger ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "amount", "with_sendout"),
    [
        (QuotaKind.TOP_UP, -1, False),
        (QuotaKind.TOP_UP, 0, False),
        (QuotaKind.TOP_UP, 5, True),
        (QuotaKind.RESERVATION, 5, True),
        (QuotaKind.RESERVATION, -5, False),
        (QuotaKind.REFUND, -5, True),
        (QuotaKind.REFUND, 5, False),
        (QuotaKind.ADJUSTMENT, 0, False),
    ],
)
def test_ledger_sign_must_fit_kind_in_the_database(org, kind, amount, with_sendout):
    sendout = SendoutFactory(organisation=org) if with_sendout else None
    raises_integrity(
        lambda: QuotaTransaction.objects.create(
            organisation=org, kind=kind, amount=amount, balance_after=10, sendout=sendout
        )
    )


@pytest.mark.parametrize(
    ("kind", "amount", "with_sendout"),
    [
        (QuotaKind.TOP_UP, 5, False),
        (QuotaKind.RESERVATION, -5, True),
        (QuotaKind.REFUND, 5, True),
        (QuotaKind.ADJUSTMENT, -5, False),
        (QuotaKind.ADJUSTMENT, 5, False),
    ],
)
def test_ledger_rows_that_fit(org, kind, amount, with_sendout):
    sendout = SendoutFactory(organisation=org) if with_sendout else None
    QuotaTransaction.objects.create(
        organisation=org, kind=kind, amount=amount, balance_after=10, sendout=sendout
    )


def test_ledger_balance_after_cannot_be_negative(org):
    raises_integrity(
        lambda: QuotaTransaction.objects.create(
            organisation=org, kind=QuotaKind.ADJUSTMENT, amount=-1, balance_after=-1
        )
    )


def test_a_sendout_with_ledger_rows_cannot_be_deleted(org):
    from django.db.models import ProtectedError

    sendout = SendoutFactory(organisation=org)
    QuotaTransaction.objects.create(
        organisation=org, kind=QuotaKind.RESERVATION, amount=-1, balance_after=0, sendout=sendout
    )
    with pytest.raises(ProtectedError):
        sendout.delete()


def test_saving_settings_never_writes_a_stale_balance(org):
    from sms.quota import quota_top_up, sms_settings_for

    stale = sms_settings_for(organisation=org)  # loaded with balance 0
    quota_top_up(organisation=org, amount=40, reason="meanwhile")
    stale.sms_enabled = True
    stale.save()
    fresh = SmsSettings.objects.get(pk=stale.pk)
    assert fresh.sms_enabled is True
    assert fresh.quota_balance == 40

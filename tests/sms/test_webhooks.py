"""Twilio webhooks: signed status callbacks and inbound STOP/START replies."""

from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from crm.models import Contact, OptOutSource
from sms.models import OutboundMessage, SuppressedNumber, SuppressionSource
from sms.statuses import MessageStatus
from tests.factories import (
    OPERATOR_NUMBER,
    ContactFactory,
    OutboundMessageFactory,
    SendoutFactory,
    SmsSettingsFactory,
    TargetGroupFactory,
    create_sendout,
)

pytestmark = pytest.mark.django_db

BASE = "https://crm.example.com"
TOKEN = "webhook-test-token"
STATUS_PATH = "/sms/webhooks/twilio/status/"
INBOUND_PATH = "/sms/webhooks/twilio/inbound/"
PROJECT_NUMBER = "+15005550006"


@pytest.fixture(autouse=True)
def twilio_webhook_settings(settings):
    settings.SMS_STATUS_CALLBACK_BASE_URL = BASE
    settings.TWILIO_AUTH_TOKEN = TOKEN
    # The project's default sender: what organisations without their own
    # operator number or messaging service text from (``inbound_params``'s To).
    settings.TWILIO_FROM_NUMBER = PROJECT_NUMBER
    settings.TWILIO_MESSAGING_SERVICE_SID = ""


def post_form(path: str, params: dict[str, str], *, signature: str | None):
    """POST like Twilio: form-encoded, with ``signature`` in its header (or none)."""
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return Client().post(
        path, urlencode(params), content_type="application/x-www-form-urlencoded", headers=headers
    )


def signed_post(path: str, params: dict[str, str], *, url: str | None = None, token=TOKEN):
    """POST like Twilio, signed over ``url`` (default: BASE + path)."""
    signature = RequestValidator(token).compute_signature(url or BASE + path, params)
    return post_form(path, params, signature=signature)


def status_params(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": "+358401234567",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def snapshot(message: OutboundMessage) -> tuple:
    message.refresh_from_db()
    return (message.status, message.error_code, message.provider_id, message.updated_at)


# --- status callbacks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        ("delivered", MessageStatus.DELIVERED),
        ("undelivered", MessageStatus.UNDELIVERED),
        ("failed", MessageStatus.UNDELIVERED),
    ],
)
def test_status_callback_moves_a_sent_message_forward(org, report, expected):
    message = OutboundMessageFactory(
        sendout__organisation=org, status=MessageStatus.SENT, provider_id="SM1"
    )
    response = signed_post(STATUS_PATH, status_params("SM1", report))
    assert response.status_code == 204
    message.refresh_from_db()
    assert message.status == expected


def test_status_callback_records_the_error_code(org):
    message = OutboundMessageFactory(
        sendout__organisation=org, status=MessageStatus.SENT, provider_id="SM1"
    )
    signed_post(STATUS_PATH, status_params("SM1", "undelivered", ErrorCode="30003"))
    message.refresh_from_db()
    assert (message.status, message.error_code) == (MessageStatus.UNDELIVERED, "30003")


def test_replayed_callback_changes_nothing(org):
    message = OutboundMessageFactory(
        sendout__organisation=org, status=MessageStatus.SENT, provider_id="SM1"
    )
    signed_post(STATUS_PATH, status_params("SM1", "delivered"))
    before = snapshot(message)
    response = signed_post(STATUS_PATH, status_params("SM1", "delivered"))
    assert response.status_code == 204
    assert snapshot(message) == before


@pytest.mark.parametrize("older", ["sent", "queued", "undelivered"])
def test_older_or_conflicting_status_after_delivered_changes_nothing(org, older):
    message = OutboundMessageFactory(
        sendout__organisation=org, status=MessageStatus.SENT, provider_id="SM1"
    )
    signed_post(STATUS_PATH, status_params("SM1", "delivered"))
    before = snapshot(message)
    assert before[0] == MessageStatus.DELIVERED
    signed_post(STATUS_PATH, status_params("SM1", older))
    assert snapshot(message) == before


def test_callback_for_another_message_touches_only_that_one(org):
    sendout = SendoutFactory(organisation=org)
    one = OutboundMessageFactory(sendout=sendout, status=MessageStatus.SENT, provider_id="SM1")
    two = OutboundMessageFactory(
        sendout=sendout, status=MessageStatus.SENT, provider_id="SM2", to="+358401234568"
    )
    signed_post(STATUS_PATH, status_params("SM2", "delivered"))
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status) == (MessageStatus.SENT, MessageStatus.DELIVERED)


def test_unknown_message_learns_its_fate_from_the_callback_url(org):
    """A message whose answer we never got has no provider id; the callback URL
    names it, and Twilio's report is the truth about it."""
    sendout = SendoutFactory(organisation=org)
    message = OutboundMessageFactory(sendout=sendout, status=MessageStatus.UNKNOWN)
    other = OutboundMessageFactory(
        sendout=sendout, status=MessageStatus.UNKNOWN, to="+358401234568"
    )
    path = f"{STATUS_PATH}?message={message.pk}"
    response = signed_post(path, status_params("SM9", "delivered"))
    assert response.status_code == 204
    message.refresh_from_db()
    other.refresh_from_db()
    assert (message.status, message.provider_id) == (MessageStatus.DELIVERED, "SM9")
    assert (other.status, other.provider_id) == (MessageStatus.UNKNOWN, "")


def test_unknown_with_provider_id_moves_to_delivered(org):
    message = OutboundMessageFactory(
        sendout__organisation=org, status=MessageStatus.UNKNOWN, provider_id="SM1"
    )
    signed_post(STATUS_PATH, status_params("SM1", "delivered"))
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_callback_url_cannot_steal_a_message_that_has_a_provider_id(org):
    sendout = SendoutFactory(organisation=org)
    message = OutboundMessageFactory(sendout=sendout, status=MessageStatus.SENT, provider_id="SM1")
    before = snapshot(message)
    signed_post(f"{STATUS_PATH}?message={message.pk}", status_params("SM2", "undelivered"))
    assert snapshot(message) == before


@pytest.mark.parametrize("pending", [MessageStatus.PENDING, MessageStatus.FAILED])
def test_callback_by_url_leaves_messages_that_are_not_unknown(org, pending):
    message = OutboundMessageFactory(sendout__organisation=org, status=pending)
    before = snapshot(message)
    signed_post(f"{STATUS_PATH}?message={message.pk}", status_params("SM3", "delivered"))
    assert snapshot(message) == before


def test_unknown_provider_status_changes_nothing(org):
    message = OutboundMessageFactory(
        sendout__organisation=org, status=MessageStatus.SENT, provider_id="SM1"
    )
    before = snapshot(message)
    assert signed_post(STATUS_PATH, status_params("SM1", "exploded")).status_code == 204
    assert snapshot(message) == before


@pytest.mark.parametrize(
    "tamper",
    ["forged", "missing", "wrong_token", "tampered_body", "wrong_base", "wrong_path"],
)
def test_unsigned_or_forged_status_callback_is_refused(org, tamper):
    message = OutboundMessageFactory(
        sendout__organisation=org, status=MessageStatus.SENT, provider_id="SM1"
    )
    before = snapshot(message)
    params = status_params("SM1", "delivered")
    signature = RequestValidator(TOKEN).compute_signature(BASE + STATUS_PATH, params)
    body = params
    if tamper == "forged":
        signature = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    elif tamper == "missing":
        signature = ""
    elif tamper == "wrong_token":
        signature = RequestValidator("not-the-token").compute_signature(BASE + STATUS_PATH, params)
    elif tamper == "tampered_body":
        body = {**params, "MessageStatus": "undelivered"}
    elif tamper == "wrong_base":
        signature = RequestValidator(TOKEN).compute_signature(
            "https://evil.example.com" + STATUS_PATH, params
        )
    elif tamper == "wrong_path":
        signature = RequestValidator(TOKEN).compute_signature(BASE + INBOUND_PATH, params)
    response = post_form(STATUS_PATH, body, signature=signature)
    assert response.status_code == 403
    assert snapshot(message) == before


def test_callback_is_refused_when_the_base_url_is_not_configured(org, settings):
    settings.SMS_STATUS_CALLBACK_BASE_URL = ""
    message = OutboundMessageFactory(
        sendout__organisation=org, status=MessageStatus.SENT, provider_id="SM1"
    )
    before = snapshot(message)
    response = signed_post(STATUS_PATH, status_params("SM1", "delivered"))
    assert response.status_code == 403
    assert snapshot(message) == before


def test_base_url_with_trailing_slash_still_validates(org, settings):
    settings.SMS_STATUS_CALLBACK_BASE_URL = BASE + "/"
    message = OutboundMessageFactory(
        sendout__organisation=org, status=MessageStatus.SENT, provider_id="SM1"
    )
    assert signed_post(STATUS_PATH, status_params("SM1", "delivered")).status_code == 204
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_status_webhook_refuses_get():
    assert Client().get(STATUS_PATH).status_code == 405


# --- inbound replies ----------------------------------------------------------------------


def texted_contact(org, sendout, *, number="+358401234567", status=MessageStatus.SENT, **extra):
    contact = ContactFactory(
        organisation=org, first_name="Liisa", mobile_phone=number, blank=True, **extra
    )
    OutboundMessageFactory(sendout=sendout, status=status, to=number, contact=contact)
    return contact


def inbound_params(
    body: str, from_: str = "+358401234567", to: str = PROJECT_NUMBER, **extra: str
) -> dict[str, str]:
    return {
        "AccountSid": "AC" + "0" * 32,
        "MessageSid": "SMinbound",
        "From": from_,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


@pytest.mark.parametrize("word", ["STOP", "LOPETA", "stop.", "  Stop! ", "unsubscribe", "lopeta"])
def test_stop_reply_opts_the_texted_contacts_out(org, word):
    sendout = SendoutFactory(organisation=org)
    first = texted_contact(org, sendout)
    second = texted_contact(org, sendout, status=MessageStatus.DELIVERED)
    before = timezone.now()
    response = signed_post(INBOUND_PATH, inbound_params(word))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    for contact in (first, second):
        contact.refresh_from_db()
        assert contact.sms_opt_out is True
        assert contact.sms_opt_out_source == OptOutSource.SMS_REPLY
        assert contact.sms_opt_out_at >= before


@pytest.mark.parametrize("word", ["START", "unstop"])
def test_start_reply_opts_them_back_in(org, word):
    sendout = SendoutFactory(organisation=org)
    contact = texted_contact(
        org,
        sendout,
        sms_opt_out=True,
        sms_opt_out_at=timezone.now(),
        sms_opt_out_source=OptOutSource.SMS_REPLY,
    )
    before = timezone.now()
    assert signed_post(INBOUND_PATH, inbound_params(word)).status_code == 200
    contact.refresh_from_db()
    assert contact.sms_opt_out is False
    assert contact.sms_opt_out_source == OptOutSource.SMS_REPLY
    assert contact.sms_opt_out_at >= before


@pytest.mark.parametrize("text", ["Thanks!", "stop it please", "STOPP", "", "kiitos"])
def test_unrelated_reply_changes_nothing(org, text):
    contact = texted_contact(org, SendoutFactory(organisation=org))
    assert signed_post(INBOUND_PATH, inbound_params(text)).status_code == 200
    contact.refresh_from_db()
    assert (contact.sms_opt_out, contact.sms_opt_out_at, contact.sms_opt_out_source) == (
        False,
        None,
        "",
    )


def test_stop_from_another_number_changes_nobody(org):
    contact = texted_contact(org, SendoutFactory(organisation=org))
    signed_post(INBOUND_PATH, inbound_params("STOP", from_="+358409999999"))
    contact.refresh_from_db()
    assert contact.sms_opt_out is False


@pytest.mark.parametrize("status", [MessageStatus.SKIPPED, MessageStatus.PENDING])
def test_stop_from_a_number_we_never_texted_changes_nobody(org, status):
    """A contact whose message never left was not texted at that number."""
    contact = texted_contact(org, SendoutFactory(organisation=org), status=status)
    signed_post(INBOUND_PATH, inbound_params("STOP"))
    contact.refresh_from_db()
    assert contact.sms_opt_out is False


def test_stop_changes_only_contacts_texted_at_that_number(org):
    sendout = SendoutFactory(organisation=org)
    texted = texted_contact(org, sendout)
    # Same person's number typed on another contact that we never texted.
    untouched = Contact.objects.create(
        organisation=org, first_name="Pekka", mobile_phone="+358 40 123 4567"
    )
    signed_post(INBOUND_PATH, inbound_params("STOP"))
    texted.refresh_from_db()
    untouched.refresh_from_db()
    assert texted.sms_opt_out is True
    assert untouched.sms_opt_out is False


@pytest.mark.parametrize("tamper", ["forged", "missing", "wrong_base"])
def test_forged_inbound_is_refused_and_changes_nothing(org, tamper):
    contact = texted_contact(org, SendoutFactory(organisation=org))
    params = inbound_params("STOP")
    if tamper == "forged":
        signature = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    elif tamper == "missing":
        signature = None
    else:
        signature = RequestValidator(TOKEN).compute_signature(
            "http://testserver" + INBOUND_PATH, params
        )
    response = post_form(INBOUND_PATH, params, signature=signature)
    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.sms_opt_out is False


# --- STOP puts the number on the suppression list, scoped to the sender (#14) --------------

MG_ONE = "MG" + "1" * 32
MG_TWO = "MG" + "2" * 32


def suppressed(org) -> list[tuple[str, str, str]]:
    return list(
        SuppressedNumber.objects.filter(organisation=org).values_list("number", "source", "sender")
    )


def test_stop_suppresses_the_number_not_only_the_texted_contact(
    org, user, sms_outbox, send_to_the_end
):
    """Two contacts share a number; one is texted, the other skipped as a
    duplicate. After STOP, the next sendout texts neither."""
    SmsSettingsFactory(organisation=org, quota=10, operator_number=OPERATOR_NUMBER)
    texted = ContactFactory(organisation=org, first_name="A", mobile_phone="+358405550777")
    twin = ContactFactory(organisation=org, first_name="B", mobile_phone="+358 40 555 0777")
    group = TargetGroupFactory(organisation=org, included_contacts=[texted, twin])
    first = create_sendout(target_group=group, created_by=user, body="Hei")
    send_to_the_end(first)
    assert [m.to for m in sms_outbox] == ["+358405550777"]

    response = signed_post(INBOUND_PATH, inbound_params("STOP", "+358405550777", OPERATOR_NUMBER))
    assert response.status_code == 200
    assert suppressed(org) == [("+358405550777", SuppressionSource.REPLY, OPERATOR_NUMBER)]

    ContactFactory(organisation=org, first_name="C", mobile_phone="+358405550778")
    group.included_contacts.add(*Contact.objects.filter(first_name="C"))
    second = create_sendout(target_group=group, created_by=user, body="Hei")
    reasons = dict(second.messages.values_list("contact_id", "reason"))
    assert reasons[texted.pk] == reasons[twin.pk] == "opted_out"
    send_to_the_end(second)
    assert [m.to for m in sms_outbox] == ["+358405550777", "+358405550778"]


def two_organisations_texted(org, other_org, *, mine: dict, theirs: dict):
    """org and other_org each texted +358401234567, from their own senders."""
    SmsSettingsFactory(organisation=org, **mine)
    SmsSettingsFactory(organisation=other_org, **theirs)
    ours = texted_contact(org, SendoutFactory(organisation=org))
    their = texted_contact(other_org, SendoutFactory(organisation=other_org))
    return ours, their


def test_stop_to_our_operator_number_leaves_another_organisation_alone(org, other_org):
    ours, theirs = two_organisations_texted(
        org,
        other_org,
        mine={"operator_number": "+358401111111"},
        theirs={"operator_number": "+358402222222"},
    )
    signed_post(INBOUND_PATH, inbound_params("STOP", to="+358401111111"))
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.sms_opt_out, theirs.sms_opt_out) == (True, False)
    assert [n for n, _s, _f in suppressed(org)] == ["+358401234567"]
    assert suppressed(other_org) == []


def test_stop_through_a_messaging_service_scopes_to_its_organisation(org, other_org):
    ours, theirs = two_organisations_texted(
        org,
        other_org,
        mine={"operator_number": "", "messaging_service_sid": MG_ONE},
        theirs={"operator_number": "", "messaging_service_sid": MG_TWO},
    )
    params = inbound_params("LOPETA", to="+358403333333", MessagingServiceSid=MG_TWO)
    signed_post(INBOUND_PATH, params)
    assert suppressed(org) == []
    assert suppressed(other_org) == [("+358401234567", SuppressionSource.REPLY, "+358403333333")]
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.sms_opt_out, theirs.sms_opt_out) == (False, True)


def test_stop_to_the_project_number_reaches_only_organisations_using_it(org, other_org):
    ours, theirs = two_organisations_texted(
        org,
        other_org,
        mine={"operator_number": ""},
        theirs={"operator_number": "+358402222222"},
    )
    signed_post(INBOUND_PATH, inbound_params("STOP"))  # To: the project's number
    assert [n for n, _s, _f in suppressed(org)] == ["+358401234567"]
    assert suppressed(other_org) == []
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.sms_opt_out, theirs.sms_opt_out) == (True, False)


def test_stop_to_a_number_nobody_texted_from_changes_nothing(org):
    contact = texted_contact(org, SendoutFactory(organisation=org))
    signed_post(INBOUND_PATH, inbound_params("STOP", to="+358409876543"))
    contact.refresh_from_db()
    assert contact.sms_opt_out is False
    assert not SuppressedNumber.objects.exists()


def test_start_lifts_the_suppression(org):
    texted_contact(org, SendoutFactory(organisation=org))
    signed_post(INBOUND_PATH, inbound_params("STOP"))
    assert len(suppressed(org)) == 1
    signed_post(INBOUND_PATH, inbound_params("START"))
    assert suppressed(org) == []


def test_repeated_stop_keeps_the_first_entry(org):
    texted_contact(org, SendoutFactory(organisation=org))
    signed_post(INBOUND_PATH, inbound_params("STOP"))
    first = SuppressedNumber.objects.get()
    signed_post(INBOUND_PATH, inbound_params("QUIT"))
    assert list(SuppressedNumber.objects.all()) == [first]
    assert SuppressedNumber.objects.get().created_at == first.created_at

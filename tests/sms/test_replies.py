"""Replies (#19): inbound texts that are not opt-out keywords, kept with the
contact and the last sendout that texted the number, shown to the sendout's
sender with unread counts; the inbound webhook stays signed."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from crm.models import Role
from sms.models import Reply
from sms.statuses import MessageStatus
from tests.conftest import logged_in
from tests.factories import (
    ContactFactory,
    OutboundMessageFactory,
    SendoutFactory,
)
from tests.sms.test_webhooks import (
    INBOUND_PATH,
    PROJECT_NUMBER,
    TOKEN,
    inbound_params,
    post_form,
    signed_post,
    twilio_webhook_settings,  # noqa: F401  (autouse: the signing settings)
)

pytestmark = pytest.mark.django_db

NUMBER = "+358401234567"


@pytest.fixture
def sendout(org, user):
    return SendoutFactory(organisation=org, created_by=user)


def texted(sendout, *, number=NUMBER, status=MessageStatus.SENT, ago=60, contact=None):
    contact = contact or ContactFactory(
        organisation=sendout.organisation, first_name="Liisa", mobile_phone=number, blank=True
    )
    return OutboundMessageFactory(
        sendout=sendout,
        status=status,
        to=number,
        contact=contact,
        sent_at=timezone.now() - timedelta(minutes=ago),
    )


def reply(text="Kiitos, tulen paikalle!", **extra):
    return signed_post(
        INBOUND_PATH, {**inbound_params(text), "MessageSid": "SM" + "1" * 32, **extra}
    )


def test_a_reply_is_kept_with_its_contact_sendout_and_owner(org, user, sendout):
    message = texted(sendout)
    response = reply()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    kept = Reply.objects.get()
    assert (kept.organisation, kept.contact, kept.sendout, kept.message, kept.owner) == (
        org,
        message.contact,
        sendout,
        message,
        user,
    )
    assert (kept.from_number, kept.to, kept.body) == (
        NUMBER,
        PROJECT_NUMBER,
        "Kiitos, tulen paikalle!",
    )
    assert kept.read_at is None
    message.contact.refresh_from_db()
    assert message.contact.sms_opt_out is False


def test_a_reply_belongs_to_the_last_sendout_that_texted_the_number(org, user, sendout, make_user):
    contact = texted(sendout, ago=600).contact
    colleague = make_user(org, username="colleague")
    later = SendoutFactory(organisation=org, created_by=colleague)
    texted(later, ago=5, contact=contact)
    reply()
    kept = Reply.objects.get()
    assert (kept.sendout, kept.owner, kept.contact) == (later, colleague, contact)


@pytest.mark.parametrize("word", ["STOP", "lopeta", "Start", "STOP."])
def test_keywords_are_not_replies(sendout, word):
    texted(sendout)
    reply(word)
    assert not Reply.objects.exists()


@pytest.mark.parametrize(
    ("status", "to"),
    [
        (MessageStatus.SENT, "+358409999999"),  # another sender than the one that texted
        (MessageStatus.SKIPPED, PROJECT_NUMBER),  # never left
        (MessageStatus.PENDING, PROJECT_NUMBER),
    ],
)
def test_a_reply_nobody_texted_through_that_sender_is_kept_nowhere(sendout, status, to):
    texted(sendout, status=status)
    reply(To=to)
    assert not Reply.objects.exists()


def test_a_number_never_texted_is_kept_nowhere(sendout):
    texted(sendout)
    reply(From="+358409999999")
    assert not Reply.objects.exists()


def test_each_organisation_that_texted_through_the_sender_gets_it(
    org, other_org, sendout, make_user
):
    texted(sendout)
    other = SendoutFactory(organisation=other_org, created_by=make_user(other_org, username="them"))
    texted(other)
    reply()
    assert sorted(Reply.objects.values_list("organisation_id", flat=True)) == sorted(
        [org.pk, other_org.pk]
    )


def test_twilio_calling_again_keeps_one_reply(sendout):
    texted(sendout)
    reply()
    reply()
    assert Reply.objects.count() == 1


@pytest.mark.parametrize("tamper", ["forged", "missing", "wrong_base", "wrong_token"])
def test_a_forged_inbound_is_refused_and_keeps_nothing(sendout, tamper):
    texted(sendout)
    params = inbound_params("Kiitos!")
    url = "https://crm.example.com" + INBOUND_PATH
    signature = {
        "forged": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "missing": None,
        "wrong_base": RequestValidator(TOKEN).compute_signature(
            "http://testserver" + INBOUND_PATH, params
        ),
        "wrong_token": RequestValidator("not-the-token").compute_signature(url, params),
    }[tamper]
    assert post_form(INBOUND_PATH, params, signature=signature).status_code == 403
    assert not Reply.objects.exists()


def test_a_signed_reply_with_its_body_changed_is_refused(sendout):
    texted(sendout)
    params = inbound_params("Kiitos!")
    signature = RequestValidator(TOKEN).compute_signature(
        "https://crm.example.com" + INBOUND_PATH, params
    )
    assert (
        post_form(INBOUND_PATH, params | {"Body": "Muutettu"}, signature=signature).status_code
        == 403
    )
    assert not Reply.objects.exists()


def test_nul_characters_never_reach_the_database(sendout):
    texted(sendout)
    assert reply(From=NUMBER + "\x00").status_code == 400
    assert reply("Kii\x00tos").status_code == 200
    assert Reply.objects.get().body == "Kiitos"


# --- where replies show ---------------------------------------------------------------------


def test_the_owner_sees_unread_replies_and_marks_them_read(org, user, sendout, make_user):
    texted(sendout)
    reply()
    client = logged_in(user)
    page = client.get("/contacts/").content.decode()
    assert 'id="nav-replies"' in page and '<span class="badge count">1<' in page
    listing = client.get("/sms/replies/").content.decode()
    assert "Kiitos, tulen paikalle!" in listing and "1 unread reply." in listing
    # A colleague does not see another's replies.
    colleague = logged_in(make_user(org, username="colleague"))
    assert "Kiitos, tulen paikalle!" not in colleague.get("/sms/replies/").content.decode()
    assert '<span class="badge count">' not in colleague.get("/contacts/").content.decode()
    assert colleague.post("/sms/replies/read/").status_code == 302
    assert Reply.objects.get().read_at is None
    response = client.post("/sms/replies/read/", follow=True)
    assert "1 reply marked read." in response.content.decode()
    assert Reply.objects.get().read_at is not None
    assert '<span class="badge count">' not in client.get("/contacts/").content.decode()


def test_marking_read_refuses_bad_ids(user, sendout):
    texted(sendout)
    reply()
    assert logged_in(user).post("/sms/replies/read/", {"reply": "x"}).status_code == 404
    assert Reply.objects.get().read_at is None


def test_the_contact_page_and_the_sendout_page_show_the_reply(user, sendout):
    message = texted(sendout)
    reply()
    client = logged_in(user)
    contact_page = client.get(f"/contacts/{message.contact_id}/").content.decode()
    assert 'id="sms-replies"' in contact_page and "Kiitos, tulen paikalle!" in contact_page
    sendout_page = client.get(f"/sms/sendouts/{sendout.pk}/").content.decode()
    assert "1 reply" in sendout_page and "Kiitos, tulen paikalle!" in sendout_page


def test_the_api_lists_your_replies_and_marks_them_read(
    org, user, api, sendout, other_org, make_user
):
    texted(sendout)
    reply()
    listed = api.get("/api/v1/sms/replies/").json()
    assert listed["count"] == 1
    first = listed["results"][0]
    assert (first["body"], first["unread"], first["from_number"]) == (
        "Kiitos, tulen paikalle!",
        True,
        NUMBER,
    )
    assert api.get("/api/v1/sms/replies/?unread=false").json()["count"] == 0
    detail = api.get(f"/api/v1/sms/sendouts/{sendout.pk}/").json()
    assert detail["replies"] == 1
    assert api.get(f"/api/v1/sms/sendouts/{sendout.pk}/replies/").json()["count"] == 1
    # Another organisation's member neither sees nor marks it.
    stranger = APIClient()
    stranger.force_authenticate(make_user(other_org, username="stranger"))
    assert stranger.get("/api/v1/sms/replies/").json()["count"] == 0
    assert stranger.post("/api/v1/sms/replies/read/", {}, format="json").json()["marked"] == 0
    answer = api.post("/api/v1/sms/replies/read/", {"ids": [first["id"]]}, format="json").json()
    assert answer == {"marked": 1, "unread": 0}
    assert api.get("/api/v1/sms/replies/?unread=true").json()["count"] == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"ids": ["a"]}, "ids"),
        ({"ids": [0]}, "ids"),
        ({"ids": "1"}, "ids"),
        ({"ids": [2**63]}, "ids"),
    ],
)
def test_bad_ids_are_400_and_change_nothing(api, sendout, data, field):
    texted(sendout)
    reply()
    response = api.post("/api/v1/sms/replies/read/", data, format="json")
    assert response.status_code == 400 and field in response.json()
    assert Reply.objects.get().read_at is None


def test_a_bad_unread_filter_is_400(api):
    response = api.get("/api/v1/sms/replies/?unread=maybe")
    assert response.status_code == 400 and "unread" in response.json()


def test_a_viewer_may_list_but_not_mark(make_user, org, sendout):
    viewer = make_user(org, role=Role.VIEWER, username="viewer")
    client = APIClient()
    client.force_authenticate(viewer)
    assert client.get("/api/v1/sms/replies/").status_code == 200
    assert client.post("/api/v1/sms/replies/read/", {}, format="json").status_code == 403

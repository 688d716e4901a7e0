"""'Send a test' (#19): the message as one member gets it, texted to the user's own
number; charged as a sendout of purpose ``test`` and shown in the ledger, limited
per user per hour, never in the group's campaign figures."""

import datetime
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import Role
from sms.models import Click, OutboundMessage, QuotaTransaction, Sendout, SmsProfile
from sms.selectors import quota_balance
from sms.statuses import MessageStatus
from sms.suppression import number_suppress
from tests.conftest import logged_in
from tests.factories import ContactFactory, SmsSettingsFactory, TargetGroupFactory, create_sendout
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db

OWN = "+358 50 111 2222"
OWN_E164 = "+358501112222"
BODY = "Hei {{contact.first_name}}, tervetuloa!"


def url(group) -> str:
    return f"/api/v1/target-groups/{group.pk}/sms/test/"


@pytest.fixture
def quota(org):
    return SmsSettingsFactory(organisation=org, quota=50)


def snapshot(org) -> dict[str, Any]:
    return {
        "sendouts": list(Sendout.objects.order_by("pk").values()),
        "messages": list(OutboundMessage.objects.order_by("pk").values()),
        "ledger": list(QuotaTransaction.objects.order_by("pk").values()),
        "profiles": list(SmsProfile.objects.order_by("pk").values()),
        "quota": quota_balance(organisation=org),
    }


def test_a_test_goes_to_the_users_number_as_the_member_gets_it(
    api, user, org, group, quota, sms_outbox, send_to_the_end
):
    juha = group.included_contacts.get(first_name="Juha")
    response = api.post(url(group), {"body": BODY, "contact": juha.pk, "to": OWN}, format="json")
    assert response.status_code == 202, response.json()
    answer = response.json()
    assert answer["purpose"] == "test"
    assert answer["messages_reserved"] == 1
    sendout = Sendout.objects.get(pk=answer["id"])
    assert (sendout.purpose, sendout.target_group_id, sendout.created_by_id) == (
        "test",
        group.pk,
        user.pk,
    )
    [message] = sendout.messages.all()
    assert (message.to, message.body, message.contact_id) == (
        OWN_E164,
        "Hei Juha, tervetuloa!",
        None,
    )
    # Charged as one sendout, in the ledger under its name.
    assert quota_balance(organisation=org) == 49
    row = QuotaTransaction.objects.get(sendout=sendout)
    assert (row.kind, row.amount, row.created_by_id) == ("reservation", -1, user.pk)
    ledger = api.get("/api/v1/sms/quota/").json()["transactions"]
    assert ledger[0]["sendout"] == sendout.pk
    # Sent by the ordinary path: one text, to the user.
    send_to_the_end(sendout)
    assert [(m.to, m.body) for m in sms_outbox] == [(OWN_E164, "Hei Juha, tervetuloa!")]
    assert_books_balance(org)
    # The number stays on the profile: the next test needs none.
    assert SmsProfile.objects.get(user=user).own_number == OWN_E164
    assert (
        api.get(f"/api/v1/target-groups/{group.pk}/sms/options/").json()["own_number"] == OWN_E164
    )
    again = api.post(url(group), {"body": "Moi"}, format="json")
    assert again.status_code == 202, again.json()
    assert Sendout.objects.get(pk=again.json()["id"]).messages.get().to == OWN_E164


def test_without_a_member_the_first_member_fills_the_tags(api, group, quota):
    response = api.post(url(group), {"body": BODY, "to": OWN}, format="json")
    assert response.status_code == 202, response.json()
    first = group.included_contacts.order_by("id").first()
    assert OutboundMessage.objects.get().body == f"Hei {first.first_name}, tervetuloa!"


def test_a_member_without_a_number_or_opted_out_may_fill_the_tags(api, group, quota):
    """The member's number does not matter: the test goes to the user."""
    nonumber = group.included_contacts.get(first_name="Nonumber")
    response = api.post(
        url(group), {"body": BODY, "contact": nonumber.pk, "to": OWN}, format="json"
    )
    assert response.status_code == 202, response.json()


BAD = [
    ({"to": ""}, "to", "Enter your own mobile number"),
    ({"to": "040 123 4567"}, "to", "country code"),
    ({"to": "+358 9 123 4567"}, "to", "mobile number"),  # a fixed line
    ({"to": "x" * 41}, "to", None),
    ({"contact": 0}, "contact", None),
    ({"contact": 2**63}, "contact", None),
    ({"contact": "abc"}, "contact", None),
    ({"body": ""}, "body", None),
    ({"body": "Hei {{contact.secret}}"}, "body", "Unknown tag"),
    ({"body": "x" * 481}, "body", "480"),
    ({"sender": "Nobody"}, "sender", None),
    ({"phone_field": "fax"}, "phone_field", None),
]


@pytest.mark.parametrize(("change", "field", "says"), BAD, ids=[repr(b[0])[:30] for b in BAD])
def test_bad_input_is_400_at_the_field_and_writes_nothing(
    api, org, group, quota, change, field, says
):
    before = snapshot(org)
    response = api.post(url(group), {"body": BODY, "to": OWN, **change}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    if says:
        assert says in " ".join(response.json()[field])
    assert snapshot(org) == before


def test_a_contact_outside_the_group_is_400(api, org, other_org, group, quota):
    outsider = ContactFactory(organisation=org, first_name="Outsider")
    foreign = ContactFactory(organisation=other_org, first_name="Foreign")
    before = snapshot(org)
    for contact in (outsider, foreign):
        response = api.post(
            url(group), {"body": BODY, "to": OWN, "contact": contact.pk}, format="json"
        )
        assert response.status_code == 400
        assert "member of this target group" in response.json()["contact"][0]
    assert snapshot(org) == before


def test_an_empty_group_has_nobody_to_render_for(api, org, quota):
    empty = TargetGroupFactory(organisation=org)
    response = api.post(url(empty), {"body": BODY, "to": OWN}, format="json")
    assert response.status_code == 400
    assert "contact" in response.json()


def test_a_member_too_long_with_their_details_is_400(api, group, quota):
    long_name = group.included_contacts.get(first_name="L" * 100)
    asked = {"body": "x" * 400 + "{{contact.first_name}}", "contact": long_name.pk, "to": OWN}
    response = api.post(url(group), asked, format="json")
    assert response.status_code == 400
    assert "500 characters" in response.json()["body"][0]


def test_own_number_on_the_opt_out_list_is_400(api, org, group, quota):
    number_suppress(organisation=org, number=OWN, source="admin")
    before = snapshot(org)
    response = api.post(url(group), {"body": BODY, "to": OWN}, format="json")
    assert response.status_code == 400
    assert "opt-out list" in response.json()["to"][0]
    assert snapshot(org) == before


def test_not_enough_quota_is_409_and_writes_nothing(api, org, group):
    SmsSettingsFactory(organisation=org)  # no quota
    before = snapshot(org)
    response = api.post(url(group), {"body": BODY, "to": OWN}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_quota"
    before["profiles"] = snapshot(org)["profiles"]  # nothing else: the whole request rolled back
    assert snapshot(org) == before


def test_sms_off_is_403(api, org, group):
    SmsSettingsFactory(organisation=org, sms_enabled=False, quota=10)
    response = api.post(url(group), {"body": BODY, "to": OWN}, format="json")
    assert response.status_code == 403
    assert not Sendout.objects.exists()


def test_tests_are_limited_per_user_per_hour(api, user, org, make_user, group, quota, settings):
    settings.SMS_TEST_SENDS_PER_HOUR = 2
    for _ in range(2):
        assert api.post(url(group), {"body": BODY, "to": OWN}, format="json").status_code == 202
    before = snapshot(org)
    refused = api.post(url(group), {"body": BODY}, format="json")
    assert refused.status_code == 429
    assert refused.json()["code"] == "test_limit"
    assert 0 < refused.json()["retry_after"] <= 3600
    assert snapshot(org) == before
    # Per user: a colleague may still send a test.
    colleague = APIClient()
    colleague.force_authenticate(make_user(org))
    assert colleague.post(url(group), {"body": BODY, "to": OWN}, format="json").status_code == 202
    # An hour later the user may again.
    Sendout.objects.filter(purpose="test", created_by=user).update(
        created_at=timezone.now() - datetime.timedelta(hours=1, minutes=1)
    )
    assert api.post(url(group), {"body": BODY}, format="json").status_code == 202


def test_a_viewer_may_not_send_a_test(org, make_user, group, quota):
    viewer = APIClient()
    viewer.force_authenticate(make_user(org, role=Role.VIEWER))
    assert viewer.post(url(group), {"body": BODY, "to": OWN}, format="json").status_code == 403
    assert not Sendout.objects.exists()


def test_another_organisations_group_is_404(api, other_org, quota):
    theirs = TargetGroupFactory(organisation=other_org)
    assert api.post(url(theirs), {"body": BODY, "to": OWN}, format="json").status_code == 404


def test_tests_are_not_campaign_figures(api, user, org, group, quota):
    campaign = create_sendout(target_group=group, created_by=user, body="Kampanja")
    answer = api.post(url(group), {"body": "Testi", "to": OWN}, format="json")
    assert answer.status_code == 202
    # The group's SMS tab lists the campaign only, running (both are queued) or not.
    html = logged_in(user).get(f"/target-groups/{group.pk}/sms/").content.decode()
    assert f'href="/sms/sendouts/{campaign.pk}/"' in html
    assert f'href="/sms/sendouts/{answer.json()["id"]}/"' not in html
    # "Start from the last message" offers the campaign's, not the test's.
    options = api.get(f"/api/v1/target-groups/{group.pk}/sms/options/").json()
    assert options["last_message"]["body"] == "Kampanja"
    # The API lists tests only when asked.
    listed = api.get("/api/v1/sms/sendouts/", {"target_group": group.pk}).json()["results"]
    assert [s["id"] for s in listed] == [campaign.pk]
    tests = api.get("/api/v1/sms/sendouts/", {"target_group": group.pk, "purpose": "test"}).json()
    assert [s["purpose"] for s in tests["results"]] == ["test"]


def test_unsent_test_message_status(api, group, quota):
    assert api.post(url(group), {"body": BODY, "to": OWN}, format="json").status_code == 202
    assert OutboundMessage.objects.get().status == MessageStatus.PENDING


def test_a_test_carries_its_own_short_links_that_lead_where_the_members_would(
    client, api, settings, group, quota
):
    settings.SMS_SHORT_LINK_BASE_URL = "https://s.example.fi"
    body = "Katso https://kauppa.example.fi/tarjous/kevat-2027-hyvat-hinnat ja tule!"
    response = api.post(url(group), {"body": body, "to": OWN}, format="json")
    assert response.status_code == 202, response.json()
    sendout = Sendout.objects.get(pk=response.json()["id"])
    message = sendout.messages.get()
    assert "kauppa.example.fi" not in message.body
    code = message.body.split("https://s.example.fi/l/")[1].split()[0]
    # Followed once it has left: a click of the test, in no campaign's figures.
    message.status, message.sent_at = MessageStatus.SENT, timezone.now() - datetime.timedelta(1)
    message.save()
    visit = client.get(f"/l/{code}", headers={"User-Agent": "Mozilla/5.0 (iPhone) Safari/604.1"})
    assert visit.status_code == 302
    assert visit["Location"] == "https://kauppa.example.fi/tarjous/kevat-2027-hyvat-hinnat"
    assert [(c.sendout_id, c.message_id, c.bot_reason) for c in Click.objects.all()] == [
        (sendout.pk, message.pk, "")
    ]


def test_a_test_without_tracking_sends_the_links_as_written(api, group, quota):
    body = "Katso https://kauppa.example.fi/tarjous ja tule!"
    answer = api.post(url(group), {"body": body, "to": OWN, "link_tracking": False}, format="json")
    assert answer.status_code == 202, answer.json()
    assert OutboundMessage.objects.get().body == body
    assert not Sendout.objects.get().links.exists()

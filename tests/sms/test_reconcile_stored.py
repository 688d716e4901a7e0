"""Stored ``unknown`` messages (from before leases and reconciliation) settled by
``manage.py sms_reconcile`` and the admin action; the sendout page and API show
what reconciliation made of a sendout's messages (issue #16)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from sms.backends import ErrorKind, SendError, SmsMessage, locmem
from sms.models import OutboundMessage, Sendout
from sms.statuses import MessageStatus, SendoutStatus
from tests.factories import SmsSettingsFactory, create_sendout, number, sendable_contacts
from tests.sms.books import assert_books_balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_sendout(org, user, town_group, sms_outbox, send_to_the_end, settings) -> Sendout:
    """A finished sendout of four whose last three ended ``unknown`` the old way:
    the first of them did reach the provider, the second did not, and the
    provider cannot be asked about the third."""
    settings.SMS_RECONCILE_GRACE = 0  # sent long ago: Twilio lists them by now
    SmsSettingsFactory(organisation=org, quota=100)
    sendable_contacts(org, 4)
    sendout = create_sendout(target_group=town_group, created_by=user)
    send_to_the_end(sendout)
    messages = list(OutboundMessage.objects.filter(sendout=sendout).order_by("id"))
    locmem.accepted[:] = [a for a in locmem.accepted if a.message.to == number(1)]
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages[1:]]).update(
        status=MessageStatus.UNKNOWN, reason="lost_in_sending", provider_id=""
    )
    locmem.lookup_failures[number(3)] = SendError(kind=ErrorKind.TRANSIENT, http_status=503)
    return sendout


def test_the_command_settles_stored_unknown_messages(org, old_sendout, settings):
    settings.SMS_RECONCILE_GIVE_UP = 0  # they are old: a failing lookup is the end of it
    out = StringIO()
    call_command("sms_reconcile", "--sendout", str(old_sendout.pk), stdout=out)
    got = {m.to: m for m in OutboundMessage.objects.filter(sendout=old_sendout)}
    assert (got[number(1)].status, got[number(1)].recovery) == ("sent", "recovered")
    assert got[number(1)].provider_id == locmem.accepted[0].provider_id
    assert (got[number(2)].status, got[number(2)].reason, got[number(2)].recovery) == (
        "failed",
        "never_sent",
        "refunded",
    )
    assert (got[number(3)].status, got[number(3)].recovery) == ("unknown", "unresolved")
    assert "Found and sent: 1" in out.getvalue()
    assert "Not found, refunded: 1" in out.getvalue()
    assert "Still unknown (the provider could not be asked): 1" in out.getvalue()
    old_sendout.refresh_from_db()
    assert old_sendout.status == SendoutStatus.COMPLETED
    assert_books_balance(org, old_sendout, topped_up=100)
    assert len(locmem.outbox) == 4  # nothing sent again: the sendout had finished


def test_the_command_leaves_other_sendouts_alone(old_sendout):
    out = StringIO()
    call_command("sms_reconcile", "--sendout", str(old_sendout.pk + 1000), stdout=out)
    assert OutboundMessage.objects.filter(status=MessageStatus.UNKNOWN).count() == 3
    assert "looked up: 0" in out.getvalue()


def test_the_command_refuses_an_unknown_organisation(old_sendout):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("sms_reconcile", "--organisation", "no-such-org")
    with pytest.raises(CommandError):
        call_command("sms_reconcile", "--sendout", "abc")


def test_the_admin_action_settles_the_selected_sendouts(admin_client, old_sendout, settings):
    settings.SMS_RECONCILE_GIVE_UP = 0
    response = admin_client.post(
        reverse("admin:sms_sendout_changelist"),
        {"action": "reconcile_unknown", "_selected_action": [old_sendout.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Found and sent: 1" in response.content.decode()
    statuses = sorted(OutboundMessage.objects.values_list("status", flat=True))
    assert statuses == ["failed", "sent", "sent", "unknown"]


def test_the_api_and_the_page_show_what_reconciliation_did(client, user, old_sendout, settings):
    settings.SMS_RECONCILE_GIVE_UP = 0
    call_command("sms_reconcile", stdout=StringIO())
    client.force_login(user)
    api = client.get(reverse("api-sendout-detail", args=[old_sendout.pk])).json()
    assert api["reconciliation"] == {"recovered": 1, "resent": 0, "refunded": 1, "unresolved": 1}
    listed = client.get(reverse("api-sendout-list")).json()["results"][0]
    assert listed["reconciliation"] == api["reconciliation"]
    page = client.get(reverse("sms-sendout-detail", args=[old_sendout.pk])).content.decode()
    assert "1 found and sent, 0 sent again, 1 refunded, 1 still unknown" in page


def test_a_sendout_never_interrupted_shows_no_reconciliation(client, user, old_sendout):
    OutboundMessage.objects.update(status=MessageStatus.SENT)
    client.force_login(user)
    page = client.get(reverse("sms-sendout-detail", args=[old_sendout.pk])).content.decode()
    assert 'id="sendout-reconciliation"' not in page


def test_console_backend_finds_what_it_printed(settings):
    from datetime import UTC, datetime, timedelta

    from sms.backends import LookupQuery, get_backend

    backend = get_backend("console", stream=StringIO())
    [sent] = backend.send_messages([SmsMessage(to=number(5), body="Hei!", reference=1)])
    since = datetime.now(UTC) - timedelta(seconds=1)
    window = {"sent_after": since, "sent_before": datetime.now(UTC) + timedelta(seconds=1)}
    [found, other] = backend.lookup(
        [
            LookupQuery(reference=1, to=number(5), body="Hei!", **window),
            LookupQuery(reference=2, to=number(5), body="Moi!", **window),
        ]
    )
    assert found.provider_ids == (sent.provider_id,)
    assert other.provider_ids == () and other.error is None


def test_without_credentials_unknown_messages_stay_unknown(old_sendout, settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    out = StringIO()
    call_command("sms_reconcile", stdout=out)
    assert "Still unknown (the provider could not be asked): 3" in out.getvalue()
    assert set(
        OutboundMessage.objects.exclude(to=number(0)).values_list("recovery", flat=True)
    ) == {"unresolved"}

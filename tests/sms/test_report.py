"""A sendout's report (#19): delivery rate, opt-outs it caused, figures by hour, and
the CSV export of its recipients (API and page)."""

import csv
import datetime
import io
import tracemalloc
import zoneinfo

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import Role
from sms import report
from sms.delivery import message_status_from_provider
from sms.models import OutboundMessage, SuppressedNumber, SuppressionSource
from sms.statuses import MessageStatus
from sms.suppression import number_suppress
from tests.conftest import logged_in
from tests.factories import ContactFactory, OutboundMessageFactory, SendoutFactory

pytestmark = pytest.mark.django_db

HELSINKI = zoneinfo.ZoneInfo("Europe/Helsinki")
T0 = datetime.datetime(2026, 3, 10, 9, 15, tzinfo=HELSINKI)


def message(sendout, status, to="+358401000001", **fields):
    return OutboundMessageFactory(sendout=sendout, status=status, to=to, **fields)


def report_of(api, sendout) -> dict:
    response = api.get(f"/api/v1/sms/sendouts/{sendout.pk}/report/")
    assert response.status_code == 200, response.content
    return response.json()


# --- delivery rate -----------------------------------------------------------------


def test_delivery_rate_is_delivered_of_the_messages_that_left(api, org):
    sendout = SendoutFactory(organisation=org)
    for status, n in [
        (MessageStatus.DELIVERED, 6),
        (MessageStatus.SENT, 1),
        (MessageStatus.UNDELIVERED, 1),
        (MessageStatus.FAILED, 3),  # never left: not in the rate
        (MessageStatus.SKIPPED, 2),
    ]:
        for _ in range(n):
            message(sendout, status, to=f"+3584010{OutboundMessage.objects.count():05d}")
    figures = report_of(api, sendout)
    assert (figures["recipients"], figures["left"], figures["delivered"]) == (13, 8, 6)
    assert figures["undelivered"] == 1
    assert figures["delivery_rate"] == 0.75


def test_delivery_rate_is_null_before_anything_left(api, org):
    sendout = SendoutFactory(organisation=org)
    message(sendout, MessageStatus.PENDING)
    assert report_of(api, sendout)["delivery_rate"] is None


def test_a_delivery_report_stamps_the_delivered_time_once(org):
    sendout = SendoutFactory(organisation=org)
    delivered = message(sendout, MessageStatus.SENT, provider_id="SM1")
    undelivered = message(sendout, MessageStatus.SENT, to="+358401000002", provider_id="SM2")
    before = timezone.now()
    assert message_status_from_provider(provider_id="SM1", status=MessageStatus.DELIVERED)
    assert message_status_from_provider(provider_id="SM2", status=MessageStatus.UNDELIVERED)
    delivered.refresh_from_db()
    undelivered.refresh_from_db()
    assert delivered.delivered_at >= before
    assert undelivered.delivered_at is None
    stamped = delivered.delivered_at
    # A replayed report changes nothing, the time included.
    assert not message_status_from_provider(provider_id="SM1", status=MessageStatus.DELIVERED)
    delivered.refresh_from_db()
    assert delivered.delivered_at == stamped


# --- opt-outs caused by the sendout -------------------------------------------------------


def opt_out(org, number: str, at: datetime.datetime, source=SuppressionSource.REPLY) -> None:
    number_suppress(organisation=org, number=number, source=source)
    SuppressedNumber.objects.filter(organisation=org, number=number).update(created_at=at)


def test_opt_outs_after_the_sendout_are_its_own(org, other_org):
    sendout = SendoutFactory(organisation=org)
    for i in range(1, 6):
        message(sendout, MessageStatus.DELIVERED, to=f"+35840100000{i}", sent_at=T0)
    later = T0 + datetime.timedelta(hours=2)
    opt_out(org, "+358401000001", later)  # a STOP reply: counted
    opt_out(org, "+358401000002", later, SuppressionSource.USER)  # the opt-out page: counted
    opt_out(org, "+358401000003", later, SuppressionSource.CARRIER)  # 21610: opted out before
    opt_out(org, "+358401000004", T0 - datetime.timedelta(days=1))  # before the message
    opt_out(other_org, "+358401000005", later)  # another organisation's list
    opt_out(org, "+358409999999", later)  # a number this sendout never texted
    assert report.opt_outs_caused(sendout=sendout) == 2


def test_an_opt_out_answers_the_last_sendout_that_texted_the_number(org):
    first = SendoutFactory(organisation=org)
    second = SendoutFactory(organisation=org)
    message(first, MessageStatus.DELIVERED, to="+358401000001", sent_at=T0)
    message(
        second, MessageStatus.DELIVERED, to="+358401000001", sent_at=T0 + datetime.timedelta(days=1)
    )
    opt_out(org, "+358401000001", T0 + datetime.timedelta(days=1, hours=1))
    assert report.opt_outs_caused(sendout=first) == 0
    assert report.opt_outs_caused(sendout=second) == 1


def test_a_failed_message_causes_no_opt_out(org):
    sendout = SendoutFactory(organisation=org)
    message(sendout, MessageStatus.FAILED, to="+358401000001", sent_at=None)
    opt_out(org, "+358401000001", T0 + datetime.timedelta(hours=1))
    assert report.opt_outs_caused(sendout=sendout) == 0


# --- the figures by hour --------------------------------------------------------------


def test_figures_by_hour_with_empty_hours_in_between(org, settings):
    settings.TIME_ZONE = "Europe/Helsinki"
    sendout = SendoutFactory(organisation=org)
    for i, (sent, delivered) in enumerate(
        [(0, 0), (0, 1), (0, None), (3, 3)]  # hours after T0
    ):
        message(
            sendout,
            MessageStatus.DELIVERED if delivered is not None else MessageStatus.SENT,
            to=f"+35840100000{i}",
            sent_at=T0 + datetime.timedelta(hours=sent),
            delivered_at=None
            if delivered is None
            else T0 + datetime.timedelta(hours=delivered, minutes=20),
        )
    message(sendout, MessageStatus.FAILED, to="+358401000009")  # never left: in no series
    timeline = report.timeline(sendout=sendout)
    assert timeline["bucket"] == "hour"
    series = {s["key"]: s for s in timeline["series"]}
    assert list(series) == ["sent", "delivered", "clicks", "replies"]
    hours = [p["at"] for p in series["sent"]["points"]]
    assert hours == [
        "2026-03-10T09:00:00+02:00",
        "2026-03-10T10:00:00+02:00",
        "2026-03-10T11:00:00+02:00",
        "2026-03-10T12:00:00+02:00",
    ]
    assert [p["n"] for p in series["sent"]["points"]] == [3, 0, 0, 1]
    assert [p["n"] for p in series["delivered"]["points"]] == [1, 1, 0, 1]
    assert [p["at"] for p in series["delivered"]["points"]] == hours


def test_figures_by_day_beyond_a_week(org, settings):
    settings.TIME_ZONE = "Europe/Helsinki"
    sendout = SendoutFactory(organisation=org)
    message(sendout, MessageStatus.DELIVERED, sent_at=T0, delivered_at=T0)
    message(
        sendout,
        MessageStatus.DELIVERED,
        to="+358401000002",
        sent_at=T0,
        # Across the change to summer time (29 March 2026): days stay local midnights.
        delivered_at=T0 + datetime.timedelta(days=20),
    )
    timeline = report.timeline(sendout=sendout)
    assert timeline["bucket"] == "day"
    points = timeline["series"][1]["points"]
    assert len(points) == 21
    assert points[0]["at"] == "2026-03-10T00:00:00+02:00"
    assert points[-1]["at"] == "2026-03-30T00:00:00+03:00"
    assert sum(p["n"] for p in points) == 2


def test_a_sendout_without_figures_has_an_empty_timeline(api, org):
    sendout = SendoutFactory(organisation=org)
    message(sendout, MessageStatus.PENDING)
    timeline = report_of(api, sendout)["timeline"]
    assert timeline["bucket"] == "hour"
    assert [s["points"] for s in timeline["series"]] == [[], [], [], []]


def test_the_series_list_takes_new_series(org):
    """A new series (clicks, replies) is one entry: rows and the field of their time."""
    sendout = SendoutFactory(organisation=org)
    message(sendout, MessageStatus.DELIVERED, sent_at=T0, delivered_at=T0)
    failed = report.Series(
        "updated",
        "Updated",
        lambda s: OutboundMessage.objects.filter(sendout=s),
        "updated_at",
    )
    timeline = report.timeline(sendout=sendout, series=[failed])
    assert [s["key"] for s in timeline["series"]] == ["updated"]
    assert sum(p["n"] for p in timeline["series"][0]["points"]) == 1


def test_another_organisations_report_and_export_are_404(api, other_org):
    theirs = SendoutFactory(organisation=other_org)
    assert api.get(f"/api/v1/sms/sendouts/{theirs.pk}/report/").status_code == 404
    assert api.get(f"/api/v1/sms/sendouts/{theirs.pk}/export/").status_code == 404


# --- CSV export -------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def export_world(org):
    sendout = SendoutFactory(organisation=org)
    anna = ContactFactory(organisation=org, first_name="Anna", last_name="Aalto")
    hostile = ContactFactory(organisation=org, first_name='=HYPERLINK("x")', last_name="")
    message(
        sendout,
        MessageStatus.DELIVERED,
        contact=anna,
        messages=2,
        sent_at=T0,
        delivered_at=T0 + datetime.timedelta(minutes=1),
    )
    message(sendout, MessageStatus.SKIPPED, to="", contact=hostile, reason="missing_number")
    message(
        sendout,
        MessageStatus.FAILED,
        to="+358401000003",
        error_code="21211",
        reason="provider_rejected",
    )
    message(sendout, MessageStatus.PENDING, to="+358401000004")
    return sendout, anna


def test_the_export_has_a_line_per_recipient(api, org, settings):
    settings.TIME_ZONE = "Europe/Helsinki"
    sendout, anna = export_world(org)
    response = api.get(f"/api/v1/sms/sendouts/{sendout.pk}/export/")
    assert f'filename="sendout-{sendout.pk}-recipients.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert list(rows[0]) == [
        "contact_id",
        "name",
        "number",
        "status",
        "reason",
        "reason_text",
        "error_code",
        "messages_charged",
        "sent_at",
        "delivered_at",
        "clicks",
        "reply",
    ]
    assert rows[0] == {
        "contact_id": str(anna.pk),
        "name": "Anna Aalto",
        "number": "+358401000001",
        "status": "delivered",
        "reason": "",
        "reason_text": "",
        "error_code": "",
        "messages_charged": "2",
        "sent_at": "2026-03-10T09:15:00+02:00",
        "delivered_at": "2026-03-10T09:16:00+02:00",
        "clicks": "0",
        "reply": "",
    }
    # Text people typed never becomes a formula in a spreadsheet.
    assert rows[1]["name"] == '\'=HYPERLINK("x")'
    assert (rows[1]["status"], rows[1]["reason"], rows[1]["messages_charged"]) == (
        "skipped",
        "missing_number",
        "0",
    )
    assert rows[1]["reason_text"] == "No phone number"
    assert (rows[2]["error_code"], rows[2]["messages_charged"]) == ("21211", "0")
    assert rows[3]["messages_charged"] == ""  # still reserved
    assert len(rows) == 4


def test_the_page_offers_the_same_file(org, user, settings):
    sendout, _anna = export_world(org)
    browser = logged_in(user)
    page = browser.get(f"/sms/sendouts/{sendout.pk}/")
    assert f'href="/sms/sendouts/{sendout.pk}/export.csv"' in page.content.decode()
    from_page = read_csv(browser.get(f"/sms/sendouts/{sendout.pk}/export.csv"))
    api = APIClient()
    api.force_authenticate(user)
    assert from_page == read_csv(api.get(f"/api/v1/sms/sendouts/{sendout.pk}/export/"))


def test_a_viewer_may_export(org, make_user):
    sendout, _anna = export_world(org)
    viewer = APIClient()
    viewer.force_authenticate(make_user(org, role=Role.VIEWER))
    assert len(read_csv(viewer.get(f"/api/v1/sms/sendouts/{sendout.pk}/export/"))) == 4


def test_anonymous_gets_no_export(org):
    sendout, _anna = export_world(org)
    assert APIClient().get(f"/api/v1/sms/sendouts/{sendout.pk}/export/").status_code in (401, 403)
    assert Client().get(f"/sms/sendouts/{sendout.pk}/export.csv").status_code == 302


def bulk_messages(sendout, n: int) -> None:
    OutboundMessage.objects.bulk_create(
        [
            OutboundMessage(
                sendout=sendout,
                to=f"+35840{i:07d}",
                body="Hei",
                messages=1,
                status=MessageStatus.DELIVERED,
                sent_at=T0,
                delivered_at=T0,
            )
            for i in range(n)
        ],
        batch_size=5000,
    )


def export_peak(sendout) -> tuple[int, int]:
    """(lines, peak bytes Python allocated) while streaming the export."""
    tracemalloc.start()
    try:
        lines = sum(chunk.count("\n") for chunk in report.recipients_csv(sendout=sendout))
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return lines, peak


@pytest.mark.postgres
def test_the_export_streams_in_constant_memory(org):
    """Ten times the rows, about the same peak: rows come a chunk at a time."""
    small, large = SendoutFactory(organisation=org), SendoutFactory(organisation=org)
    bulk_messages(small, 3_000)
    bulk_messages(large, 30_000)
    small_lines, small_peak = export_peak(small)
    large_lines, large_peak = export_peak(large)
    assert (small_lines, large_lines) == (3_001, 30_001)
    assert large_peak < 2 * small_peak, (small_peak, large_peak)
    assert large_peak < 8_000_000

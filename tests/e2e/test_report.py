"""The sendout's report in the browser (#19): figures, the chart by hour drawn as
inline SVG under the strict CSP, the table behind it and the CSV download."""

import csv
import io
from pathlib import Path

import pytest
from django.utils import timezone

from sms.models import OutboundMessage
from sms.statuses import MessageStatus
from tests.e2e.test_sms_modal import group, sms_org  # noqa: F401 (fixtures)
from tests.factories import create_sendout

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_the_report_shows_figures_chart_and_download(
    page,
    login,
    screenshot,
    user,
    sms_org,  # noqa: F811
    group,  # noqa: F811
    width,
):
    sendout = create_sendout(target_group=group, created_by=user, body="Hei {{contact.first_name}}")
    now = timezone.now()
    sendable = sendout.messages.filter(status=MessageStatus.PENDING).order_by("id")
    ids = list(sendable.values_list("id", flat=True))
    OutboundMessage.objects.filter(id__in=ids[:3]).update(
        status=MessageStatus.DELIVERED, sent_at=now, delivered_at=now
    )
    OutboundMessage.objects.filter(id__in=ids[3:]).update(status=MessageStatus.SENT, sent_at=now)
    sendout.status = "completed"
    sendout.save()

    page.set_viewport_size({"width": width, "height": 900})
    login(user.username)
    page.goto(f"/sms/sendouts/{sendout.pk}/")
    page.locator("#report[data-loaded=true]").wait_for()
    figures = page.locator("#report-figures")
    assert "Delivery rate" in figures.inner_text()
    assert figures.locator("[data-figure=delivery_rate] dd").first.inner_text() == "75%"
    assert figures.locator("[data-figure=delivered] dd").inner_text() == "3"
    assert figures.locator("[data-figure=opt_outs] dd").inner_text() == "0"
    chart = page.locator("#report-chart")
    assert chart.locator("rect.series-delivered").count() == 1
    assert chart.locator("rect.series-sent").count() == 1
    assert "Delivered: 3 in all" in chart.locator("desc").text_content()
    assert page.locator("#report-legend li").all_inner_texts() == [
        "Sent",
        "Delivered",
        "Clicks",
        "Replies",
    ]
    page.get_by_text("The figures by hour as a table").click()
    assert page.locator("#report-table tbody tr").count() == 1
    # Nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(f"report-{width}")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the recipients (CSV)").click()
    assert download.value.suggested_filename == f"sendout-{sendout.pk}-recipients.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 8
    assert [r["status"] for r in rows].count("delivered") == 3

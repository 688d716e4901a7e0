"""Short links with click tracking (#19): which URLs a text holds, the codes,
the texts and bills of a tracked sendout, the redirect, and clicks apart from
link previews."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from sms.links import PREFETCH_SECONDS, short_link_chars
from sms.models import BotReason, Click, Link, OutboundMessage, Sendout
from sms.rules.links import (
    ALPHABET,
    CODE_LENGTH,
    MAX_CONTACT_ID,
    MAX_SENDOUT_ID,
    find_urls,
    link_code,
    link_code_read,
)
from sms.statuses import MessageStatus
from sms.tags import LinkSlot, parse_template
from tests.factories import ContactFactory, SmsSettingsFactory, TargetGroupFactory

BASE = "https://ex.fi"
LONG_URL = (
    "https://kauppa.example.fi/kampanjat/joulu-2026/tarjous?utm_source=sms&utm_medium=kampanja01"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(autouse=True)
def _short_base(settings):
    settings.SMS_SHORT_LINK_BASE_URL = BASE


# --- which URLs a text holds ------------------------------------------------------------

URL_CASES = [
    # (text, the URLs found)
    ("https://x.fi/a alussa", ["https://x.fi/a"]),
    ("lopussa https://x.fi/a", ["https://x.fi/a"]),
    ("Katso https://x.fi/a.", ["https://x.fi/a"]),
    ("Katso https://x.fi/a, nyt!", ["https://x.fi/a"]),
    ("Onko https://x.fi/a?", ["https://x.fi/a"]),
    ("(www.x.fi/b)", ["www.x.fi/b"]),
    ("“https://x.fi/c”", ["https://x.fi/c"]),
    (
        "https://fi.wikipedia.org/wiki/Sauna_(rakennus)",
        ["https://fi.wikipedia.org/wiki/Sauna_(rakennus)"],
    ),
    (
        "a https://x.fi/1 b http://y.fi/2 c www.z.fi",
        ["https://x.fi/1", "http://y.fi/2", "www.z.fi"],
    ),
    ("https://kauppa.äö.fi/tarjous", ["https://kauppa.äö.fi/tarjous"]),
    ("HTTPS://X.FI/ISO", ["HTTPS://X.FI/ISO"]),
    ("https://x.fi/?a=1&b=2#c", ["https://x.fi/?a=1&b=2#c"]),
    ("rivi\nhttps://x.fi/a\nrivi", ["https://x.fi/a"]),
    ("klo 10.30 x.fi ei linkki", []),
    ("https:// eikä www. ole linkkejä", []),
]


@pytest.mark.parametrize(("text", "urls"), URL_CASES)
def test_find_urls(text, urls):
    assert [u.text for u in find_urls(text)] == urls
    for url in find_urls(text):
        assert text[url.start : url.end] == url.text


def test_a_url_that_runs_into_a_tag_is_personal_and_stays_as_written():
    template = parse_template(
        "https://x.fi/?n={{contact.first_name}} ja https://y.fi"
    ).track_links()
    assert [link.url for link in template.links] == ["https://y.fi"]


def test_tracked_template_renders_as_written_without_a_link_function():
    template = parse_template("Hei {{contact.first_name}}: https://x.fi/a.").track_links()
    assert template.parts[-2:] == (LinkSlot(0, "https://x.fi/a"), ".")
    render = template.row_renderer({"id": 0, "first_name": 1})
    assert render((7, "Maija")) == "Hei Maija: https://x.fi/a."
    linked = template.row_renderer({"id": 0, "first_name": 1}, lambda c, i: f"<{c}:{i}>")
    assert linked((7, "Maija")) == "Hei Maija: <7:0>."


# --- codes -----------------------------------------------------------------------------


@given(st.integers(0, MAX_SENDOUT_ID), st.integers(0, MAX_CONTACT_ID), st.integers(0, 31))
def test_a_code_reads_back_and_shows_no_id(sendout_id, contact_id, index):
    code = link_code(key="k", sendout_id=sendout_id, contact_id=contact_id, index=index)
    assert len(code) == CODE_LENGTH and set(code) <= set(ALPHABET)
    assert link_code_read(key="k", code=code) == (sendout_id, contact_id, index)
    assert str(contact_id) not in code or contact_id < 100


def test_codes_depend_on_the_key_and_neighbours_differ_everywhere():
    first = link_code(key="k", sendout_id=1, contact_id=1000, index=0)
    assert first != link_code(key="other", sendout_id=1, contact_id=1000, index=0)
    neighbour = link_code(key="k", sendout_id=1, contact_id=1001, index=0)
    # A keyed permutation: the next contact's code shares no long prefix.
    assert first[:4] != neighbour[:4]


def test_ids_beyond_their_bits_are_refused():
    with pytest.raises(ValueError):
        link_code(key="k", sendout_id=MAX_SENDOUT_ID + 1, contact_id=1, index=0)
    with pytest.raises(ValueError):
        link_code(key="k", sendout_id=1, contact_id=1, index=32)


@pytest.mark.parametrize("code", ["", "abc", "a" * 12, "zzzzzzzzzzz", "abc-def_ghi", "äääääääääää"])
def test_malformed_codes_read_as_none(code):
    assert link_code_read(key="k", code=code) is None


# --- a tracked sendout ------------------------------------------------------------------


@pytest.fixture
def linked_group(org):
    return TargetGroupFactory(
        organisation=org,
        included_contacts=[
            ContactFactory(organisation=org, blank=True, first_name=name, mobile_phone=number)
            for name, number in [
                ("Maija", "+358 40 100 0001"),
                ("Juha", "+358 40 100 0002"),
                ("Out", ""),
            ]
        ],
    )


def create(api, group, body, **extra):
    return api.post(
        f"/api/v1/target-groups/{group.pk}/sms/sendouts/", {"body": body, **extra}, format="json"
    )


def preview(api, group, body, **extra):
    return api.post(
        f"/api/v1/target-groups/{group.pk}/sms/preview/", {"body": body, **extra}, format="json"
    )


BODY = (
    "Hei {{contact.first_name}}! Joulutarjous kaikille kanta-asiakkaille: "
    + LONG_URL
    + ". Tervetuloa ostoksille!"
)


def test_a_90_character_url_costs_a_short_link_in_text_preview_and_bill(api, org, linked_group):
    SmsSettingsFactory(organisation=org, quota=100)
    assert len(LONG_URL) >= 90
    short = short_link_chars()
    assert short == len(BASE + "/l/") + CODE_LENGTH == 27
    answer = preview(api, linked_group, BODY).json()
    typed = len(BODY)
    assert answer["chars"] == typed - len(LONG_URL) + short
    assert answer["links"] == 1
    sample = answer["samples"][0]
    assert LONG_URL not in sample["body"] and f"{BASE}/l/" in sample["body"]
    # Hei Maija! ... with the short link: within 160, one message each.
    assert (
        sample["chars"]
        == len(sample["body"])
        < 160
        < len(BODY.replace("{{contact.first_name}}", "Maija"))
    )
    assert answer["messages"] == 2

    response = create(api, linked_group, BODY, expected_messages=2)
    assert response.status_code == 202, response.json()
    sendout = Sendout.objects.get()
    assert sendout.link_tracking and sendout.messages_reserved == 2
    assert list(Link.objects.values_list("sendout_id", "index", "url")) == [
        (sendout.pk, 0, LONG_URL)
    ]
    texts = list(
        sendout.messages.filter(status=MessageStatus.PENDING).values_list("contact_id", "body")
    )
    codes = set()
    for contact_id, text in texts:
        code = text.split(f"{BASE}/l/")[1][:CODE_LENGTH]
        assert text.endswith(". Tervetuloa ostoksille!") and len(text) < 160
        assert link_code_read(key=_secret(), code=code) == (sendout.pk, contact_id, 0)
        codes.add(code)
    assert len(codes) == 2  # each recipient a code of its own


def _secret():
    from django.conf import settings

    return settings.SECRET_KEY


def test_several_urls_each_get_their_place(api, org, linked_group):
    SmsSettingsFactory(organisation=org, quota=100)
    body = "https://a.fi/1 ja (www.b.fi/2), sekä https://kauppa.äö.fi/3!"
    assert create(api, linked_group, body).status_code == 202
    sendout = Sendout.objects.get()
    assert list(sendout.links.values_list("index", "url")) == [
        (0, "https://a.fi/1"),
        (1, "https://www.b.fi/2"),
        (2, "https://kauppa.äö.fi/3"),
    ]
    text = sendout.messages.filter(status=MessageStatus.PENDING).first().body
    assert text.startswith(f"{BASE}/l/") and text.endswith("!")
    assert text.count(f"{BASE}/l/") == 3 and "a.fi" not in text


def test_tracking_off_sends_links_as_written_and_counts_them_so(api, org, linked_group):
    SmsSettingsFactory(organisation=org, quota=100)
    answer = preview(api, linked_group, BODY, link_tracking=False).json()
    assert answer["chars"] == len(BODY) and answer["links"] == 0
    assert LONG_URL in answer["samples"][0]["body"]
    # Over 160 with the long URL: two messages each.
    assert len(answer["samples"][0]["body"]) > 160
    assert answer["messages"] == 2 * 2
    assert create(api, linked_group, BODY, link_tracking=False).status_code == 202
    sendout = Sendout.objects.get()
    assert not sendout.link_tracking and not sendout.links.exists()
    assert all(
        LONG_URL in body
        for body in sendout.messages.filter(status=MessageStatus.PENDING).values_list(
            "body", flat=True
        )
    )


@pytest.mark.parametrize("value", ["maybe", 3, None, [True]])
def test_a_bad_link_tracking_is_400_and_writes_nothing(api, org, linked_group, value):
    SmsSettingsFactory(organisation=org, quota=100)
    response = create(api, linked_group, BODY, link_tracking=value)
    assert response.status_code == 400
    assert "link_tracking" in response.json()
    assert not Sendout.objects.exists() and not Link.objects.exists()


def test_options_tell_the_short_link_length(api, org, linked_group):
    SmsSettingsFactory(organisation=org, quota=100)
    options = api.get(f"/api/v1/target-groups/{linked_group.pk}/sms/options/").json()
    assert options["short_link_chars"] == 27


# --- following a link -------------------------------------------------------------------


@pytest.fixture
def sent(api, org, linked_group):
    """A tracked sendout whose two sendable messages left a minute ago."""
    SmsSettingsFactory(organisation=org, quota=100)
    body = "Tarjous https://x.fi/a ja https://kauppa.äö.fi/b?c=ä"
    assert create(api, linked_group, body).status_code == 202
    sendout = Sendout.objects.get()
    sendout.messages.filter(status=MessageStatus.PENDING).update(
        status=MessageStatus.SENT, sent_at=timezone.now() - timedelta(minutes=1)
    )
    return sendout


def code_of(message: OutboundMessage, index: int = 0) -> str:
    return message.body.split(f"{BASE}/l/")[index + 1][:CODE_LENGTH]


def follow(client, code, *, ua=IPHONE, method="get", **headers):
    if ua is not None:
        headers["User-Agent"] = ua
    return getattr(client, method)(f"/l/{code}", headers=headers)


def test_a_click_redirects_and_counts_once_per_recipient(client, api, sent):
    maija, juha = sent.messages.filter(status=MessageStatus.SENT).order_by("id")
    response = follow(client, code_of(maija))
    assert response.status_code == 302
    assert response["Location"] == "https://x.fi/a"
    assert response["Cache-Control"] == "no-store"
    follow(client, code_of(maija))
    follow(client, code_of(maija, 1))
    follow(client, code_of(juha, 1))
    clicks = Click.objects.order_by("id")
    assert [(c.message_id, c.link.index, c.bot_reason) for c in clicks] == [
        (maija.pk, 0, ""),
        (maija.pk, 0, ""),
        (maija.pk, 1, ""),
        (juha.pk, 1, ""),
    ]
    detail = api.get(f"/api/v1/sms/sendouts/{sent.pk}/").json()
    assert detail["link_tracking"] is True
    assert detail["clicks"] == {"unique": 2, "total": 4, "bots": 0, "click_through_rate": 1.0}
    listed = api.get("/api/v1/sms/sendouts/").json()["results"][0]
    assert listed["clicks"] == detail["clicks"]
    recipients = api.get(f"/api/v1/sms/sendouts/{sent.pk}/recipients/").json()["results"]
    by_contact = {r["contact"]: r["clicks"] for r in recipients}
    assert by_contact[maija.contact_id] == 3 and by_contact[juha.contact_id] == 1


def test_an_idn_target_redirects_to_its_ascii_form(client, sent):
    message = sent.messages.filter(status=MessageStatus.SENT).first()
    response = follow(client, code_of(message, 1))
    assert response.status_code == 302
    assert response["Location"].startswith("https://kauppa.xn--")
    assert response["Location"].endswith(".fi/b?c=%C3%A4")


@pytest.mark.parametrize(
    ("ua", "method", "headers", "reason"),
    [
        (
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "get",
            {},
            "user_agent",
        ),
        ("WhatsApp/2.23.20.0 A", "get", {}, "user_agent"),
        (
            "Mozilla/5.0 (compatible; Slackbot-LinkExpanding 1.0; +https://api.slack.com/robots)",
            "get",
            {},
            "user_agent",
        ),
        ("TelegramBot (like TwitterBot)", "get", {}, "user_agent"),
        ("", "get", {}, "user_agent"),
        (None, "get", {}, "user_agent"),
        (IPHONE, "head", {}, "head"),
        (IPHONE, "get", {"Sec-Purpose": "prefetch;prerender"}, "prefetch"),
        (IPHONE, "get", {"Purpose": "prefetch"}, "prefetch"),
    ],
)
def test_previews_and_prefetchers_are_recorded_apart(
    client, api, sent, ua, method, headers, reason
):
    message = sent.messages.filter(status=MessageStatus.SENT).first()
    response = follow(client, code_of(message), ua=ua, method=method, **headers)
    assert response.status_code == 302
    assert list(Click.objects.values_list("bot_reason", flat=True)) == [reason]
    clicks = api.get(f"/api/v1/sms/sendouts/{sent.pk}/").json()["clicks"]
    assert clicks == {"unique": 0, "total": 0, "bots": 1, "click_through_rate": 0.0}


def test_a_visit_within_a_second_of_delivery_is_a_scanner(client, sent):
    message = sent.messages.filter(status=MessageStatus.SENT).first()
    OutboundMessage.objects.filter(pk=message.pk).update(sent_at=timezone.now())
    follow(client, code_of(message))
    OutboundMessage.objects.filter(pk=message.pk).update(
        sent_at=timezone.now() - timedelta(seconds=PREFETCH_SECONDS + 1)
    )
    follow(client, code_of(message))
    assert list(Click.objects.order_by("id").values_list("bot_reason", flat=True)) == [
        BotReason.TOO_SOON,
        "",
    ]


def test_a_visit_right_after_the_delivery_report_is_a_scanner(client, sent):
    message = sent.messages.filter(status=MessageStatus.SENT).first()
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=MessageStatus.DELIVERED, delivered_at=timezone.now()
    )
    follow(client, code_of(message))
    assert Click.objects.get().bot_reason == BotReason.TOO_SOON


def test_unknown_codes_are_a_plain_404_that_writes_nothing(client, org, sent, linked_group):
    message = sent.messages.filter(status=MessageStatus.SENT).first()
    skipped = sent.messages.get(status=MessageStatus.SKIPPED)
    key = _secret()
    codes = [
        "00000000000",
        "zzzzzzzzzzz",
        "short",
        code_of(message)[:-1] + ("0" if code_of(message)[-1] != "0" else "1"),
        # A well-formed code of a link the message does not have (place 5).
        link_code(key=key, sendout_id=sent.pk, contact_id=message.contact_id, index=5),
        # A preview's code (sendout 0), another sendout's, a skipped recipient's.
        link_code(key=key, sendout_id=0, contact_id=message.contact_id, index=0),
        link_code(key=key, sendout_id=sent.pk + 1, contact_id=message.contact_id, index=0),
        link_code(key=key, sendout_id=sent.pk, contact_id=skipped.contact_id, index=0),
    ]
    plain = follow(client, "nothing").content
    for code in codes:
        response = follow(client, code)
        assert response.status_code == 404, code
        # The same page whatever was wrong: it tells nothing about the code.
        assert response.content == plain.replace(b"nothing", code.encode())
        assert b"x.fi" not in response.content and message.to.encode() not in response.content
    assert not Click.objects.exists()


def test_a_pending_message_has_no_link_to_follow_yet(client, api, org, linked_group):
    SmsSettingsFactory(organisation=org, quota=100)
    assert create(api, linked_group, "https://x.fi").status_code == 202
    message = OutboundMessage.objects.filter(status=MessageStatus.PENDING).first()
    assert follow(client, code_of(message)).status_code == 404


def test_post_to_a_short_link_is_refused(client, sent):
    message = sent.messages.filter(status=MessageStatus.SENT).first()
    assert follow(client, code_of(message), method="post").status_code == 405
    assert not Click.objects.exists()


def test_the_sendout_page_shows_the_clicks(browser, client, sent):
    message = sent.messages.filter(status=MessageStatus.SENT).first()
    follow(client, code_of(message))
    follow(client, code_of(message), ua="WhatsApp/2")
    page = browser.get(f"/sms/sendouts/{sent.pk}/").content.decode()
    assert 'data-figure="clicks-unique">1<' in page
    assert 'data-figure="clicks-total">1<' in page
    assert 'data-figure="clicks-bots">1<' in page
    assert 'data-figure="click-through-rate">50 %<' in page


def test_the_sendout_page_says_when_tracking_was_off(api, browser, org, linked_group):
    SmsSettingsFactory(organisation=org, quota=100)
    create(api, linked_group, BODY, link_tracking=False)
    page = browser.get(f"/sms/sendouts/{Sendout.objects.get().pk}/").content.decode()
    assert "Link tracking was off" in page


# --- in the report (the chart and the CSV export) -----------------------------------------


def test_the_report_has_the_clicks_by_hour_and_the_export_has_them_per_recipient(client, api, sent):
    maija, juha = sent.messages.filter(status=MessageStatus.SENT).order_by("id")
    follow(client, code_of(maija))
    follow(client, code_of(maija, 1))
    follow(client, code_of(juha), ua="WhatsApp/2")
    report = api.get(f"/api/v1/sms/sendouts/{sent.pk}/report/").json()
    assert (report["clicks_unique"], report["clicks_total"]) == (1, 2)
    assert report["click_through_rate"] == 0.5 and report["replies"] == 0
    series = {s["key"]: s for s in report["timeline"]["series"]}
    assert sum(point["n"] for point in series["clicks"]["points"]) == 2
    csv = b"".join(api.get(f"/api/v1/sms/sendouts/{sent.pk}/export/").streaming_content)
    lines = csv.decode().splitlines()
    header = lines[0].split(",")
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    clicks_at = header.index("clicks")
    assert rows[str(maija.contact_id)][clicks_at] == "2"
    assert rows[str(juha.contact_id)][clicks_at] == "0"

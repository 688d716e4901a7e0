"""The opt-out link of marketing texts, end to end: the text carries it (counted
in the 480 limit and billed), the page opts the number out in fi/sv/en without
login and idempotently, and the next preview skips the number."""

import pytest
from django.test import Client

from crm.models import Contact, Role
from sms.models import OutboundMessage, Sendout, SmsSettings, SuppressedNumber
from sms.optout import (
    TOKEN_LENGTH,
    optout_token,
    optout_token_parse,
    optout_token_secret_matches,
)
from tests.factories import ContactFactory, SmsSettingsFactory, TargetGroupFactory

pytestmark = pytest.mark.django_db

BASE = "https://s.example.fi"
LINK_HEAD = f"\nKiellä viestit: {BASE}/s/o/"
BODY = "Hei {{contact.first_name}}!"


@pytest.fixture(autouse=True)
def short_links(settings):
    settings.SMS_SHORT_LINK_BASE_URL = BASE
    settings.SMS_OPTOUT_IN_TEXT = True  # as by default (tests/conftest.py turns it off)


@pytest.fixture
def group(org):
    SmsSettingsFactory(organisation=org, quota=100)
    contacts = [
        ContactFactory(organisation=org, first_name="Aino", mobile_phone="+358 40 100 0001"),
        ContactFactory(
            organisation=org, first_name="Britt", mobile_phone="+358 40 100 0002", language="sv"
        ),
    ]
    return TargetGroupFactory(organisation=org, included_contacts=contacts)


def url(group, path):
    return f"/api/v1/target-groups/{group.pk}/sms/{path}/"


def send(api, group, **data):
    response = api.post(url(group, "sendouts"), {"body": BODY, **data}, format="json")
    assert response.status_code == 202, response.json()
    return Sendout.objects.get(pk=response.json()["id"])


def _proven(token: str, *, code: str = "") -> tuple[int, int] | None:
    parsed = optout_token_parse(token)
    if parsed is None:
        return None
    sendout_id, contact_id, secret = parsed
    ids = {"sendout_id": sendout_id, "contact_id": contact_id}
    return (
        (sendout_id, contact_id) if optout_token_secret_matches(secret, **ids, code=code) else None
    )


@pytest.mark.parametrize("code", ["", "Ab3dE5gH"])
def test_tokens_are_fixed_length_and_refuse_tampering(code):
    token = optout_token(sendout_id=12, contact_id=345, code=code)
    assert len(token) == TOKEN_LENGTH
    assert _proven(token, code=code) == (12, 345)
    assert _proven(token[:-1] + ("A" if token[-1] != "A" else "B"), code=code) is None
    other = optout_token(sendout_id=13, contact_id=345)[:12] + token[12:]
    assert _proven(other, code=code) == ((13, 345) if code else None)
    for bad in ("", "x" * 100, "!" * TOKEN_LENGTH, token + "0"):
        assert _proven(bad, code=code) is None


def test_a_token_with_the_contacts_code_or_the_keyed_hash_is_proven_and_no_other():
    code = "Ab3dE5gH"
    with_code = optout_token(sendout_id=12, contact_id=345, code=code)
    hashed = optout_token(sendout_id=12, contact_id=345)
    assert with_code.endswith(code) and with_code[:12] == hashed[:12]
    # The keyed hash stays good for a contact that has a code: texts sent before
    # the codes carry it.
    assert _proven(with_code, code=code) == _proven(hashed, code=code) == (12, 345)
    assert _proven(with_code, code="") is None  # a code the contact does not have
    assert _proven(with_code, code="Ab3dE5gX") is None


def test_every_marketing_text_ends_with_its_own_link_counted_and_billed(api, group):
    preview = api.post(url(group, "preview"), {"body": BODY}, format="json").json()
    assert preview["optout"] == "link"
    assert preview["optout_chars"] == len(LINK_HEAD) + TOKEN_LENGTH
    sample = preview["samples"][0]
    assert sample["body"].startswith("Hei Aino!" + LINK_HEAD)
    assert sample["chars"] == len("Hei Aino!") + preview["optout_chars"]
    sendout = send(api, group)
    texts = list(OutboundMessage.objects.filter(sendout=sendout).order_by("id"))
    assert len({m.body for m in texts}) == 2
    for message in texts:
        token = message.body.rsplit("/", 1)[1]
        # The contact's code, not a keyed hash: the database reads it.
        assert token == optout_token(
            sendout_id=sendout.pk, contact_id=message.contact_id, code=message.contact.optout_code
        )
        assert len(message.contact.optout_code) == 8
        assert message.messages == 1
    assert sendout.record["optout"] == "link"


def test_the_link_counts_in_the_480_limit(api, group):
    room = 480 - (len(LINK_HEAD) + TOKEN_LENGTH) - len("Aino")
    body = "x" * room + "{{contact.first_name}}"  # Aino fits exactly, Britt does not
    preview = api.post(url(group, "preview"), {"body": body}, format="json").json()
    assert preview["recipients"]["sendable"] == 1
    assert preview["recipients"]["skipped"] == {"too_long": 1}
    assert preview["messages"] == 3


def test_the_page_opts_the_number_out_once_and_the_next_preview_skips_it(api, group, org):
    sendout = send(api, group)
    message = OutboundMessage.objects.get(sendout=sendout, contact__first_name="Aino")
    link = message.body.rsplit(BASE, 1)[1]
    assert link.startswith("/s/o/")
    # Opening the link (a phone's link preview does too) asks; it writes nothing.
    question = Client().get(link)  # no login
    assert question.status_code == 200
    html = question.content.decode()
    assert "Lopetetaanko tekstiviestit" in html and "Lopeta viestit" in html
    assert not SuppressedNumber.objects.exists()
    assert not Contact.objects.get(first_name="Aino").sms_opt_out
    # The one click: a POST without login or CSRF cookie.
    page = Client(enforce_csrf_checks=True).post(link)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Et saa enää tekstiviestejä" in html and org.name in html
    assert "+358401000001" not in html and "40 100 0001" not in html
    assert 'lang="fi"' in html
    listed = SuppressedNumber.objects.get(organisation=org)
    assert (listed.number, listed.source) == ("+358401000001", "user")
    assert Contact.objects.get(first_name="Aino").sms_opt_out_source == "sms_link"
    assert Client().post(link).status_code == 200  # again: nothing new
    assert SuppressedNumber.objects.count() == 1
    # Opened again, the page says it is done.
    assert "Et saa enää tekstiviestejä" in Client().get(link).content.decode()
    preview = api.post(url(group, "preview"), {"body": BODY}, format="json").json()
    assert preview["recipients"]["skipped"] == {"opted_out": 1}


def test_the_page_takes_the_keyed_hash_of_a_text_sent_before_the_codes_not_a_forged_code(
    api, group, org
):
    sendout = send(api, group)
    message = OutboundMessage.objects.get(sendout=sendout, contact__first_name="Aino")
    ids = {"sendout_id": sendout.pk, "contact_id": message.contact_id}
    forged = optout_token(**ids, code="zzzzzzzz")
    assert Client().post(f"/s/o/{forged}").status_code == 404
    assert not SuppressedNumber.objects.exists()
    assert Client().post(f"/s/o/{optout_token(**ids)}").status_code == 200
    assert SuppressedNumber.objects.get(organisation=org).number == "+358401000001"


def test_the_page_speaks_the_contacts_language_or_the_one_asked(api, group):
    sendout = send(api, group)
    britt = OutboundMessage.objects.get(sendout=sendout, contact__first_name="Britt")
    link = britt.body.rsplit(BASE, 1)[1]
    assert "Vill du sluta få sms" in Client().get(link).content.decode()
    assert "Stop text messages from" in Client().get(link + "?lang=en").content.decode()
    assert "Du får inga fler sms" in Client().post(link).content.decode()
    english = Client().get(link + "?lang=en").content.decode()
    assert "You will get no more text messages" in english
    assert "Et saa enää" in Client().get(link + "?lang=fi").content.decode()


@pytest.mark.parametrize("token", ["x", "A" * TOKEN_LENGTH, "0" * 12 + "ABCDEFGH", "a-b"])
def test_a_bad_or_unknown_token_is_404_and_writes_nothing(group, token):
    response = Client().get(f"/s/o/{token}")
    assert response.status_code == 404
    assert Client().post(f"/s/o/{token}").status_code == 404
    assert "This link is not valid" in Client().get(f"/s/o/{token}?lang=en").content.decode()
    assert not SuppressedNumber.objects.exists()


def test_a_preview_link_opts_nobody_out(api, group):
    preview = api.post(url(group, "preview"), {"body": BODY}, format="json").json()
    link = preview["samples"][0]["body"].rsplit(BASE, 1)[1]
    assert Client().get(link).status_code == 404
    assert Client().post(link).status_code == 404
    assert not SuppressedNumber.objects.exists()


def test_reply_style_for_the_operator_number_and_the_link_for_a_name(api, group, org):
    SmsSettings.objects.filter(organisation=org).update(
        optout_by_reply=True, named_senders_enabled=True
    )
    SmsSettingsFactory(organisation=org, approved=["Kauppa"])
    SmsSettings.objects.filter(organisation=org).update(
        optout_by_reply=True, named_senders_enabled=True
    )
    preview = api.post(url(group, "preview"), {"body": BODY}, format="json").json()
    assert (preview["optout"], preview["optout_chars"]) == ("reply", len("\nVastaa LOPETA"))
    assert preview["samples"][0]["body"] == "Hei Aino!\nVastaa LOPETA"
    named = api.post(url(group, "preview"), {"body": BODY, "sender": "Kauppa"}, format="json")
    assert named.json()["optout"] == "link"


def test_a_service_message_carries_no_opt_out(make_user, org, group):
    from rest_framework.test import APIClient

    admin = APIClient()
    admin.force_authenticate(make_user(org, role=Role.ADMIN))
    preview = admin.post(
        url(group, "preview"), {"body": BODY, "purpose": "service"}, format="json"
    ).json()
    assert (preview["optout"], preview["optout_chars"]) == ("", 0)
    assert preview["samples"][0]["body"] == "Hei Aino!"


def test_the_opt_out_is_on_by_default():
    from config import settings as project_settings

    assert project_settings.SMS_OPTOUT_IN_TEXT is True

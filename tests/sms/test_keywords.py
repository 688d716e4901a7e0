"""Inbound keywords in Finnish, Swedish and English with loose matching, and the
confirmation answered in the contact's language (else the keyword's)."""

import pytest

from sms.models import SuppressedNumber
from sms.rules.keywords import Keyword, keyword_of
from tests.factories import ContactFactory, OutboundMessageFactory, SendoutFactory
from tests.sms.test_webhooks import (  # noqa: F401  (the autouse settings fixture)
    INBOUND_PATH,
    inbound_params,
    signed_post,
    twilio_webhook_settings,
)

NUMBER = "+358401234567"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("LOPETA", Keyword("stop", "fi")),
        ("Lopeta.", Keyword("stop", "fi")),
        ("lopeta kiitos", Keyword("stop", "fi")),
        ("  Loppu! ", Keyword("stop", "fi")),
        ("stop kiitos", Keyword("stop", "en")),
        ("Stop, thanks", Keyword("stop", "en")),
        ("UNSUBSCRIBE", Keyword("stop", "en")),
        ("SLUTA", Keyword("stop", "sv")),
        ("Stopp tack", Keyword("stop", "sv")),
        ("avsluta.", Keyword("stop", "sv")),
        ("aloita", Keyword("start", "fi")),
        ("STARTA", Keyword("start", "sv")),
        ("Start please", Keyword("start", "en")),
        ("kiitos", None),
        ("", None),
        ("Voinko lopettaa?", None),
        ("please stop", None),  # the keyword must come first
        ("stop sending me these adverts please", None),  # a message, not a keyword
        ("STOPPING", None),
    ],
)
def test_keywords_match_loosely_in_three_languages(body, expected):
    assert keyword_of(body) == expected


@pytest.fixture
def texted(org, settings):
    def text(language: str = ""):
        contact = ContactFactory(organisation=org, mobile_phone=NUMBER, language=language)
        OutboundMessageFactory(
            sendout=SendoutFactory(organisation=org), status="sent", to=NUMBER, contact=contact
        )
        return contact

    return text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "word", "answer"),
    [
        ("fi", "stop kiitos", "Olet perunut viestit"),
        ("sv", "Lopeta.", "Du har avregistrerat dig"),
        ("en", "SLUTA", "You have unsubscribed"),
        ("", "Sluta tack", "Du har avregistrerat dig"),  # no language: the keyword's
        ("", "lopeta", "Olet perunut viestit"),
        ("de", "STOP", "You have unsubscribed"),
    ],
)
def test_a_keyword_opts_out_and_is_confirmed_in_the_contacts_language(
    org, texted, language, word, answer
):
    contact = texted(language)
    response = signed_post(INBOUND_PATH, inbound_params(word, from_=NUMBER))
    assert response.status_code == 200
    assert answer in response.content.decode()
    assert "<Message>" in response.content.decode()
    assert SuppressedNumber.objects.filter(organisation=org, number=NUMBER).exists()
    contact.refresh_from_db()
    assert contact.sms_opt_out


@pytest.mark.django_db
def test_start_is_confirmed_in_swedish_and_lifts_the_suppression(org, texted):
    texted("sv")
    signed_post(INBOUND_PATH, inbound_params("SLUTA", from_=NUMBER))
    response = signed_post(INBOUND_PATH, inbound_params("Starta", from_=NUMBER))
    assert "Du får våra sms igen" in response.content.decode()
    assert not SuppressedNumber.objects.exists()


@pytest.mark.django_db
def test_a_number_we_never_texted_gets_no_confirmation(org):
    response = signed_post(INBOUND_PATH, inbound_params("STOP", from_="+358409999999"))
    assert response.status_code == 200
    assert "<Message>" not in response.content.decode()

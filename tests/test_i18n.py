"""Every user-facing string is translated: templates mark their text, the Finnish
catalogues cover every marked string, and the pages render in Finnish."""

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation

from tests.conftest import require
from tests.factories import (
    AccountFactory,
    ContactFactory,
    SmsSettingsFactory,
    TargetGroupFactory,
    create_sendout,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
LOCALE = ROOT / "locale"
SOURCES = (
    "config",
    "core",
    "crm",
    "sms",
    "targetgroups",
    "templates",
    "static",
    "locale",
    "manage.py",
)

# Visible text that is the same in every language (none so far besides symbols).
ALLOWED_TEXT: set[str] = set()
VISIBLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "label"}
BLOCK_TRANSLATE = re.compile(r"{%\s*blocktrans(?:late)?\b.*?{%\s*endblocktrans(?:late)?\s*%}", re.S)
# Blocks that fill in class names, not text ({% block main_class %}login-page{% endblock %}).
CLASS_BLOCKS = re.compile(r"{%\s*block \w*class\s*%}.*?{%\s*endblock\s*%}", re.S)
TEMPLATE_SYNTAX = re.compile(r"{%.*?%}|{{.*?}}|{#.*?#}", re.S)


@pytest.fixture(autouse=True)
def _language_restored():
    """The test client's LocaleMiddleware activates Finnish in this thread: undo it."""
    previous = translation.get_language()
    yield
    translation.activate(previous)


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        for name, value in attrs:
            if value and name in VISIBLE_ATTRIBUTES:
                self.found.append(value)
        kind = dict(attrs).get("type")
        if tag == "input" and kind in {"submit", "button", "reset"} and dict(attrs).get("value"):
            self.found.append(dict(attrs)["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"} and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def untranslated_text(source: str) -> list[str]:
    """Text a user would see that is not inside {% translate %}/{% blocktranslate %}."""
    stripped = TEMPLATE_SYNTAX.sub(" ", BLOCK_TRANSLATE.sub(" ", CLASS_BLOCKS.sub(" ", source)))
    collector = _TextCollector()
    collector.feed(stripped)
    collector.close()
    texts = (" ".join(text.split()) for text in collector.found)
    return [t for t in texts if re.search(r"[^\W\d_]", t) and t not in ALLOWED_TEXT]


def test_the_checker_finds_unmarked_text():
    assert untranslated_text("<p>Hello <b>{{ name }}</b></p>") == ["Hello"]
    assert untranslated_text('<input type="submit" value="Go">') == ["Go"]
    assert untranslated_text('<input type="radio" value="all">') == []
    assert untranslated_text('<input placeholder="Search here" value="{{ q }}">') == ["Search here"]
    assert untranslated_text('<p>{% translate "Hello" %} · {{ n }} - 3</p>') == []
    assert untranslated_text("{% blocktranslate %}Hi {{ x }}{% endblocktranslate %}") == []
    assert untranslated_text("<script>const a = 'text';</script>") == []


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_template_text_is_marked_for_translation(template):
    assert untranslated_text(template.read_text()) == []


def catalogue(domain: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / "fi" / "LC_MESSAGES" / f"{domain}.po"))


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_finnish_catalogue_is_complete(domain):
    po = catalogue(domain)
    assert len(po) > 20
    missing = [e.msgid for e in po if not e.obsolete and (not e.translated() or e.fuzzy)]
    assert missing == []
    assert po.metadata["Plural-Forms"].startswith("nplurals=2;")


def test_languages_setting():
    assert [code for code, _ in settings.LANGUAGES] == ["en-gb", "fi"]


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_marked_string_is_in_the_finnish_catalogue(domain, tmp_path):
    """makemessages over a copy of the sources finds no string the catalogue lacks."""
    require(shutil.which("xgettext") is not None, "GNU gettext (xgettext) for makemessages")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("*.mo"))
        else:
            shutil.copy(source, tmp_path / name)
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fi", "-d", domain, "--no-obsolete"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings"}
        | {"VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    fresh = polib.pofile(str(tmp_path / "locale" / "fi" / "LC_MESSAGES" / f"{domain}.po"))
    untranslated = [e.msgid for e in fresh if not e.translated() or e.fuzzy]
    assert untranslated == [], "run makemessages and translate these"
    stale = {e.msgid for e in catalogue(domain)} - {e.msgid for e in fresh}
    assert stale == set(), "run makemessages --no-obsolete: these are used nowhere"


# --- Pages in Finnish --------------------------------------------------------------

ENGLISH = [
    "Accounts",
    "Contacts",
    "Target groups",
    "Log out",
    "Log in",
    "Username",
    "Password",
    "Search",
    "Name",
    "City",
    "Members",
    "Conditions",
    "Send SMS messages",
    "Sender",
    "Message",
    "Recipients",
    "Status",
    "Cancel",
    "Submit",
    "Yes",
    "Delete",
    "Save",
    "Language",
    "Opted out",
    "Mobile phone",
    "Account",
    "Preview",
    "No contacts",
    "Sending",
    "Completed",
    "Queued",
    "members",
    "Skip to content",
]


class _Visible(_TextCollector):
    pass


def visible_text(html: str) -> str:
    collector = _Visible()
    collector.feed(html)
    return " ".join(" ".join(collector.found).split())


def english_in(text: str) -> list[str]:
    return [word for word in ENGLISH if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text)]


@pytest.fixture
def finnish_world(org, user, settings, django_capture_on_commit_callbacks):
    SmsSettingsFactory(organisation=org, operator_number="+358401110000", quota=1000)
    account = AccountFactory(organisation=org, name="Kaleva Oy", city="Oulu")
    contact = ContactFactory(
        organisation=org,
        account=account,
        city="Oulu",
        mobile_phone="+358 40 100 0001",
        sms_opt_out=False,
    )
    group = TargetGroupFactory(
        organisation=org,
        name="Oulu",
        created_by=user,
        conditions=[{"field": "contact.city", "operator": "equals", "value": "oulu"}],
    )
    with django_capture_on_commit_callbacks(execute=False):
        sendout = create_sendout(
            target_group=group, created_by=user, sender="", phone_field="", body="Hei!"
        )
    return {"account": account, "contact": contact, "group": group, "sendout": sendout}


@pytest.mark.django_db
def test_pages_in_finnish_have_no_english(client, user, finnish_world):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fi"
    login = client.get(reverse("login"))
    assert english_in(visible_text(login.content.decode())) == []
    assert 'lang="fi"' in login.content.decode()
    client.force_login(user)
    group = finnish_world["group"]
    urls = [
        reverse("account-list"),
        reverse("account-detail", args=[finnish_world["account"].pk]),
        reverse("contact-list"),
        reverse("contact-detail", args=[finnish_world["contact"].pk]),
        reverse("targetgroup-list"),
        reverse("targetgroup-create"),
        reverse("targetgroup-detail", args=[group.pk]),
        reverse("targetgroup-members", args=[group.pk]),
        reverse("targetgroup-sms", args=[group.pk]),
        reverse("targetgroup-delete", args=[group.pk]),
        reverse("sms-sendout-detail", args=[finnish_world["sendout"].pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert 'lang="fi"' in html, url
        assert english_in(visible_text(html)) == [], url


@pytest.mark.django_db
def test_finnish_dates_and_numbers(client, user, finnish_world):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fi"
    client.force_login(user)
    sendout = finnish_world["sendout"]
    html = client.get(reverse("sms-sendout-detail", args=[sendout.pk])).content.decode()
    local = timezone.localtime(sendout.created_at)
    # Finnish short date and time: 25.11.2026 10.47 (day.month.year, hours.minutes)
    assert f"{local.day}.{local.month}.{local.year} {local.hour}.{local.minute:02d}" in html
    english = client.get(
        reverse("sms-sendout-detail", args=[sendout.pk]), HTTP_ACCEPT_LANGUAGE="en-gb"
    )
    assert english.status_code == 200


@pytest.mark.django_db
def test_language_switch_sets_finnish(client, user):
    client.force_login(user)
    page = client.get(reverse("contact-list")).content.decode()
    assert 'action="/i18n/setlang/"' in page
    assert '<label for="language-select">' in page
    response = client.post(
        "/i18n/setlang/", {"language": "fi", "next": reverse("contact-list")}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("contact-list")
    html = response.content.decode()
    assert 'lang="fi"' in html
    assert "Yhteyshenkilöt" in html
    assert english_in(visible_text(html)) == []

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
    # The condition builder's operators (drawn by JavaScript from the page's labels).
    "is one of",
    "contains",
    "does not contain",
    "starts with",
    "is empty",
    "Remove",
    "Field",
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


# --- JavaScript: every string a user sees goes through gettext ------------------------

STATIC = ROOT / "static"
_GETTEXT_CALLS = {"gettext", "ngettext", "pgettext", "npgettext"}
# Text-like literals that are not shown to users: a directive, HTTP header names.
JS_TECHNICAL = {"use strict", "Accept", "Enter"}  # "Enter": a KeyboardEvent.key
# Literals that name CSS classes (`el.className = "table compact"`), not text.
_CLASS_CONTEXT = re.compile(r"(?:\bclass(?:Name)?\s*[:=]|classList\.\w+\()\s*$")
_NATURAL = re.compile(r"[^\W\d_]{2,} +[^\W\d_]{2,}|^[A-ZÅÄÖ][a-zåäö]{2,}[.!?…:]?$")
_REGEX_BEFORE = set("(,=:[!&|?{};+-*%<>~^") | {""}


def js_string_literals(source: str) -> list[tuple[str, bool, int]]:
    """Every string literal of a script as (text, inside a gettext call, offset). A
    small scanner: comments, regular expression literals and `${...}` are skipped."""
    found: list[tuple[str, bool, int]] = []
    calls: list[bool] = []  # per open parenthesis: is it a gettext call?
    i, n = 0, len(source)
    last = ""  # the last significant character, to tell a regex from a division
    word = ""
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            i = source.find("\n", i)
            i = n if i == -1 else i
            continue
        if source.startswith("/*", i):
            i = source.index("*/", i + 2) + 2
            continue
        if c in "\"'`":
            j, text = i + 1, []
            while source[j] != c:
                if source[j] == "\\":
                    text.append(source[j + 1])
                    j += 2
                elif c == "`" and source.startswith("${", j):
                    depth, j = 1, j + 2
                    while depth:
                        depth += {"{": 1, "}": -1}.get(source[j], 0)
                        j += 1
                    text.append(" ")
                else:
                    text.append(source[j])
                    j += 1
            found.append(("".join(text), bool(calls) and calls[-1], i))
            i, last, word = j + 1, c, ""
            continue
        if c == "/" and (last in _REGEX_BEFORE or word in {"return", "typeof"}):
            j, in_class = i + 1, False
            while in_class or source[j] != "/":
                if source[j] == "\\":
                    j += 1
                elif source[j] == "[":
                    in_class = True
                elif source[j] == "]":
                    in_class = False
                j += 1
            i, last, word = j + 1, "/", ""
            continue
        if c == "(":
            calls.append(word in _GETTEXT_CALLS)
        elif c == ")" and calls:
            calls.pop()
        if c.isalnum() or c in "_$":
            word = word + c if (last.isalnum() or last in "_$") and word else c
        elif not c.isspace():
            word = ""
        if not c.isspace():
            last = c
        i += 1
    return found


def untranslated_js(source: str) -> list[str]:
    return [
        text
        for text, translated, start in js_string_literals(source)
        if not translated
        and not text.startswith(("#", ".", "[", "<"))
        and not _CLASS_CONTEXT.search(source[max(0, start - 40) : start])
        and text not in JS_TECHNICAL
        and _NATURAL.search(text.strip())
    ]


def test_the_js_checker_finds_unmarked_text():
    source = """
      // a comment with "Quoted words" is no string
      const re = /\\{\\{[^{}]*\\}\\}/g, half = a / 2, other = b / 3;
      el.textContent = "Hello world";
      el.append(Object.assign(btn, { textContent: 'Previous' }));
      el.title = `Page ${n} of all`;
      ok.textContent = gettext("Translated text");
      ok.textContent = interp(ngettext("%(n)s thing here", "%(n)s things here", n), { n });
      document.querySelector("#recipients tbody"); headers.Accept = "application/json";
      p.className = "quota-after error"; const node = el("p", { class: "row errors" });
    """
    assert untranslated_js(source) == ["Hello world", "Previous", "Page   of all"]


@pytest.mark.parametrize(
    "script", sorted(STATIC.rglob("*.js")), ids=lambda p: str(p.relative_to(STATIC))
)
def test_javascript_text_is_marked_for_translation(script):
    assert untranslated_js(script.read_text()) == []


# --- Choice labels: every label a user picks from is in the Finnish catalogue -----------


def _choice_labels() -> dict[str, list[tuple[str, object]]]:
    from crm.models import Language
    from sms.rules.numbers import PHONE_FIELDS, SKIP_REASON_LABELS
    from sms.statuses import MessageReason, MessageStatus, SendoutStatus
    from sms.tags import TAGS
    from targetgroups.fields import FIELDS, OPERATOR_LABELS

    return {
        "operators": [(str(op), label) for op, label in OPERATOR_LABELS.items()],
        "fields": [(f.key, f.label) for f in FIELDS] + [(f.key, f.group) for f in FIELDS],
        "field choices": [(f"{f.key}={v}", label) for f in FIELDS for v, label in f.choices],
        "languages": [(v, label) for v, label in Language.choices],
        "sendout statuses": [(v, label) for v, label in SendoutStatus.choices],
        "message statuses": [(v, label) for v, label in MessageStatus.choices],
        "message reasons": [(v, label) for v, label in MessageReason.choices],
        "skip reasons": [(str(r), label) for r, label in SKIP_REASON_LABELS.items()],
        "phone fields": list(PHONE_FIELDS.items()),
        "tags": [(t.token, t.label) for t in TAGS] + [(t.token, t.group) for t in TAGS],
    }


@pytest.mark.parametrize("kind", sorted(_choice_labels()))
def test_choice_labels_are_translated(kind):
    """Each label has its own Finnish text (a label missing from the catalogue, as
    with an alias makemessages does not know, stays English)."""
    untranslated = []
    for key, label in _choice_labels()[kind]:
        with translation.override("en-gb"):
            english = str(label)
        with translation.override("fi"):
            finnish = str(label)
        if finnish == english and english not in {"GSM-7", "SMS"}:
            untranslated.append((key, english))
    assert untranslated == []


@pytest.mark.parametrize("language", ["en-gb", "fi"])
def test_field_and_choice_labels_start_with_a_capital(language):
    labels = _choice_labels()
    with translation.override(language):
        lower = [
            (key, str(label))
            for kind in ("fields", "field choices", "sendout statuses", "skip reasons")
            for key, label in labels[kind]
            if not str(label)[:1].isupper()
        ]
    assert lower == []


@pytest.mark.django_db
def test_condition_builder_operators_in_finnish(client, user, finnish_world):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fi"
    client.force_login(user)
    html = client.get(reverse("targetgroup-detail", args=[finnish_world["group"].pk])).content
    page = html.decode()
    labels = re.search(r'id="tg-operator-labels"[^>]*>(.*?)</script>', page).group(1)
    import json

    operators = json.loads(labels)
    assert operators["in"] == "on jokin näistä"
    assert operators["contains"] == "sisältää"
    assert operators["is_false"] == "on ei"
    catalogue = json.loads(re.search(r'id="tg-catalogue"[^>]*>(.*?)</script>', page).group(1))
    opt_out = next(f for f in catalogue if f["field"] == "contact.sms_opt_out")
    assert opt_out["label"] == "Tekstiviestikielto"

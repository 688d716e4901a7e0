"""The walk of issue #15 on a desktop (1280x800) and a phone (390x844), in English
and in Finnish: log in, the contact list, a target group's Conditions tab with the
SMS modal open, the confirmation, the sendout page, a recipient's contact page.

At each stop: the page fits the screen (nothing wider than the viewport), and
axe-core (pinned in package-lock.json, installed by `make test` with `npm ci`)
finds no serious or critical accessibility violation. Screenshots of every stop
at both sizes land in test-results/screenshots/walk-*.png for review.
"""

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from crm.models import Contact
from imports import services as import_services
from sms.models import OutboundMessage, Sendout
from tests.conftest import require
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import SmsSettingsFactory, create_sendout, people_of_oulu

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
NBSP = "\u00a0"

IMPORT_CSV = (
    "\ufeffEtunimi;Sukunimi;Sähköposti;Matkapuhelin;Kaupunki;Yritys ja osasto\r\n"
    "Matti;Meikäläinen;matti@example.fi;040 123 4567;Helsinki;Koodi Oy, kehitys\r\n"
    "Rikki;vain kaksi\r\n"
).encode()

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# What the walk reads and clicks, in each language.
WORDS = {
    "en": {
        "locale": "en-GB",
        "username": "Username",
        "password": "Password",
        "log_in": "Log in",
        "contacts": "Contacts",
        "menu": "Menu",
        "send": "Send SMS messages",
        "message": "Message",
        "sender": "Operator number (+358 40 111 0000)",
        "progress": "50% done",
        "cancelled": "Cancelled · 0 of 8 recipients were texted before the cancellation",
        "history": "SMS history",
        "opt_out": "Opt out of SMS messages",
        "opted_out": "Opted out",
        "status_cancelled": "Cancelled",
    },
    "fi": {
        "locale": "fi-FI",
        "username": "Käyttäjätunnus",
        "password": "Salasana",
        "log_in": "Kirjaudu sisään",
        "contacts": "Yhteyshenkilöt",
        "menu": "Valikko",
        "send": "Lähetä tekstiviestejä",
        "message": "Viesti",
        "sender": "Operaattorinumero (+358 40 111 0000)",
        "progress": f"50{NBSP}% valmis",
        "cancelled": (
            "Peruutettu · 0 / 8 vastaanottajalle ehdittiin lähettää viesti ennen peruutusta"
        ),
        "history": "Tekstiviestihistoria",
        "opt_out": "Kiellä tekstiviestit",
        "opted_out": "Kieltäytynyt",
        "status_cancelled": "Peruutettu",
    },
}


@pytest.fixture
def sms_org(org, user):
    SmsSettingsFactory(
        organisation=org,
        named_senders_enabled=True,
        operator_number="+358401110000",
        approved=["AcmeOy"],
        quota=1000,
    )
    return org


@pytest.fixture
def group(org, user):
    rows = [
        ("Matti", "+358 40 100 0001", False),
        ("Maija", "+358 40 100 0002", False),
        ("Juha", "+358 40 100 0003", False),
        ("Anna", "+358 40 100 0004", False),
        ("Sanna", "", False),  # no number
        ("Timo", "040 100 0006", False),  # no country code
        ("Kaisa", "+358 40 100 0007", True),  # opted out
        ("Ville", "+358 40 100 0001", False),  # Matti's number again
    ]
    return people_of_oulu(org, user, rows)


@pytest.fixture
def axe_source() -> str:
    require(AXE.exists(), f"axe-core at {AXE} (`npm ci`, run by `make test`)")
    return AXE.read_text()


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1280x800", "390x844"])
def viewport(request) -> dict:
    return request.param


@pytest.fixture(params=["en", "fi"])
def language(request) -> str:
    return request.param


@pytest.fixture
def walker(chromium_browser, live_server, viewport, language, axe_source) -> Iterator[object]:
    phone = viewport["width"] < 600
    context = chromium_browser.new_context(
        base_url=live_server.url,
        viewport=viewport,
        locale=WORDS[language]["locale"],
        is_mobile=phone,
        has_touch=phone,
        device_scale_factor=2 if phone else 1,
    )
    context.set_default_timeout(10_000)
    # axe-core comes in as an init script (the DevTools protocol, not a <script>
    # element), so the pages' Content-Security-Policy does not stand in its way.
    context.add_init_script(script=axe_source)
    page = context.new_page()
    yield page
    context.close()


class Stop:
    """What the walk checks at every page: a screenshot, the fit, and axe-core."""

    def __init__(self, page, viewport: dict, language: str) -> None:
        self.page = page
        self.size = f"{viewport['width']}x{viewport['height']}"
        self.language = language
        self.phone = viewport["width"] < 600

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"walk-{self.language}-{self.size}-{name}.png"
        # With the modal open, the screen as the user sees it (a full-page picture
        # would stretch the window and re-centre the modal).
        modal_open = self.page.evaluate("() => !!document.querySelector('dialog[open]')")
        self.page.screenshot(path=str(path), full_page=not modal_open)

    def fits(self, where: str) -> None:
        # Against the screen's width: a phone widens its layout viewport (and so
        # window.innerWidth) to fit a page that is too wide.
        width = self.page.viewport_size["width"]
        wide = self.page.evaluate(
            """(width) => [...document.querySelectorAll("body *")]
                .filter((e) => e.getBoundingClientRect().right > width + 0.5
                    && getComputedStyle(e).position !== "absolute"
                    && !e.closest(".table, .table-scroll, dialog:not([open])"))
                .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`)
                .slice(0, 8)""",
            width,
        )
        scroll = self.page.evaluate("() => document.documentElement.scrollWidth")
        assert wide == [] and scroll <= width, f"{where}: wider than {width} px: {scroll} {wide}"

    def accessible(self, where: str) -> None:
        violations = self.page.evaluate(
            """async () => {
                const result = await axe.run(document, { resultTypes: ["violations"] });
                return result.violations
                    .filter((v) => v.impact === "serious" || v.impact === "critical")
                    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                   nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
            }"""
        )
        assert violations == [], f"{where}: {violations}"

    def check(self, name: str) -> None:
        self.page.wait_for_load_state("networkidle")
        self.fits(name)
        self.accessible(name)
        self.screenshot(name)

    def open_menu(self) -> None:
        """On a phone the navigation folds away behind the menu button."""
        if not self.phone:
            return
        nav = self.page.locator(".topbar nav")
        assert not nav.is_visible()
        toggle = self.page.get_by_role("checkbox", name=WORDS[self.language]["menu"])
        assert not toggle.is_checked()
        self.page.locator("label[for=nav-toggle]").click()
        assert toggle.is_checked()
        nav.wait_for()

    def in_view(self, locator) -> bool:
        box = locator.bounding_box()
        size = self.page.viewport_size
        return (
            box is not None
            and box["x"] >= 0
            and box["y"] >= 0
            and box["x"] + box["width"] <= size["width"] + 0.5
            and box["y"] + box["height"] <= size["height"] + 0.5
        )


def test_the_walk(walker, viewport, language, user, sms_org, group) -> None:
    page, words = walker, WORDS[language]
    stop = Stop(page, viewport, language)

    # The login page, in the language asked for.
    page.goto("/login/")
    page.locator("#language-select").select_option("fi" if language == "fi" else "en-gb")
    page.locator(".language-switch button").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == ("fi" if language == "fi" else "en-gb")
    stop.check("login")
    page.get_by_label(words["username"]).fill(user.username)
    page.get_by_label(words["password"]).fill("pw-123-secret")
    page.get_by_role("button", name=words["log_in"]).click()
    page.wait_for_url("**/contacts/")

    # The contact list: the navigation (folded on a phone), the whole search hint.
    assert page.get_by_role("heading", name=words["contacts"]).is_visible()
    stop.open_menu()
    nav = page.locator(".topbar nav")
    assert nav.get_by_role("link", name=words["contacts"]).get_attribute("aria-current") == "page"
    search = page.locator("#q")
    assert page.evaluate(
        """(el) => {
            const style = getComputedStyle(el);
            const ctx = document.createElement("canvas").getContext("2d");
            ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
            const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
            const room = el.clientWidth - padding;
            const fits = ctx.measureText(el.placeholder).width <= room;
            return fits;
        }""",
        search.element_handle(),
    ), "the search hint is cut off"
    # Search by a number's digits, as typed from a business card.
    search.fill("0401000004")
    search.press("Enter")
    page.wait_for_url(re.compile(r"q=0401000004"))
    assert page.locator("table.table tbody tr").count() == 1
    assert "Anna" in page.locator("table.table tbody").inner_text()
    page.goto("/contacts/")
    stop.open_menu()
    stop.check("contacts")

    # The Conditions tab with the modal open: it fits the screen, header and buttons in view.
    page.goto(f"/target-groups/{group.pk}/")
    page.get_by_role("button", name=words["send"]).click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    dialog.locator("#sms-sender option").first.wait_for(state="attached")
    assert stop.in_view(dialog.locator("#sms-title")), "the modal's title is off screen"
    assert stop.in_view(dialog.locator("[data-close]").first), "the close button is off screen"
    assert stop.in_view(dialog.locator("#sms-submit")), "Submit is off screen"
    phone_field = dialog.locator("#sms-phone-field")
    phone_field.scroll_into_view_if_needed()
    assert stop.in_view(phone_field), "the phone-number field cannot be reached"
    if stop.phone:
        # Sender and phone-number field stack; the modal takes the whole screen.
        sender_box = dialog.locator("#sms-sender").bounding_box()
        phone_box = phone_field.bounding_box()
        assert phone_box["y"] > sender_box["y"] + sender_box["height"] - 1
        box = dialog.bounding_box()
        assert box["width"] >= viewport["width"] - 1
    # Nothing in the modal is wider than the modal.
    wide = dialog.locator("#sms-compose").evaluate(
        """(el) => {
            const right = el.getBoundingClientRect().right;
            return [...el.querySelectorAll("*")]
                .filter((e) => e.getBoundingClientRect().right > right + 0.5)
                .map((e) => `${e.tagName}#${e.id}.${e.className}`);
        }"""
    )
    assert wide == [], f"wider than the modal: {wide}"
    body = dialog.get_by_label(words["message"], exact=True)
    body.fill("Hei {{contact.first_name}}, tervetuloa!")
    submit = dialog.locator("#sms-submit")
    page.wait_for_function("() => !document.getElementById('sms-submit').disabled")
    stop.check("modal")

    # The confirmation.
    submit.click()
    confirm = dialog.locator("#sms-confirm")
    confirm.wait_for()
    assert confirm.locator("#sms-confirm-messages").inner_text() == "4"
    assert stop.in_view(dialog.locator("#sms-confirm-yes"))
    stop.check("confirm")
    dialog.locator("#sms-confirm-yes").click()

    # The sendout page (no worker here: the messages wait, pending).
    page.wait_for_url(re.compile(r"/sms/sendouts/\d+/$"))
    sendout = Sendout.objects.get()
    page.locator("#recipients tbody tr").nth(7).wait_for()
    assert page.locator("#sendout-sender").inner_text() == words["sender"]
    progress = page.locator("#sendout-progress-text")
    assert progress.inner_text().startswith(words["progress"]), progress.inner_text()
    stop.open_menu()
    assert (
        page.locator(".topbar nav").locator("a[aria-current=page]").get_attribute("href")
        == "/target-groups/"
    )
    # Recipients by name, each name a link to the contact, numbers grouped.
    first = page.locator("#recipients tbody tr").first
    anna = Contact.objects.get(first_name="Anna")
    link = first.get_by_role("link", name="Anna Oululainen")
    assert link.get_attribute("href") == f"/contacts/{anna.pk}/"
    assert first.locator("td").nth(1).inner_text() == "+358 40 100 0004"
    stop.check("sendout")

    # Cancelled: what has not left is refunded; it does not say "100 % done".
    page.once("dialog", lambda alert: alert.accept())
    page.locator("#sendout-cancel").click()
    page.locator("#sendout-status[data-status=cancelled]").wait_for()
    progress.filter(has_text=words["cancelled"]).wait_for()
    assert "100" not in progress.inner_text()
    page.locator("#recipients tbody tr[data-status=cancelled]").first.wait_for()
    first = page.locator("#recipients tbody tr").first
    assert first.get_attribute("data-status") == "cancelled"
    assert first.locator("td").nth(4).inner_text() == "0"
    stop.check("sendout-cancelled")
    sendout.refresh_from_db()
    assert sendout.messages_charged == 0

    # A recipient's contact page: the SMS history and the opt-out switch.
    first.get_by_role("link", name="Anna Oululainen").click()
    page.wait_for_url(f"**/contacts/{anna.pk}/")
    history = page.locator("#sms-history")
    assert history.get_by_role("heading").inner_text() == words["history"]
    assert "Hei Anna, tervetuloa!" in history.inner_text()
    assert words["status_cancelled"] in history.inner_text()
    page.get_by_role("button", name=words["opt_out"]).click()
    page.wait_for_url(f"**/contacts/{anna.pk}/")
    assert words["opted_out"] in page.locator("#sms-opt-out").inner_text()
    stop.check("contact")
    anna.refresh_from_db()
    assert anna.sms_opt_out
    assert OutboundMessage.objects.filter(sendout=sendout, status="cancelled").count() == 4


@pytest.mark.parametrize("language", ["en", "fi"])
def test_every_page_fits_a_phone(
    chromium_browser, live_server, axe_source, language, user, sms_org, group
):
    """#15 item 1: no page is wider than a 390 px phone, and none has a serious or
    critical accessibility violation there (the modal's pages are in the walk)."""
    from crm.models import Account

    context = chromium_browser.new_context(
        base_url=live_server.url,
        viewport=PHONE,
        locale=WORDS[language]["locale"],
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(10_000)
    context.add_init_script(script=axe_source)
    page = context.new_page()
    try:
        stop = Stop(page, PHONE, language)
        page.goto("/login/")
        page.locator("#language-select").select_option("fi" if language == "fi" else "en-gb")
        page.locator(".language-switch button").click()
        page.wait_for_load_state()
        page.get_by_label(WORDS[language]["username"]).fill(user.username)
        page.get_by_label(WORDS[language]["password"]).fill("pw-123-secret")
        page.get_by_role("button", name=WORDS[language]["log_in"]).click()
        page.wait_for_url("**/contacts/")
        account = Account.objects.filter(organisation=group.organisation).first()
        uploaded, imported = (
            import_services.contact_import_upload(
                organisation=group.organisation,
                user=user,
                file_name="a-long-file-name-of-contacts-exported-from-excel.csv",
                data=IMPORT_CSV,
            )
            for _n in range(2)
        )
        import_services.contact_import_start(
            contact_import=imported, mapping=imported.mapping, target_group_id=group.pk
        )
        import_services.contact_import_run(contact_import_id=imported.pk)
        contact = Contact.objects.filter(organisation=group.organisation).first()
        # The scheduled list with a row: its Reschedule and Cancel forms.
        create_sendout(
            target_group=group, created_by=user, send_at=timezone.now() + timedelta(days=2)
        )
        pages = {
            "accounts": "/accounts/",
            "account": f"/accounts/{account.pk}/",
            "contact-page": f"/contacts/{contact.pk}/",
            "target-groups": "/target-groups/",
            "target-group-new": "/target-groups/new/",
            "members": f"/target-groups/{group.pk}/members/",
            "sms-tab": f"/target-groups/{group.pk}/sms/",
            "scheduled": "/sms/scheduled/",
            "fix-numbers": "/contacts/fix-numbers/",
            "group-fix-numbers": f"/target-groups/{group.pk}/fix-numbers/",
            "import": "/contacts/import/",
            "import-map": f"/contacts/import/{uploaded.pk}/",
            "import-result": f"/contacts/import/{imported.pk}/",
        }
        for name, url in pages.items():
            page.goto(url)
            stop.open_menu()
            stop.check(f"page-{name}")
    finally:
        context.close()


@pytest.mark.parametrize("width", [768, 900])
def test_a_tablet_keeps_the_header_on_its_dark_background(
    chromium_browser, live_server, user, width
):
    """#15 item 1: between phone and desktop the header wraps; its links never fall
    on the light page (contrast 1.25:1 before)."""
    context = chromium_browser.new_context(
        base_url=live_server.url, viewport={"width": width, "height": 900}, locale="fi-FI"
    )
    page = context.new_page()
    try:
        page.goto("/login/")
        page.get_by_label("Käyttäjätunnus").fill(user.username)
        page.get_by_label("Salasana").fill("pw-123-secret")
        page.get_by_role("button", name="Kirjaudu sisään").click()
        page.wait_for_url("**/contacts/")
        header = page.locator("header.topbar").bounding_box()
        for name in ("Vaihda", "Kirjaudu ulos"):
            box = page.get_by_role("button", name=name).bounding_box()
            assert box["y"] + box["height"] <= header["y"] + header["height"], name
            assert box["x"] + box["width"] <= width, name
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    finally:
        context.close()

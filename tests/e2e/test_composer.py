"""The composer as a marketer meets it (#15): the Conditions tab, the Members tab and
the SMS modal. Each test walks one finding of the issue in the browser."""

import pytest

from crm.models import Contact
from sms.models import Sendout
from sms.quota import quota_adjust
from tests.e2e.test_sms_modal import group, open_modal, sms_org  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

LONG = "Tämä on pitkä viesti. " * 30  # 660 characters


def turku(org, n: int = 1, **extra) -> list[Contact]:
    return [
        Contact.objects.create(
            organisation=org,
            first_name=f"Turkulainen{i}",
            last_name="Aura",
            city="Turku",
            legal_basis="customer_relationship",
            **({"mobile_phone": f"+358 40 200 {i:04d}"} | extra),
        )
        for i in range(n)
    ]


def edit_first_value(page, value: str) -> None:
    field = page.locator("#condition-rows li").first.locator("[data-role=value]")
    field.fill(value)


# --- Item 2: the audience on screen is the audience texted ------------------------------


def test_unsaved_conditions_are_saved_before_the_modal_composes(
    page,
    login,
    user,
    org,
    sms_org,  # noqa: F811
    group,  # noqa: F811
):
    turku(org)
    login(user.username)
    page.goto(f"/target-groups/{group.pk}/")
    assert page.locator("#member-count").inner_text() == "8 members"
    edit_first_value(page, "turku")
    page.locator("#live-count").filter(has_text="1").wait_for()
    page.get_by_role("button", name="Send SMS messages").click()
    dialog = page.get_by_role("dialog")
    unsaved = dialog.locator("#sms-unsaved")
    unsaved.wait_for()
    assert "not saved" in unsaved.inner_text()
    assert dialog.locator("#sms-compose").is_hidden()
    assert dialog.get_by_role("button", name="Submit").is_hidden()
    dialog.get_by_role("button", name="Save the conditions").click()
    dialog.locator("#sms-compose").wait_for()
    # The header count follows the save (item 12).
    assert page.locator("#member-count").inner_text() == "1 member"
    dialog.get_by_label("Message", exact=True).fill("Hei {{contact.first_name}}")
    preview = dialog.locator("#sms-preview")
    preview.filter(has_text="1 of 1 contact receives the message").wait_for()
    assert "Turkulainen0" in preview.inner_text()


def test_leaving_the_tab_with_unsaved_edits_asks_first(page, login, user, group):  # noqa: F811
    login(user.username)
    page.goto(f"/target-groups/{group.pk}/")
    page.locator("#condition-rows li").first.wait_for()
    # Nothing changed: no question.
    page.get_by_role("link", name="Members").click()
    page.wait_for_url(f"**/target-groups/{group.pk}/members/")
    page.go_back()
    page.locator("#condition-rows li").first.wait_for()
    edit_first_value(page, "turku")
    asked = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("link", name="Members").click()
    page.wait_for_timeout(300)
    assert asked and "not saved" in asked[0]
    assert page.url.endswith(f"/target-groups/{group.pk}/")
    assert page.locator("#condition-rows li [data-role=value]").first.input_value() == "turku"
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("link", name="Members").click()
    page.wait_for_url(f"**/target-groups/{group.pk}/members/")


# --- Item 12: the Conditions and Members tabs -------------------------------------------


def test_save_errors_are_summarised_above_the_conditions(page, login, user, group):  # noqa: F811
    login(user.username)
    page.goto(f"/target-groups/{group.pk}/")
    edit_first_value(page, "")
    page.get_by_role("button", name="Save").click()
    summary = page.locator("#form-errors")
    summary.filter(has_text="Condition 1").wait_for()
    assert "Enter some text" in summary.inner_text()
    rows = page.locator("#condition-rows")
    assert summary.bounding_box()["y"] < rows.bounding_box()["y"]
    assert "above" in page.locator("#save-status").inner_text()
    assert page.evaluate("document.activeElement.id") == "form-errors"


def test_operator_selects_are_equally_wide(page, login, user, group):  # noqa: F811
    login(user.username)
    page.goto(f"/target-groups/{group.pk}/")
    page.locator("#condition-rows li").first.wait_for()
    for field in ("contact.sms_opt_out", "contact.created_at", "contact.language"):
        page.get_by_role("button", name="Add condition").click()
        page.locator("#condition-rows li").last.locator("[data-role=field]").select_option(field)
    widths = {
        round(box["width"])
        for box in (
            select.bounding_box()
            for select in page.locator("#condition-rows [data-role=operator]").all()
        )
    }
    assert len(widths) == 1, widths


def test_members_tab_search_and_headings(page, login, user, org, group):  # noqa: F811
    turku(org)
    login(user.username)
    page.goto(f"/target-groups/{group.pk}/members/?add=oululainen")
    found = page.locator("table.compact")
    assert found.get_by_role("button", name="Include").count() == 0
    assert found.get_by_text("Member", exact=True).count() == 8
    page.goto(f"/target-groups/{group.pk}/members/?add=turkulainen")
    page.locator("table.compact").get_by_role("button", name="Include").click()
    page.wait_for_load_state()
    assert page.locator("table.compact").get_by_role("button", name="Include").count() == 0
    labels = page.locator("button[aria-label]").evaluate_all(
        "buttons => buttons.map((b) => b.getAttribute('aria-label'))"
    )
    assert len(labels) == len(set(labels)), labels
    included = page.locator("#included-heading").bounding_box()
    excluded = page.locator("#excluded-heading").bounding_box()
    assert abs(included["y"] - excluded["y"]) < 1


# --- Items 4-8 and 10: the modal -----------------------------------------------------------


def test_a_cut_paste_is_told_until_the_next_edit_and_can_be_undone(
    page,
    login,
    user,
    sms_org,  # noqa: F811
    group,  # noqa: F811
):
    login(user.username)
    dialog = open_modal(page, group)
    body = dialog.get_by_label("Message", exact=True)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.evaluate("text => navigator.clipboard.writeText(text)", LONG)
    body.focus()
    page.keyboard.press("Control+V")
    assert len(body.input_value()) == 480
    notice = dialog.locator("#sms-body-notice")
    # The preview refresh (300 ms after the edit) does not take the notice away.
    dialog.locator("#sms-preview").filter(has_text="of 8 contacts").wait_for()
    page.wait_for_timeout(500)
    assert notice.is_visible()
    assert "180 characters were left out" in notice.inner_text()
    assert "was-cut" in (body.get_attribute("class") or "")
    notice.get_by_text("Show the text that was left out").click()
    assert LONG[480:].strip() in " ".join(notice.inner_text().split())
    # Undo takes the cut paste out in one step.
    body.focus()
    page.keyboard.press("Control+Z")
    assert body.input_value() == ""
    assert notice.is_hidden()
    # Typing past the limit says so too, and the next edit clears it.
    body.fill("x" * 480)
    body.press("End")
    page.keyboard.type("y")
    assert "1 character was left out" in notice.inner_text()
    page.keyboard.press("Backspace")
    assert notice.is_hidden()


def test_counter_counts_the_template_and_explains_billing(
    page,
    login,
    user,
    sms_org,  # noqa: F811
    group,  # noqa: F811
):
    login(user.username)
    dialog = open_modal(page, group)
    template = "x" * 150 + "{{account.name}}"  # 166 as typed, 159 with "Kaleva Oy"
    dialog.get_by_label("Message", exact=True).fill(template)
    assert (
        dialog.locator("#sms-counter").inner_text() == "Template: 166 / 480 characters · 2 messages"
    )
    per_recipient = dialog.locator("#sms-per-recipient")
    per_recipient.filter(has_text="after tags").wait_for()
    assert per_recipient.inner_text() == "up to 1 message per recipient after tags"
    hint = dialog.locator("#sms-billing-hint").inner_text()
    assert "160 characters" in hint and "segments are not billed" in hint


def test_the_deciding_numbers_stand_beside_submit_at_1280x800(
    page,
    login,
    user,
    org,
    sms_org,  # noqa: F811
    group,  # noqa: F811
):
    page.set_viewport_size({"width": 1280, "height": 800})
    login(user.username)
    dialog = open_modal(page, group)
    dialog.get_by_label("Message", exact=True).fill("Hei {{contact.first_name}}")
    summary = dialog.locator("#sms-summary")
    summary.filter(has_text="quota after").wait_for()
    assert summary.inner_text() == "4 recipients · 4 messages · quota after 996"
    submit = dialog.get_by_role("button", name="Submit")
    for box in (summary.bounding_box(), submit.bounding_box()):
        assert box["y"] >= 0 and box["y"] + box["height"] <= 800
    quota_adjust(organisation=org, amount=-998, reason="spent elsewhere")
    page.keyboard.type("!")
    summary.filter(has_text="more than the quota").wait_for()
    assert summary.inner_text() == "4 recipients · 4 messages · 2 more than the quota"
    assert "error" in summary.get_attribute("class")
    assert submit.is_disabled()


def test_a_stale_preview_goes_away_after_an_error(
    page,
    login,
    user,
    sms_org,  # noqa: F811
    group,  # noqa: F811
):
    login(user.username)
    dialog = open_modal(page, group)
    body = dialog.get_by_label("Message", exact=True)
    body.fill("Hei {{contact.first_name}}")
    preview = dialog.locator("#sms-preview")
    preview.filter(has_text="skipped").wait_for()
    body.fill("Hei {{contact.shoe_size}}")
    dialog.locator("#sms-body-error").filter(has_text="shoe_size").wait_for()
    assert "skipped" not in preview.inner_text()
    assert "No preview until the message is fixed" in preview.inner_text()
    assert dialog.locator("#sms-encoding").inner_text() == ""
    assert dialog.locator("#sms-summary").inner_text() == ""
    assert dialog.get_by_role("button", name="Submit").is_disabled()


def test_five_samples_and_the_skipped_contacts_page_by_page(
    page,
    login,
    user,
    org,
    sms_org,  # noqa: F811
    group,  # noqa: F811
):
    for n in range(12):
        Contact.objects.create(
            organisation=org,
            first_name=f"Vailla{n:02d}",
            last_name="Numeroa",
            city="Oulu",
            legal_basis="customer_relationship",
        )
    Contact.objects.create(
        organisation=org,
        first_name="Eero",
        city="Oulu",
        mobile_phone="+358 40 100 0010",
        legal_basis="customer_relationship",
    )
    login(user.username)
    dialog = open_modal(page, group)
    dialog.get_by_label("Message", exact=True).fill("Hei {{contact.first_name}}")
    preview = dialog.locator("#sms-preview")
    preview.filter(has_text="5 of 21").wait_for()
    assert preview.locator("figure.sample").count() == 5
    preview.get_by_role("button", name="Show who: 13 skipped: No phone number").click()
    listing = dialog.locator("#sms-skipped-list")
    listing.get_by_role("heading").filter(has_text="(13)").wait_for()
    assert listing.locator("tbody tr").count() == 10
    assert "Sanna" in listing.inner_text()
    listing.get_by_role("button", name="Next").click()
    listing.filter(has_text="Page 2 of 2").wait_for()
    assert listing.locator("tbody tr").count() == 3
    assert "Vailla11" in listing.inner_text()
    listing.get_by_role("button", name="Close the list").click()
    assert listing.is_hidden()
    assert Sendout.objects.count() == 0

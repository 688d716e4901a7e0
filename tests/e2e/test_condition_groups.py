"""The Conditions tab builds nested groups (#20): a marketer makes "(city is Helsinki
OR city is Espoo) AND industry is Software" with the mouse and a group with the
keyboard alone, saves, and the group's members are the ones meant."""

import pytest

from crm.models import Account, Contact
from targetgroups.models import TargetGroup

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def empty_group(org, user):
    software = Account.objects.create(organisation=org, name="Koodi Oy", industry="Software")
    paper = Account.objects.create(organisation=org, name="Paperi Oy", industry="Paper")
    for name, city, account in [
        ("HkiSw", "Helsinki", software),
        ("EspooSw", "Espoo", software),
        ("HkiPaper", "Helsinki", paper),
        ("OuluSw", "Oulu", software),
    ]:
        Contact.objects.create(organisation=org, last_name=name, city=city, account=account)
    return TargetGroup.objects.create(organisation=org, name="Capital software", created_by=user)


def set_condition(row, field: str, value: str) -> None:
    row.locator("[data-role=field]").select_option(field)
    row.locator("[data-role=value]").fill(value)


def test_two_level_group_is_built_and_saved(page, login, user, empty_group, screenshot):
    login(user.username)
    page.goto(f"/target-groups/{empty_group.pk}/")
    page.get_by_role("button", name="Add group", exact=True).click()
    group = page.locator("#condition-rows > li.condition-group")
    group.wait_for()
    assert group.locator("legend").inner_text() == "Group 1"
    group.get_by_label("any condition").check()
    set_condition(group.locator("li.condition-row").first, "contact.city", "Helsinki")
    group.get_by_role("button", name="Add condition: Group 1").click()
    set_condition(group.locator("li.condition-row").last, "contact.city", "Espoo")
    page.get_by_role("button", name="Add condition", exact=True).click()
    set_condition(
        page.locator("#condition-rows > li.condition-row"), "account.industry", "Software"
    )
    # Labels name every control by its place in the tree.
    assert page.get_by_label("Value 1.2").input_value() == "Espoo"
    assert page.get_by_label("Value 2").input_value() == "Software"
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator("#save-status").filter(has_text="Saved.").wait_for()
    assert page.locator("#live-count").inner_text() == "2"
    screenshot("conditions-two-level-group")

    empty_group.refresh_from_db()
    assert empty_group.conditions == {
        "match": "all",
        "items": [
            {
                "match": "any",
                "items": [
                    {"field": "contact.city", "operator": "equals", "value": "Helsinki"},
                    {"field": "contact.city", "operator": "equals", "value": "Espoo"},
                ],
            },
            {"field": "account.industry", "operator": "equals", "value": "Software"},
        ],
    }
    # Reloaded, the tree is drawn again as it was saved.
    page.reload()
    group.wait_for()
    assert group.get_by_label("any condition").is_checked()
    assert page.get_by_label("Value 1.1").input_value() == "Helsinki"


def test_groups_by_keyboard_three_levels_at_most(page, login, user, empty_group):
    login(user.username)
    page.goto(f"/target-groups/{empty_group.pk}/")
    page.locator("#add-group").focus()
    page.keyboard.press("Enter")
    # Focus lands in the new group (its all/any), the next Tab reaches its condition.
    assert page.evaluate("document.activeElement.type") == "radio"
    page.get_by_role("button", name="Add group: Group 1").focus()
    page.keyboard.press("Enter")
    level3 = page.locator("li.condition-group li.condition-group")
    level3.wait_for()
    # The third level is the deepest: it offers no "Add group".
    assert level3.locator("[data-role=add-group]").count() == 0
    set_condition(
        page.get_by_role("listitem").filter(has=page.get_by_label("Field 1.1")).last,
        "contact.city",
        "Oulu",
    )
    set_condition(level3.locator("li.condition-row"), "contact.city", "Oulu")
    page.get_by_role("button", name="Remove group: Group 1.2").focus()
    page.keyboard.press("Enter")
    assert level3.count() == 0
    assert page.evaluate("document.activeElement.dataset.role") == "field"
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator("#save-status").filter(has_text="Saved.").wait_for()
    empty_group.refresh_from_db()
    assert empty_group.conditions["items"][0]["items"] == [
        {"field": "contact.city", "operator": "equals", "value": "Oulu"}
    ]


def test_an_empty_group_is_named_in_the_error_summary(page, login, user, empty_group):
    login(user.username)
    page.goto(f"/target-groups/{empty_group.pk}/")
    page.get_by_role("button", name="Add group", exact=True).click()
    group = page.locator("#condition-rows > li.condition-group")
    group.locator("[data-role=remove]").click()
    page.get_by_role("button", name="Save", exact=True).click()
    summary = page.locator("#form-errors")
    summary.filter(has_text="Group 1").wait_for()
    assert "at least one condition" in summary.inner_text()
    assert "invalid" in (group.get_attribute("class") or "")

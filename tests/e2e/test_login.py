import pytest
from django.core.management import call_command


@pytest.mark.django_db(transaction=True)
def test_demo_user_logs_in_and_sees_demo_data(page, login, screenshot):
    call_command("seed_demo", contacts=120)
    login("demo", "demo")
    assert page.get_by_role("heading", name="Contacts").is_visible()
    rows = page.locator("table.table tbody tr")
    assert rows.count() == 50  # the first page of 120
    screenshot("contacts")
    page.get_by_role("link", name="Accounts").click()
    page.wait_for_url("**/accounts/")
    assert page.locator("table.table tbody tr").count() > 10
    screenshot("accounts")


@pytest.mark.django_db(transaction=True)
def test_wrong_password_is_told(page, user):
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text().startswith("Your username and password")

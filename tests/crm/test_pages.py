from django.test import Client

from crm.models import Account, Contact
from tests.conftest import logged_in


def test_login_page_renders_without_external_assets(db):
    response = Client().get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert "http://" not in html and "https://" not in html


def test_anonymous_is_sent_to_login(db):
    for path in ("/", "/accounts/", "/contacts/", "/target-groups/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_login_with_password_then_see_contacts(user, contact):
    client = Client()
    response = client.post(
        "/login/", {"username": user.username, "password": "pw-123-secret"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/contacts/"
    assert "Virtanen" in response.content.decode()


def test_wrong_password_is_told(user):
    response = Client().post("/login/", {"username": user.username, "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_lists_show_only_the_organisations_rows(browser, org, other_org, contact):
    Account.objects.create(organisation=other_org, name="Secret Rival Oy")
    Contact.objects.create(organisation=other_org, last_name="Secretson")
    accounts = browser.get("/accounts/").content.decode()
    assert "Kaleva Oy" in accounts and "Secret Rival Oy" not in accounts
    contacts = browser.get("/contacts/").content.decode()
    assert "Virtanen" in contacts and "Secretson" not in contacts


def test_search_on_the_contact_list(browser, org, contact):
    Contact.objects.create(organisation=org, first_name="Aino", last_name="Laine")
    html = browser.get("/contacts/", {"q": "aino"}).content.decode()
    assert "Laine" in html and "Virtanen" not in html


def test_details(browser, account, contact):
    html = browser.get(f"/accounts/{account.pk}/").content.decode()
    assert "Kaleva Oy" in html and "Virtanen" in html
    html = browser.get(f"/contacts/{contact.pk}/").content.decode()
    assert "+358 40 123 4567" in html


def test_another_organisations_details_are_404(browser, other_org):
    theirs = Account.objects.create(organisation=other_org, name="Theirs Oy")
    person = Contact.objects.create(organisation=other_org, last_name="Salo")
    assert browser.get(f"/accounts/{theirs.pk}/").status_code == 404
    assert browser.get(f"/contacts/{person.pk}/").status_code == 404


def test_contact_fields_are_shown_inertly(browser, org):
    person = Contact.objects.create(
        organisation=org, first_name="<script>alert(1)</script>", last_name="{{ evil }}"
    )
    html = browser.get(f"/contacts/{person.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_user_without_organisation_is_refused(make_user):
    client = logged_in(make_user(None))
    assert client.get("/contacts/").status_code == 403


def test_api_docs_and_schema_are_served_locally(browser):
    assert browser.get("/api/schema/").status_code == 200
    html = browser.get("/api/docs/").content.decode()
    assert "swagger" in html.lower()
    assert "cdn" not in html.lower()

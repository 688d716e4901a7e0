import pytest
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


# --- Issue #15: the pages a marketer meets ---------------------------------------------


def test_contact_search_finds_a_number_by_its_digits(browser, org):
    """#15 item 13: "0509964256" finds +358 50 996 4256 as "+358 50 996 4256" does."""
    Contact.objects.create(
        organisation=org, last_name="Numeroinen", mobile_phone="+358 50 996 4256"
    )
    Contact.objects.create(organisation=org, last_name="Kotimainen", work_phone="040 100 0006")
    Contact.objects.create(organisation=org, last_name="Muu", mobile_phone="+358 40 555 0000")
    for query in (
        "0509964256",
        "050 996 4256",
        "+358 50 996 4256",
        "+358509964256",
        "00358509964256",
    ):
        html = browser.get("/contacts/", {"q": query}).content.decode()
        assert "Numeroinen" in html, query
        assert "Muu" not in html and "Kotimainen" not in html, query
    # A number stored without its country code is found by the digits as typed.
    html = browser.get("/contacts/", {"q": "0401000006"}).content.decode()
    assert "Kotimainen" in html and "Numeroinen" not in html
    # Words still search names.
    html = browser.get("/contacts/", {"q": "numeroinen"}).content.decode()
    assert "Numeroinen" in html and "Muu" not in html


def test_every_page_names_an_icon_that_is_served(browser):
    """#15 item 13: no favicon 404, neither the named icon nor /favicon.ico."""
    from django.contrib.staticfiles import finders

    html = browser.get("/contacts/").content.decode()
    assert 'rel="icon" href="/static/crm/favicon.svg"' in html
    assert finders.find("crm/favicon.svg")
    response = Client().get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/crm/favicon.svg"


def test_seed_demo_makes_a_staff_login_for_django_admin(db):
    """#15 item 9: the admin pages have a login, and `make run` prints it."""
    from pathlib import Path

    from django.core.management import call_command

    call_command("seed_demo", contacts=5)
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.get(username="admin")
    assert staff.is_staff and staff.check_password("admin")
    client = Client()
    client.force_login(staff)  # (not login(): django-axes wants the request)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/crm/organisation/").status_code == 200
    call_command("seed_demo", contacts=5)  # safe to run again
    run = (Path(__file__).resolve().parents[2] / "tools" / "run").read_text()
    assert "admin / admin" in run


def test_a_contacts_page_shows_its_sms_history(browser, org, user, contact):
    """#15 item 15: sendout, date, status and text of each message, newest first;
    another organisation's messages never."""
    from sms.statuses import MessageStatus
    from tests.factories import OutboundMessageFactory, SendoutFactory, TargetGroupFactory

    group = TargetGroupFactory(organisation=org, name="Kesäkampanja", created_by=user)
    first = SendoutFactory(organisation=org, target_group=group)
    OutboundMessageFactory(
        sendout=first, contact=contact, body="Hei Matti, kesäale alkaa!", status=MessageStatus.SENT
    )
    second = SendoutFactory(organisation=org)
    OutboundMessageFactory(
        sendout=second,
        contact=contact,
        to="",
        body="",
        status=MessageStatus.SKIPPED,
        reason="opted_out",
    )
    html = browser.get(f"/contacts/{contact.pk}/").content.decode()
    assert 'id="sms-history"' in html
    assert "Hei Matti, kesäale alkaa!" in html
    assert f'href="/sms/sendouts/{first.pk}/">Kesäkampanja</a>' in html
    assert f'href="/sms/sendouts/{second.pk}/">Sendout {second.pk}</a>' in html
    assert "Sent" in html and "Skipped" in html and "Opted out of SMS" in html
    assert html.index(f"/sms/sendouts/{second.pk}/") < html.index(f"/sms/sendouts/{first.pk}/")


def test_a_contact_without_messages_says_so(browser, contact):
    html = browser.get(f"/contacts/{contact.pk}/").content.decode()
    assert "No SMS messages have been sent to this contact." in html


def test_the_opt_out_switch_on_a_contacts_page(browser, contact):
    """#15 item 15: a member opts the contact out and back in from its page; each
    change is stamped as made by a user."""
    html = browser.get(f"/contacts/{contact.pk}/").content.decode()
    assert f'action="/contacts/{contact.pk}/sms-opt-out/"' in html
    assert "Opt out of SMS messages" in html
    response = browser.post(f"/contacts/{contact.pk}/sms-opt-out/", {"sms_opt_out": "1"})
    assert response.status_code == 302 and response["Location"] == f"/contacts/{contact.pk}/"
    contact.refresh_from_db()
    assert contact.sms_opt_out and contact.sms_opt_out_source == "user"
    assert contact.sms_opt_out_at is not None
    html = browser.get(f"/contacts/{contact.pk}/").content.decode()
    assert "no longer receives SMS messages" in html
    assert "Allow SMS messages" in html and "Opted out" in html
    browser.post(f"/contacts/{contact.pk}/sms-opt-out/", {"sms_opt_out": "0"})
    contact.refresh_from_db()
    assert not contact.sms_opt_out


@pytest.mark.parametrize("value", ["", "yes", "2", "true", "1; DROP TABLE"])
def test_the_opt_out_switch_refuses_bad_input_and_changes_nothing(browser, contact, value):
    response = browser.post(f"/contacts/{contact.pk}/sms-opt-out/", {"sms_opt_out": value})
    assert response.status_code == 400
    assert "Choose whether the contact accepts SMS messages." in response.content.decode()
    contact.refresh_from_db()
    assert not contact.sms_opt_out and contact.sms_opt_out_at is None


def test_a_viewer_sees_no_opt_out_switch_and_may_not_post(make_user, org, contact):
    viewer = logged_in(make_user(org, role="viewer"))
    html = viewer.get(f"/contacts/{contact.pk}/").content.decode()
    assert "sms-opt-out/" in html  # the state is shown ...
    assert "Opt out of SMS messages" not in html  # ... but no button
    assert (
        viewer.post(f"/contacts/{contact.pk}/sms-opt-out/", {"sms_opt_out": "1"}).status_code == 403
    )
    contact.refresh_from_db()
    assert not contact.sms_opt_out


def test_the_search_placeholder_is_short_enough_to_show(browser):
    """#15 item 13: the whole hint fits the field (checked in the browser at both
    widths by tests/e2e/test_walk.py); here: it is the short one."""
    html = browser.get("/contacts/").content.decode()
    assert 'placeholder="Name, email, phone, city or account"' in html

"""Target-group pages: list, create, the three tabs, hand-picking, scoping, roles."""

import json
import re

import pytest
from django.test import Client, override_settings
from django.utils import translation

from crm.models import Contact, Role
from targetgroups.models import TargetGroup
from tests.conftest import logged_in

HELSINKI = [{"field": "contact.city", "operator": "equals", "value": "helsinki"}]


@pytest.fixture
def group(org, contact) -> TargetGroup:
    return TargetGroup.objects.create(organisation=org, name="Helsinki", conditions=HELSINKI)


def test_list_shows_name_member_count_and_new_button(browser, org, group, other_org):
    Contact.objects.create(organisation=org, last_name="Other", city="Turku")
    TargetGroup.objects.create(organisation=other_org, name="Secret group")
    html = browser.get("/target-groups/").content.decode()
    assert "Helsinki" in html and "Secret group" not in html
    assert re.search(r'<td class="num">1</td>', html)
    assert "New target group" in html


def test_create_page_makes_a_group_and_goes_to_its_conditions(browser, org, user):
    assert browser.get("/target-groups/new/").status_code == 200
    response = browser.post("/target-groups/new/", {"name": "Buyers", "description": "d"})
    group = TargetGroup.objects.get(organisation=org)
    assert response.status_code == 302
    assert response["Location"] == f"/target-groups/{group.pk}/"
    assert group.name == "Buyers" and group.created_by == user
    assert group.conditions == {"match": "all", "items": []}


def test_create_page_needs_a_name(browser):
    response = browser.post("/target-groups/new/", {"name": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not TargetGroup.objects.exists()


def test_conditions_tab_embeds_the_catalogue_and_the_group(browser, group):
    response = browser.get(f"/target-groups/{group.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    catalogue = json.loads(re.search(r'id="tg-catalogue"[^>]*>(.*?)</script>', html).group(1))
    assert "contact.city" in {row["field"] for row in catalogue}
    builder = json.loads(re.search(r'id="tg-builder"[^>]*>(.*?)</script>', html).group(1))
    # A flat list stored around the services is shown as the tree it means.
    assert builder["conditions"] == {"match": "all", "items": HELSINKI}
    assert builder["api_url"] == f"/api/v1/target-groups/{group.pk}/"
    assert builder["count_url"] == "/api/v1/target-groups/count/"
    assert "targetgroups/conditions.js" in html
    assert "csrfmiddlewaretoken" in html
    assert "Actions" in html and 'aria-current="page"' in html
    assert "http://" not in html and "https://" not in html
    for label in ('for="tg-name"', 'for="tg-description"'):
        assert label in html


@override_settings(TARGET_GROUP_ACTIONS_TEMPLATE="targetgroups/_sms_tab_empty.html")
def test_actions_section_comes_from_the_setting(browser, group):
    html = browser.get(f"/target-groups/{group.pk}/").content.decode()
    assert "No SMS sendouts to this target group yet." in html


@override_settings(TARGET_GROUP_SMS_TAB_TEMPLATE="targetgroups/_sms_tab_empty.html")
def test_sms_tab_renders_the_configured_template(browser, group):
    html = browser.get(f"/target-groups/{group.pk}/sms/").content.decode()
    assert "No SMS sendouts to this target group yet." in html


def test_members_tab_lists_members_with_exclude_buttons(browser, org, group, contact):
    Contact.objects.create(organisation=org, last_name="Turkulainen", city="Turku")
    html = browser.get(f"/target-groups/{group.pk}/members/").content.decode()
    assert "Virtanen" in html and "Turkulainen" not in html
    assert f"/target-groups/{group.pk}/members/exclude/" in html


def test_members_tab_is_paginated(browser, org):
    for n in range(55):
        Contact.objects.create(organisation=org, last_name=f"P{n:02d}", city="Oulu")
    group = TargetGroup.objects.create(
        organisation=org,
        name="Oulu",
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Oulu"}],
    )
    first = browser.get(f"/target-groups/{group.pk}/members/").content.decode()
    second = browser.get(f"/target-groups/{group.pk}/members/", {"page": 2}).content.decode()
    assert "P49" in first and "P50" not in first
    assert "P54" in second and "Page 2 of 2" in second


def test_search_include_exclude_and_reset_by_hand(browser, org, group, contact):
    other = Contact.objects.create(organisation=org, first_name="Aino", last_name="Laine")
    html = browser.get(f"/target-groups/{group.pk}/members/", {"add": "aino"}).content.decode()
    assert f"/target-groups/{group.pk}/members/include/" in html and "Laine" in html

    base = f"/target-groups/{group.pk}/members/"
    assert browser.post(base + "include/", {"contact": other.pk}).status_code == 302
    assert set(group.included_contacts.all()) == {other}
    browser.post(base + "exclude/", {"contact": contact.pk})
    assert set(group.excluded_contacts.all()) == {contact}
    html = browser.get(base).content.decode()
    assert "Laine" in html and "Included by hand" in html
    browser.post(base + "reset/", {"contact": contact.pk})
    assert not group.excluded_contacts.exists()


def test_hand_picking_another_organisations_contact_changes_nothing(browser, group, other_org):
    stranger = Contact.objects.create(organisation=other_org, last_name="Stranger")
    response = browser.post(
        f"/target-groups/{group.pk}/members/include/", {"contact": stranger.pk}, follow=True
    )
    assert "No contacts with these ids" in response.content.decode()
    assert not group.included_contacts.exists()


def test_hand_pick_redirects_only_to_this_site(browser, group, contact):
    response = browser.post(
        f"/target-groups/{group.pk}/members/exclude/",
        {"contact": contact.pk, "next": "https://evil.example/"},
    )
    assert response["Location"] == f"/target-groups/{group.pk}/members/"


def test_another_organisations_group_is_404_on_every_page(browser, other_org):
    theirs = TargetGroup.objects.create(organisation=other_org, name="Theirs")
    for path in ("", "members/", "sms/", "delete/"):
        assert browser.get(f"/target-groups/{theirs.pk}/{path}").status_code == 404
    response = browser.post(f"/target-groups/{theirs.pk}/members/include/", {"contact": 1})
    assert response.status_code == 404
    assert browser.post(f"/target-groups/{theirs.pk}/delete/").status_code == 404
    assert TargetGroup.objects.filter(pk=theirs.pk).exists()


def test_delete_asks_then_deletes(browser, group):
    assert (
        "Delete the target group"
        in browser.get(f"/target-groups/{group.pk}/delete/").content.decode()
    )
    response = browser.post(f"/target-groups/{group.pk}/delete/")
    assert response.status_code == 302
    assert not TargetGroup.objects.filter(pk=group.pk).exists()


def test_viewer_sees_but_cannot_change(make_user, org, group, contact):
    client = logged_in(make_user(org, role=Role.VIEWER))
    html = client.get("/target-groups/").content.decode()
    assert "New target group" not in html
    assert client.get("/target-groups/new/").status_code == 403
    members = client.get(f"/target-groups/{group.pk}/members/").content.decode()
    assert "/members/exclude/" not in members
    response = client.post(f"/target-groups/{group.pk}/members/exclude/", {"contact": contact.pk})
    assert response.status_code == 403
    assert client.post(f"/target-groups/{group.pk}/delete/").status_code == 403
    assert not group.excluded_contacts.exists()
    conditions = client.get(f"/target-groups/{group.pk}/").content.decode()
    assert 'id="save-conditions"' not in conditions


def test_anonymous_goes_to_login(db, group):
    response = Client().get(f"/target-groups/{group.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- #15: the Conditions and Members tabs as a marketer meets them -----------------------


def test_search_does_not_offer_include_for_a_member(browser, org, group, contact):
    # `contact` lives in Helsinki: a member by the conditions.
    other = Contact.objects.create(organisation=org, first_name="Aino", last_name="Virtanen")
    html = browser.get(f"/target-groups/{group.pk}/members/", {"add": "virtanen"}).content.decode()
    found = html[html.index("Contacts found") : html.index('id="members-heading"')]
    assert f'value="{other.pk}"' in found
    assert f'value="{contact.pk}"' not in found
    assert "Member</span>" in found
    # Once included by hand, the search says "Member" for Aino too.
    base = f"/target-groups/{group.pk}/members/"
    browser.post(base + "include/", {"contact": other.pk, "next": base + "?add=virtanen"})
    html = browser.get(base, {"add": "virtanen"}).content.decode()
    found = html[html.index("Contacts found") : html.index('id="members-heading"')]
    assert "/members/include/" not in found
    assert found.count("Member</span>") == 2


def test_hand_pick_buttons_have_unique_labels(browser, org):
    twins = [
        Contact.objects.create(
            organisation=org, first_name="Matti", last_name="Meikäläinen", city="Oulu", **extra
        )
        for extra in (
            {"email": "matti1@example.com"},
            {"email": "matti2@example.com"},
            {"mobile_phone": "+358 40 100 0003"},
        )
    ]
    group = TargetGroup.objects.create(
        organisation=org,
        name="Oulu",
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Oulu"}],
    )
    html = browser.get(f"/target-groups/{group.pk}/members/", {"add": "matti"}).content.decode()
    labels = re.findall(r'aria-label="((?:Exclude|Include): [^"]*)"', html)
    assert len([label for label in labels if label.startswith("Exclude")]) == len(twins)
    assert len(labels) == len(set(labels)), labels


def test_conditions_tab_puts_the_error_summary_above_the_rows(browser, group):
    html = browser.get(f"/target-groups/{group.pk}/").content.decode()
    assert html.index('id="form-errors"') < html.index('id="condition-rows"')
    assert 'id="member-count"' in html
    # The builder's strings come from the JavaScript catalogue.
    assert html.index("/jsi18n/") < html.index("targetgroups/conditions.js")
    assert 'id="tg-strings"' not in html


def test_member_counts_use_the_languages_grouping(browser, org, settings):
    Contact.objects.bulk_create(
        Contact(organisation=org, last_name=f"P{n}", city="Kemi") for n in range(1200)
    )
    group = TargetGroup.objects.create(
        organisation=org,
        name="Kemi",
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Kemi"}],
    )
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "fi"
    with translation.override(settings.LANGUAGE_CODE):  # the request switches this thread
        html = browser.get(f"/target-groups/{group.pk}/").content.decode()
    assert "1\u00a0200 jäsentä</span>" in html
    assert 'data-testid="live-count">1\u00a0200</span>' in html

"""Fixing numbers without a country code (#20): preview, apply (only what was
confirmed, one transaction, undo record, history entry), undo, bad input."""

import pytest
from rest_framework.test import APIClient

from crm import numberfix
from crm.models import Contact, ContactChange, PhoneFix, Role
from targetgroups.models import TargetGroup

URL = "/api/v1/phone-fixes/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def contacts(org, other_org):
    make = Contact.objects.create
    return {
        "local": make(organisation=org, last_name="Local", mobile_phone="040 123 4567"),
        "work": make(organisation=org, last_name="Work", work_phone="09 123 4567", city="Oulu"),
        "short": make(organisation=org, last_name="Short", mobile_phone="040"),
        "fine": make(organisation=org, last_name="Fine", mobile_phone="+358 40 765 4321"),
        "swede": make(organisation=org, last_name="Swede", mobile_phone="070 123 45 67"),
        "theirs": make(organisation=other_org, last_name="Theirs", mobile_phone="040 999 8888"),
    }


def test_preview_lists_fixes_and_invalid_numbers_with_why(api, contacts):
    response = api.post(URL + "preview/", {}, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["country"] == "FI"
    fixable = {(row["name"], row["field"]): (row["old"], row["new"]) for row in data["fixable"]}
    assert fixable[("Local", "mobile_phone")] == ("040 123 4567", "+358 40 123 4567")
    assert fixable[("Work", "work_phone")] == ("09 123 4567", "+358 9 123 4567")
    invalid = {row["name"]: row["problem"] for row in data["invalid"]}
    assert "Short" in invalid and "Too short" in invalid["Short"]
    assert "Fine" not in fixable and "Theirs" not in {n for n, _f in fixable}
    # Nothing changed by a preview.
    assert Contact.objects.get(pk=contacts["local"].pk).mobile_phone == "040 123 4567"
    # Another default country reads the Swedish number.
    se = api.post(URL + "preview/", {"country": "se"}, format="json").json()
    assert {r["name"]: r["new"] for r in se["fixable"]}["Swede"] == "+46 70 123 45 67"


def test_apply_changes_only_confirmed_numbers_and_undo_puts_them_back(api, contacts, user):
    local, work = contacts["local"], contacts["work"]
    body = {"country": "FI", "fixes": [{"contact": local.pk, "field": "mobile_phone"}]}
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    fix = PhoneFix.objects.get(pk=response.json()["id"])
    local.refresh_from_db()
    work.refresh_from_db()
    assert local.mobile_phone == "+358 40 123 4567"
    assert local.mobile_phone_e164 == "+358401234567" and local.mobile_phone_problem == ""
    assert work.work_phone == "09 123 4567"  # not confirmed: unchanged
    entry = ContactChange.objects.get(contact=local)
    assert (entry.old_value, entry.new_value, entry.phone_fix) == (
        "040 123 4567",
        "+358 40 123 4567",
        fix,
    )
    assert entry.created_by == user

    undone = api.post(f"{URL}{fix.pk}/undo/", format="json")
    assert undone.status_code == 200 and undone.json() == {"restored": 1, "kept": 0}
    local.refresh_from_db()
    assert local.mobile_phone == "040 123 4567"
    assert local.mobile_phone_problem == "missing_country_code"
    assert ContactChange.objects.filter(contact=local).count() == 2
    assert api.post(f"{URL}{fix.pk}/undo/", format="json").status_code == 400


def test_undo_keeps_a_number_changed_since(api, contacts):
    local = contacts["local"]
    body = {"fixes": [{"contact": local.pk, "field": "mobile_phone"}]}
    fix_id = api.post(URL, body, format="json").json()["id"]
    Contact.objects.filter(pk=local.pk).update(mobile_phone="+358 50 000 0000")
    assert api.post(f"{URL}{fix_id}/undo/").json() == {"restored": 0, "kept": 1}
    local.refresh_from_db()
    assert local.mobile_phone == "+358 50 000 0000"


def test_apply_is_all_or_nothing(api, contacts):
    body = {
        "fixes": [
            {"contact": contacts["local"].pk, "field": "mobile_phone"},
            {"contact": contacts["short"].pk, "field": "mobile_phone"},  # stays invalid
        ]
    }
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert str(contacts["short"].pk) in str(response.json())
    assert Contact.objects.get(pk=contacts["local"].pk).mobile_phone == "040 123 4567"
    assert not PhoneFix.objects.exists() and not ContactChange.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"country": "XX", "fixes": [{"contact": 1, "field": "mobile_phone"}]},
        {"country": "Finland", "fixes": [{"contact": 1, "field": "mobile_phone"}]},
        {"country": 5, "fixes": [{"contact": 1, "field": "mobile_phone"}]},
        {"fixes": []},
        {"fixes": "all"},
        {"fixes": [{"contact": 1, "field": "email"}]},
        {"fixes": [{"contact": "x", "field": "mobile_phone"}]},
        {"fixes": [{"contact": 2**64, "field": "mobile_phone"}]},
        {"fixes": [{"contact": 999999, "field": "mobile_phone"}]},
        {},
    ],
)
def test_bad_input_is_400_and_changes_nothing(api, contacts, body):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()
    assert not PhoneFix.objects.exists()
    assert Contact.objects.get(pk=contacts["local"].pk).mobile_phone == "040 123 4567"


@pytest.mark.parametrize("country", ["XX", "", "F", 12, None])
def test_bad_country_on_preview_is_400(api, contacts, country):
    response = api.post(URL + "preview/", {"country": country}, format="json")
    assert response.status_code == 400, response.content


def test_another_organisations_contact_is_not_fixed(api, contacts):
    theirs = contacts["theirs"]
    body = {"fixes": [{"contact": theirs.pk, "field": "mobile_phone"}]}
    assert api.post(URL, body, format="json").status_code == 400
    theirs.refresh_from_db()
    assert theirs.mobile_phone == "040 999 8888"


def test_another_organisations_fix_cannot_be_undone(contacts, other_org, make_user):
    fix = PhoneFix.objects.create(organisation=contacts["theirs"].organisation, country="FI")
    client = APIClient()
    client.force_authenticate(make_user(contacts["local"].organisation))
    assert client.post(f"{URL}{fix.pk}/undo/").status_code == 404


def test_viewer_cannot_fix(make_user, org, contacts):
    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.VIEWER))
    body = {"fixes": [{"contact": contacts["local"].pk, "field": "mobile_phone"}]}
    assert client.post(URL, body, format="json").status_code == 403


def test_target_group_scope(api, org, contacts):
    group = TargetGroup.objects.create(
        organisation=org,
        name="Oulu",
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Oulu"}],
    )
    url = f"/api/v1/target-groups/{group.pk}/phone-fixes/"
    preview = api.post(url + "preview/", {}, format="json").json()
    assert [r["name"] for r in preview["fixable"]] == ["Work"]
    assert preview["invalid"] == []
    # A contact outside the group is not fixed through it.
    outside = {"fixes": [{"contact": contacts["local"].pk, "field": "mobile_phone"}]}
    assert api.post(url, outside, format="json").status_code == 400
    inside = {"fixes": [{"contact": contacts["work"].pk, "field": "work_phone"}]}
    assert api.post(url, inside, format="json").status_code == 201
    assert Contact.objects.get(pk=contacts["work"].pk).work_phone_problem == ""


def test_propose_explains_why():
    assert numberfix.propose("040 123 4567", country="FI") == ("+358 40 123 4567", "")
    new, why = numberfix.propose("040 1234 5678 9012 345", country="FI")
    assert not new and why


def test_pages_preview_apply_only_ticked_and_undo(browser, org, contacts):
    html = browser.get("/contacts/").content.decode()
    assert "/contacts/fix-numbers/" in html
    page = browser.get("/contacts/fix-numbers/")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<option value="FI" selected>' in html
    assert "+358 40 123 4567" in html and "Too short" in html
    local, work = contacts["local"], contacts["work"]
    response = browser.post(
        "/contacts/fix-numbers/?country=FI",
        {"country": "FI", "fix": [f"{local.pk}:mobile_phone"]},
    )
    assert response.status_code == 302
    fix = PhoneFix.objects.get()
    assert response["Location"] == f"/contacts/fix-numbers/{fix.pk}/"
    local.refresh_from_db()
    work.refresh_from_db()
    assert local.mobile_phone == "+358 40 123 4567" and work.work_phone == "09 123 4567"
    detail = browser.get(
        f"/contacts/contacts/{local.pk}/".replace("/contacts/contacts", "/contacts")
    )
    assert "040 123 4567" in detail.content.decode()  # the history keeps the old value
    assert browser.post(f"/contacts/fix-numbers/{fix.pk}/undo/").status_code == 302
    local.refresh_from_db()
    assert local.mobile_phone == "040 123 4567"


@pytest.mark.parametrize("value", ["x:mobile_phone", "1:email", "99999999999999999999:work_phone"])
def test_page_refuses_bad_ticks(browser, contacts, value):
    response = browser.post("/contacts/fix-numbers/", {"country": "FI", "fix": [value]})
    assert response.status_code == 302
    assert not PhoneFix.objects.exists()


def test_page_bad_country_is_said_not_500(browser, contacts):
    response = browser.get("/contacts/fix-numbers/?country=ZZ")
    assert response.status_code == 200
    assert "two-letter code" in response.content.decode()


def test_target_group_page_lists_only_members(browser, org, contacts):
    group = TargetGroup.objects.create(
        organisation=org,
        name="Oulu",
        conditions=[{"field": "contact.city", "operator": "equals", "value": "Oulu"}],
    )
    html = browser.get(f"/target-groups/{group.pk}/fix-numbers/").content.decode()
    assert "+358 9 123 4567" in html and "+358 40 123 4567" not in html
    assert (
        f"/target-groups/{group.pk}/fix-numbers/"
        in browser.get(f"/target-groups/{group.pk}/members/").content.decode()
    )

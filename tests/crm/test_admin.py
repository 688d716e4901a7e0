"""Organisation scoping in the CRM and target-group admins."""

import pytest
from django.test import Client

from crm.models import Account, Contact
from targetgroups.models import TargetGroup
from tests.conftest import grant, logged_in

VIEW_PERMISSIONS = [
    "crm.view_contact",
    "crm.view_account",
    "crm.view_membership",
    "targetgroups.view_targetgroup",
]


@pytest.fixture
def rows(org, other_org) -> dict:
    ours_account = Account.objects.create(organisation=org, name="Ours Oy")
    theirs_account = Account.objects.create(organisation=other_org, name="Theirs Oy")
    return {
        "account": (ours_account, theirs_account),
        "contact": (
            Contact.objects.create(organisation=org, last_name="Ourcontact"),
            Contact.objects.create(organisation=other_org, last_name="Theircontact"),
        ),
        "targetgroup": (
            TargetGroup.objects.create(organisation=org, name="Ourgroup"),
            TargetGroup.objects.create(organisation=other_org, name="Theirgroup"),
        ),
    }


@pytest.fixture
def staff(make_user, org) -> Client:
    return logged_in(grant(make_user(org, is_staff=True), *VIEW_PERMISSIONS))


def changelist(model: str) -> str:
    app = "targetgroups" if model == "targetgroup" else "crm"
    return f"/admin/{app}/{model}/"


@pytest.mark.parametrize("model", ["contact", "account", "targetgroup"])
def test_staff_see_only_their_own_organisations_rows(staff, rows, model):
    ours, theirs = rows[model]
    response = staff.get(changelist(model))
    assert response.status_code == 200
    html = response.content.decode()
    assert str(ours) in html
    assert str(theirs) not in html
    assert "Rival Oy" not in html  # not even in the organisation filter
    assert staff.get(f"{changelist(model)}{ours.pk}/change/").status_code == 200


@pytest.mark.parametrize("model", ["contact", "account", "targetgroup"])
def test_another_organisations_row_is_as_absent_as_a_missing_one(staff, rows, model):
    _ours, theirs = rows[model]
    theirs_page = staff.get(f"{changelist(model)}{theirs.pk}/change/")
    missing_page = staff.get(f"{changelist(model)}{theirs.pk + 1000}/change/")
    assert theirs_page.status_code == missing_page.status_code == 302
    assert theirs_page.url == missing_page.url == "/admin/"


def test_staff_see_only_their_own_organisations_members(staff, make_user, other_org):
    stranger = make_user(other_org)
    html = staff.get("/admin/crm/membership/").content.decode()
    assert "Acme Oy" in html and "Rival Oy" not in html and stranger.username not in html


def test_staff_without_an_organisation_see_nothing(make_user, rows):
    user = grant(make_user(None, is_staff=True), "crm.view_contact")
    html = logged_in(user).get("/admin/crm/contact/").content.decode()
    assert "Ourcontact" not in html and "Theircontact" not in html


def test_staff_may_not_move_a_contact_to_another_organisation(make_user, org, other_org, rows):
    client = logged_in(grant(make_user(org, is_staff=True), "crm.add_contact"))
    data = {
        "organisation": other_org.pk,
        "last_name": "Planted",
        "language": "fi",
        "legal_basis": "none",
    }
    response = client.post("/admin/crm/contact/add/", data)
    assert response.status_code == 200  # the form again, with an error
    assert "organisation" in response.context["adminform"].form.errors
    assert not Contact.objects.filter(last_name="Planted").exists()
    assert (
        client.post("/admin/crm/contact/add/", {**data, "organisation": org.pk}).status_code == 302
    )
    assert Contact.objects.get(last_name="Planted").organisation == org


@pytest.mark.parametrize("model", ["contact", "account", "targetgroup"])
def test_a_superuser_sees_every_organisation(superuser_client, rows, model):
    client = superuser_client
    html = client.get(changelist(model)).content.decode()
    ours, theirs = rows[model]
    assert str(ours) in html and str(theirs) in html
    assert client.get(f"{changelist(model)}{theirs.pk}/change/").status_code == 200

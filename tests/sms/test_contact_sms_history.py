"""A contact's SMS history with the basis each text was sent on, on the
contact's page and at ``GET /api/v1/contacts/{id}/sms-history/``."""

import pytest

from crm.models import Contact
from tests.factories import ContactFactory, SmsSettingsFactory, TargetGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def texted(api, org):
    SmsSettingsFactory(organisation=org, quota=10)
    contact = ContactFactory(organisation=org, first_name="Aino", legal_basis="business_role")
    group = TargetGroupFactory(organisation=org, name="Asiakkaat", included_contacts=[contact])
    response = api.post(
        f"/api/v1/target-groups/{group.pk}/sms/sendouts/",
        {"body": "Hei {{contact.first_name}}!"},
        format="json",
    )
    assert response.status_code == 202
    return contact


def test_the_api_lists_every_text_with_its_basis_and_purpose(api, texted):
    answer = api.get(f"/api/v1/contacts/{texted.pk}/sms-history/").json()
    assert answer["count"] == 1
    row = answer["results"][0]
    assert {k: row[k] for k in ("to", "body", "sender", "purpose", "legal_basis")} == {
        "to": texted.mobile_phone_e164,
        "body": "Hei Aino!",
        "sender": "operator",
        "purpose": "marketing",
        "legal_basis": "business_role",
    }
    assert row["target_group"] == "Asiakkaat" and row["status"] == "pending"


def test_the_basis_at_sending_stays_when_the_contact_changes(api, texted):
    Contact.objects.filter(pk=texted.pk).update(legal_basis="none")
    row = api.get(f"/api/v1/contacts/{texted.pk}/sms-history/").json()["results"][0]
    assert row["legal_basis"] == "business_role"


def test_another_organisations_contact_or_none_is_404(api, other_org, texted):
    theirs = ContactFactory(organisation=other_org)
    assert api.get(f"/api/v1/contacts/{theirs.pk}/sms-history/").status_code == 404
    assert api.get("/api/v1/contacts/999999/sms-history/").status_code == 404


def test_the_contact_page_shows_the_basis(browser, texted):
    html = browser.get(f"/contacts/{texted.pk}/").content.decode()
    assert "Person in a business role" in html and "Marketing" in html

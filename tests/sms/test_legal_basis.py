"""Each legal basis against each purpose: a marketing sendout skips contacts
without a basis that allows marketing (``no_legal_basis``, in the preview and in
the sendout); a service sendout reaches every basis but needs an administrator;
the sendout records its purpose, the basis of every message and the counts."""

import datetime

import pytest
from rest_framework.test import APIClient

from crm.legal import LegalBasis
from crm.models import Contact, Role
from sms.models import OutboundMessage, Sendout
from tests.factories import ContactFactory, SmsSettingsFactory, TargetGroupFactory

pytestmark = pytest.mark.django_db

BODY = "Hei {{contact.first_name}}!"

MARKETING_ALLOWED = {
    LegalBasis.CONSENT: True,
    LegalBasis.CUSTOMER_RELATIONSHIP: True,
    LegalBasis.BUSINESS_ROLE: True,
    LegalBasis.NONE: False,
}


@pytest.fixture
def by_basis(org):
    """One contact per legal basis, in one target group."""
    contacts = {
        basis: ContactFactory(
            organisation=org,
            first_name=basis.label,
            legal_basis=basis,
            **(
                {"consent_at": datetime.date(2026, 1, 5), "consent_source": "Verkkolomake"}
                if basis == LegalBasis.CONSENT
                else {}
            ),
        )
        for basis in LegalBasis
    }
    SmsSettingsFactory(organisation=org, quota=100)
    return TargetGroupFactory(organisation=org, included_contacts=list(contacts.values()))


@pytest.fixture
def admin_api(make_user, org) -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user(org, role=Role.ADMIN))
    return client


def preview(client, group, **data):
    return client.post(
        f"/api/v1/target-groups/{group.pk}/sms/preview/", {"body": BODY, **data}, format="json"
    )


@pytest.mark.parametrize(("basis", "allowed"), MARKETING_ALLOWED.items())
def test_marketing_reaches_a_basis_only_when_it_allows_marketing(api, org, basis, allowed):
    contact = ContactFactory(organisation=org, legal_basis=basis, consent_source="x")
    if basis == LegalBasis.CONSENT:
        contact.consent_at = datetime.date(2026, 1, 5)
        contact.save()
    SmsSettingsFactory(organisation=org, quota=10)
    group = TargetGroupFactory(organisation=org, included_contacts=[contact])
    answer = preview(api, group, purpose="marketing").json()
    assert answer["recipients"]["sendable"] == (1 if allowed else 0)
    assert answer["recipients"]["skipped"] == ({} if allowed else {"no_legal_basis": 1})


@pytest.mark.parametrize("basis", list(LegalBasis))
def test_service_reaches_every_basis(admin_api, org, basis):
    contact = ContactFactory(organisation=org, legal_basis=basis)
    SmsSettingsFactory(organisation=org, quota=10)
    group = TargetGroupFactory(organisation=org, included_contacts=[contact])
    answer = preview(admin_api, group, purpose="service").json()
    assert answer["recipients"]["sendable"] == 1, answer


def test_marketing_is_the_default_and_the_sendout_records_the_bases(api, by_basis):
    response = api.post(
        f"/api/v1/target-groups/{by_basis.pk}/sms/sendouts/", {"body": BODY}, format="json"
    )
    assert response.status_code == 202, response.json()
    sendout = Sendout.objects.get()
    assert sendout.purpose == "marketing"
    skipped = OutboundMessage.objects.get(reason="no_legal_basis")
    assert skipped.legal_basis == LegalBasis.NONE and skipped.messages == 0
    assert sendout.record == {
        "recipients": {"total": 4, "sendable": 3, "skipped": {"no_legal_basis": 1}},
        "messages": 3,
        "legal_basis": {"business_role": 1, "consent": 1, "customer_relationship": 1},
        "optout": "",  # the opt-out suffix is off in tests of other things
    }
    answer = response.json()
    assert answer["purpose"] == "marketing"
    assert answer["record"] == sendout.record


def test_an_admins_service_sendout_reaches_all_and_is_recorded_as_service(admin_api, by_basis):
    response = admin_api.post(
        f"/api/v1/target-groups/{by_basis.pk}/sms/sendouts/",
        {"body": BODY, "purpose": "service"},
        format="json",
    )
    assert response.status_code == 202, response.json()
    sendout = Sendout.objects.get()
    assert sendout.purpose == "service"
    assert sendout.record["legal_basis"]["none"] == 1
    assert not OutboundMessage.objects.filter(status="skipped").exists()


def test_a_member_may_not_send_service_messages_and_nothing_is_written(api, by_basis):
    for path in ("preview", "sendouts"):
        response = api.post(
            f"/api/v1/target-groups/{by_basis.pk}/sms/{path}/",
            {"body": BODY, "purpose": "service"},
            format="json",
        )
        assert response.status_code == 400
        assert "Only an administrator" in response.json()["purpose"][0]
    assert not Sendout.objects.exists()


@pytest.mark.parametrize("purpose", ["advert", "", None, 3])
def test_a_bad_purpose_is_400_and_writes_nothing(api, by_basis, purpose):
    for path in ("preview", "sendouts"):
        response = api.post(
            f"/api/v1/target-groups/{by_basis.pk}/sms/{path}/",
            {"body": BODY, "purpose": purpose},
            format="json",
        )
        assert response.status_code == 400
        assert list(response.json()) == ["purpose"]
    assert not Sendout.objects.exists()


def test_options_offer_service_only_to_an_administrator(api, admin_api, by_basis):
    url = f"/api/v1/target-groups/{by_basis.pk}/sms/options/"
    assert [p["value"] for p in api.get(url).json()["purposes"]] == ["marketing"]
    assert [p["value"] for p in admin_api.get(url).json()["purposes"]] == [
        "marketing",
        "service",
    ]
    reasons = [r["value"] for r in api.get(url).json()["skip_reasons"]]
    assert "no_legal_basis" in reasons


def test_the_skipped_list_names_the_contacts_without_a_basis(api, by_basis):
    answer = api.get(
        f"/api/v1/target-groups/{by_basis.pk}/sms/skipped/",
        {"body": BODY, "reason": "no_legal_basis"},
    ).json()
    assert [r["name"] for r in answer["results"]] == [f"{LegalBasis.NONE.label} Virtanen"]


# --- fixing the no_legal_basis skips from the preview -------------------------------------


def basis_url(group) -> str:
    return f"/api/v1/target-groups/{group.pk}/sms/legal-basis/"


@pytest.fixture
def without_basis(org):
    """A group of three without a basis (one of them opted out) and one customer."""
    SmsSettingsFactory(organisation=org, quota=100)
    people = {
        name: ContactFactory(organisation=org, first_name=name, legal_basis=basis, sms_opt_out=out)
        for name, basis, out in [
            ("Aino", "none", False),
            ("Eino", "none", False),
            ("Olli", "none", True),
            ("Asta", "customer_relationship", False),
        ]
    }
    return TargetGroupFactory(organisation=org, included_contacts=list(people.values())), people


def test_the_groups_contacts_without_a_basis_get_the_one_recorded(api, user, without_basis):
    group, _people = without_basis
    assert preview(api, group).json()["recipients"]["skipped"] == {
        "opted_out": 1,
        "no_legal_basis": 2,
    }
    response = api.post(basis_url(group), {"legal_basis": "business_role"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"updated": 2}
    got = {
        c.first_name: (c.legal_basis, c.legal_basis_changed_via, c.legal_basis_changed_by)
        for c in Contact.objects.all()
    }
    assert got == {
        "Aino": ("business_role", "bulk", user),
        "Eino": ("business_role", "bulk", user),
        "Olli": ("none", "", None),  # opted out: the preview skips it for that
        "Asta": ("customer_relationship", "", None),
    }
    assert preview(api, group).json()["recipients"]["skipped"] == {"opted_out": 1}


def test_the_chosen_contacts_only_and_consent_with_its_evidence(api, without_basis):
    group, people = without_basis
    response = api.post(
        basis_url(group),
        {
            "contacts": [people["Eino"].pk],
            "legal_basis": "consent",
            "consent_at": "2026-05-02",
            "consent_source": "Verkkolomake",
            "consent_evidence": "Tilaus 4411",
        },
        format="json",
    )
    assert response.json() == {"updated": 1}
    eino = Contact.objects.get(pk=people["Eino"].pk)
    assert (eino.legal_basis, eino.consent_at, eino.consent_evidence) == (
        "consent",
        datetime.date(2026, 5, 2),
        "Tilaus 4411",
    )
    assert Contact.objects.get(pk=people["Aino"].pk).legal_basis == "none"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"legal_basis": "consent", "consent_source": "Messut"}, "consent_at"),
        ({"legal_basis": "consent", "consent_at": "2026-01-01"}, "consent_source"),
        ({"legal_basis": "yes"}, "legal_basis"),
        ({}, "legal_basis"),
        ({"legal_basis": "business_role", "contacts": []}, "contacts"),
        ({"legal_basis": "business_role", "contacts": ["Aino"]}, "contacts"),
        ({"legal_basis": "business_role", "contacts": [2**64]}, "contacts"),
        ({"legal_basis": "business_role", "contacts": "Asta"}, "contacts"),
        ({"legal_basis": "business_role", "contacts": "Olli"}, "contacts"),
        ({"legal_basis": "business_role", "contacts": "other"}, "contacts"),
    ],
)
def test_bad_input_is_400_at_its_field_and_changes_nothing(
    api, org, other_org, without_basis, data, field
):
    group, people = without_basis
    stranger = ContactFactory(organisation=org, legal_basis="none")  # not a member
    named = {"Asta": [people["Asta"].pk], "Olli": [people["Olli"].pk], "other": [stranger.pk]}
    if isinstance(data.get("contacts"), str):
        data = {**data, "contacts": named[data["contacts"]]}
    response = api.post(basis_url(group), data, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field], response.json()
    assert not Contact.objects.exclude(legal_basis_changed_via="").exists()


def test_another_organisations_group_is_404_and_a_viewer_403(api, make_user, org, other_org):
    theirs = TargetGroupFactory(organisation=other_org)
    assert api.post(basis_url(theirs), {"legal_basis": "none"}, format="json").status_code == 404
    viewer = APIClient()
    viewer.force_authenticate(make_user(org, role=Role.VIEWER))
    mine = TargetGroupFactory(organisation=org)
    assert viewer.post(basis_url(mine), {"legal_basis": "none"}, format="json").status_code == 403

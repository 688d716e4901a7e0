"""A contact's legal basis for marketing texts: set through the API (one and in
bulk) and in admin; bad input answers 400 and saves nothing."""

import datetime

import pytest
from django.utils import timezone

from crm.legal import LegalBasis
from crm.models import Contact

URL = "/api/v1/contacts/"
TODAY = timezone.localdate()


@pytest.fixture
def valid():
    return {
        "first_name": "Päivi",
        "last_name": "Mäkelä",
        "mobile_phone": "+358 40 765 4321",
        "legal_basis": "consent",
        "consent_at": "2026-03-01",
        "consent_source": "Messuilla, lomake",
        "consent_evidence": "Lomake nro 17, arkistossa",
    }


@pytest.mark.django_db
def test_consent_with_its_evidence_is_saved_and_read_back(api, valid):
    response = api.post(URL, valid, format="json")
    assert response.status_code == 201, response.json()
    contact = Contact.objects.get()
    assert contact.legal_basis == LegalBasis.CONSENT
    assert contact.consent_at == datetime.date(2026, 3, 1)
    assert contact.consent_source == "Messuilla, lomake"
    assert api.get(f"{URL}{contact.pk}/").json()["consent_evidence"] == valid["consent_evidence"]


@pytest.mark.django_db
def test_a_contact_without_a_basis_has_none(api):
    response = api.post(URL, {"last_name": "Nieminen"}, format="json")
    assert response.status_code == 201
    assert response.json()["legal_basis"] == "none"


@pytest.mark.django_db
@pytest.mark.parametrize("basis", ["customer_relationship", "business_role", "none"])
def test_other_bases_need_no_consent_details(api, basis):
    response = api.post(URL, {"last_name": "Nieminen", "legal_basis": basis}, format="json")
    assert response.status_code == 201, response.json()
    assert Contact.objects.get().legal_basis == basis


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"legal_basis": "maybe"}, "legal_basis", '"maybe" is not a valid choice.'),
        ({"legal_basis": ""}, "legal_basis", '"" is not a valid choice.'),
        ({"consent_at": None}, "consent_at", "Consent needs the date it was given."),
        ({"consent_at": "1.3.2026"}, "consent_at", "Date has wrong format."),
        (
            {"consent_at": str(TODAY + datetime.timedelta(days=1))},
            "consent_at",
            "The date of consent cannot be in the future.",
        ),
        ({"consent_source": " "}, "consent_source", "Consent needs its source"),
        ({"consent_source": "x" * 201}, "consent_source", "no more than 200 characters"),
        ({"consent_evidence": "x" * 2001}, "consent_evidence", "no more than 2000 characters"),
    ],
)
def test_bad_basis_input_is_400_and_saves_nothing(api, valid, change, field, message):
    response = api.post(URL, {**valid, **change}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field], errors
    assert any(message in m for m in errors[field]), errors
    assert Contact.objects.count() == 0


@pytest.mark.django_db
def test_patching_to_consent_without_details_is_400_and_changes_nothing(api, org):
    contact = Contact.objects.create(organisation=org, last_name="Nieminen")
    response = api.patch(f"{URL}{contact.pk}/", {"legal_basis": "consent"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"consent_at", "consent_source"}
    contact.refresh_from_db()
    assert contact.legal_basis == LegalBasis.NONE


@pytest.mark.django_db
def test_bulk_create_takes_the_basis_and_refuses_a_bad_row_whole(api, valid):
    rows = [valid, {"last_name": "Yritys", "legal_basis": "business_role"}]
    response = api.post(f"{URL}bulk/", rows, format="json")
    assert response.status_code == 201, response.json()
    assert sorted(Contact.objects.values_list("legal_basis", flat=True)) == [
        "business_role",
        "consent",
    ]
    bad = [valid, {"last_name": "Kuluttaja", "legal_basis": "consent"}]
    response = api.post(f"{URL}bulk/", bad, format="json")
    assert response.status_code == 400
    assert response.json()["rows"][0]["index"] == 1
    assert set(response.json()["rows"][0]["errors"]) == {"consent_at", "consent_source"}
    assert Contact.objects.count() == 2


@pytest.mark.django_db
def test_the_admin_refuses_consent_without_its_date_and_source(admin_client, org):
    data = {"organisation": org.pk, "last_name": "Admin", "legal_basis": "consent"}
    response = admin_client.post("/admin/crm/contact/add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"consent_at", "consent_source"}
    assert not Contact.objects.exists()
    data |= {"consent_at": "2026-02-01", "consent_source": "Puhelu"}
    assert admin_client.post("/admin/crm/contact/add/", data).status_code == 302
    assert Contact.objects.get().legal_basis == LegalBasis.CONSENT


@pytest.mark.django_db
def test_the_contact_page_shows_and_sets_the_basis(browser, org, user):
    contact = Contact.objects.create(organisation=org, last_name="Sivu")
    url = f"/contacts/{contact.pk}/"
    assert "No basis recorded" in browser.get(url).content.decode()
    bad = browser.post(f"{url}legal-basis/", {"legal_basis": "consent"})
    assert bad.status_code == 400
    assert "Consent needs the date it was given." in bad.content.decode()
    contact.refresh_from_db()
    assert contact.legal_basis == LegalBasis.NONE
    good = browser.post(
        f"{url}legal-basis/",
        {"legal_basis": "consent", "consent_at": "2026-02-01", "consent_source": "Puhelu"},
    )
    assert good.status_code == 302
    contact.refresh_from_db()
    assert (contact.legal_basis, contact.consent_source) == (LegalBasis.CONSENT, "Puhelu")
    assert (contact.legal_basis_changed_via, contact.legal_basis_changed_by) == ("user", user)
    assert "Puhelu" in browser.get(url).content.decode()


@pytest.mark.django_db
def test_a_viewer_may_not_set_the_basis(make_user, org):
    from tests.conftest import logged_in

    contact = Contact.objects.create(organisation=org, last_name="Sivu")
    viewer = logged_in(make_user(org, role="viewer"))
    response = viewer.post(f"/contacts/{contact.pk}/legal-basis/", {"legal_basis": "none"})
    assert response.status_code == 403


# --- who set it, when and where --------------------------------------------------------


@pytest.mark.django_db
def test_a_change_of_the_basis_is_stamped_and_other_changes_are_not(api, user, valid):
    contact_id = api.post(URL, valid, format="json").json()["id"]
    contact = Contact.objects.get(pk=contact_id)
    assert (contact.legal_basis_changed_by, contact.legal_basis_changed_via) == (user, "api")
    stamped = contact.legal_basis_changed_at
    assert stamped is not None
    api.patch(f"{URL}{contact_id}/", {"city": "Oulu"}, format="json")
    contact.refresh_from_db()
    assert contact.legal_basis_changed_at == stamped
    answer = api.patch(f"{URL}{contact_id}/", {"legal_basis": "business_role"}, format="json")
    assert answer.json()["legal_basis_changed_via"] == "api"
    contact.refresh_from_db()
    assert contact.legal_basis_changed_at > stamped


@pytest.mark.django_db
def test_a_contact_created_without_a_basis_has_no_stamp(api):
    api.post(URL, {"last_name": "Nieminen"}, format="json")
    contact = Contact.objects.get()
    assert (contact.legal_basis_changed_at, contact.legal_basis_changed_via) == (None, "")


@pytest.mark.django_db
def test_the_stamp_cannot_be_written_through_the_api(api, org):
    contact = Contact.objects.create(organisation=org, last_name="Sivu")
    api.patch(
        f"{URL}{contact.pk}/",
        {"legal_basis_changed_via": "import", "legal_basis_changed_at": "2020-01-01T00:00:00Z"},
        format="json",
    )
    contact.refresh_from_db()
    assert (contact.legal_basis_changed_at, contact.legal_basis_changed_via) == (None, "")


# --- many contacts at once: POST /api/v1/contacts/legal-basis/ ---------------------------

BULK = f"{URL}legal-basis/"


@pytest.mark.django_db
def test_one_basis_for_many_contacts_is_recorded_with_who_when_and_bulk(api, org, user, other_org):
    mine = [Contact.objects.create(organisation=org, last_name=f"N{i}") for i in range(3)]
    theirs = Contact.objects.create(organisation=other_org, last_name="Muu")
    response = api.post(
        BULK,
        {
            "contacts": [mine[0].pk, mine[1].pk, mine[1].pk],
            "legal_basis": "consent",
            "consent_at": "2026-04-01",
            "consent_source": "Messut 2026",
            "consent_evidence": "Lomakkeet arkistossa",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"updated": 2}
    got = {
        c.pk: (c.legal_basis, c.consent_source, c.legal_basis_changed_by, c.legal_basis_changed_via)
        for c in Contact.objects.filter(organisation=org)
    }
    assert got == {
        mine[0].pk: ("consent", "Messut 2026", user, "bulk"),
        mine[1].pk: ("consent", "Messut 2026", user, "bulk"),
        mine[2].pk: ("none", "", None, ""),
    }
    assert Contact.objects.get(pk=mine[0].pk).legal_basis_changed_at is not None
    theirs.refresh_from_db()
    assert theirs.legal_basis == "none"


@pytest.mark.django_db
def test_a_basis_without_consent_drops_the_consent_details(api, org):
    contact = Contact.objects.create(
        organisation=org,
        last_name="N",
        legal_basis="consent",
        consent_at=datetime.date(2026, 1, 1),
        consent_source="Vanha",
    )
    response = api.post(
        BULK,
        {"contacts": [contact.pk], "legal_basis": "business_role", "consent_source": "x"},
        format="json",
    )
    assert response.status_code == 200
    contact.refresh_from_db()
    assert (contact.legal_basis, contact.consent_at, contact.consent_source) == (
        "business_role",
        None,
        "",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contacts": None}, "contacts"),
        ({"contacts": []}, "contacts"),
        ({"contacts": "1"}, "contacts"),
        ({"contacts": ["x"]}, "contacts"),
        ({"contacts": [0]}, "contacts"),
        ({"contacts": [2**63]}, "contacts"),
        ({"contacts": [999_999]}, "contacts"),
        ({"contacts": list(range(1, 5002))}, "contacts"),
        ({"legal_basis": "maybe"}, "legal_basis"),
        ({"legal_basis": None}, "legal_basis"),
        ({"consent_at": None}, "consent_at"),
        ({"consent_at": "1.4.2026"}, "consent_at"),
        ({"consent_at": (TODAY + datetime.timedelta(days=1)).isoformat()}, "consent_at"),
        ({"consent_source": ""}, "consent_source"),
        ({"consent_source": "x" * 201}, "consent_source"),
        ({"consent_evidence": "x" * 2001}, "consent_evidence"),
    ],
)
def test_bad_bulk_basis_input_is_400_at_its_field_and_changes_nothing(api, org, change, field):
    contact = Contact.objects.create(organisation=org, last_name="N")
    data = {
        "contacts": [contact.pk],
        "legal_basis": "consent",
        "consent_at": "2026-04-01",
        "consent_source": "Messut",
    }
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None or field != k or k == "consent_at"}
    response = api.post(BULK, data, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    contact.refresh_from_db()
    assert (contact.legal_basis, contact.legal_basis_changed_at) == ("none", None)


@pytest.mark.django_db
def test_another_organisations_contact_is_a_400_in_bulk(api, org, other_org):
    theirs = Contact.objects.create(organisation=other_org, last_name="Muu")
    response = api.post(
        BULK, {"contacts": [theirs.pk], "legal_basis": "business_role"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"contacts": [f"No contact with the id {theirs.pk}."]}
    theirs.refresh_from_db()
    assert theirs.legal_basis == "none"


@pytest.mark.django_db
def test_a_viewer_may_not_set_a_basis_in_bulk(make_user, org):
    from rest_framework.test import APIClient

    contact = Contact.objects.create(organisation=org, last_name="N")
    client = APIClient()
    client.force_authenticate(make_user(org, role="viewer"))
    response = client.post(
        BULK, {"contacts": [contact.pk], "legal_basis": "business_role"}, format="json"
    )
    assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.legal_basis == "none"


@pytest.mark.django_db
def test_the_admin_stamps_a_change_of_the_basis(superuser_client, org):
    contact = Contact.objects.create(organisation=org, last_name="Admin")
    url = f"/admin/crm/contact/{contact.pk}/change/"
    page = superuser_client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "organisation": org.pk,
            "legal_basis": "business_role",
            "language": contact.language,
            "account": "",
        }
    )
    response = superuser_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    contact.refresh_from_db()
    assert (contact.legal_basis, contact.legal_basis_changed_via) == ("business_role", "admin")

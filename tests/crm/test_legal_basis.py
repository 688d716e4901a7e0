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
def test_the_contact_page_shows_and_sets_the_basis(browser, org):
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
    assert "Puhelu" in browser.get(url).content.decode()


@pytest.mark.django_db
def test_a_viewer_may_not_set_the_basis(make_user, org):
    from tests.conftest import logged_in

    contact = Contact.objects.create(organisation=org, last_name="Sivu")
    viewer = logged_in(make_user(org, role="viewer"))
    response = viewer.post(f"/contacts/{contact.pk}/legal-basis/", {"legal_basis": "none"})
    assert response.status_code == 403

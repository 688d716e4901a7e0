import pytest

from crm.models import Account, Contact, OptOutSource

URL = "/api/v1/contacts/"


@pytest.fixture
def valid(account):
    return {
        "first_name": "Päivi",
        "last_name": "Mäkelä",
        "title": "Myyntipäällikkö",
        "email": "paivi.makela@example.fi",
        "mobile_phone": "+358 40 765 4321",
        "work_phone": "",
        "city": "Jyväskylä",
        "language": "fi",
        "account": account.pk,
        "sms_opt_out": False,
    }


def test_create_then_read_back(api, org, valid):
    response = api.post(URL, valid, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in valid} == valid
    contact = Contact.objects.get(pk=body["id"])
    assert contact.organisation == org
    assert contact.sms_opt_out_at is None
    assert api.get(f"{URL}{contact.pk}/").json() == body


def test_account_may_be_null(api, valid):
    response = api.post(URL, {**valid, "account": None}, format="json")
    assert response.status_code == 201
    assert response.json()["account"] is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "paivi@", "Enter a valid email address."),
        ("mobile_phone", "040-ABC", "Enter a phone number"),
        ("mobile_phone", "+" + "1" * 40, "no more than 32 characters"),
        ("work_phone", "+358 <script>", "Enter a phone number"),
        ("language", "xx", '"xx" is not a valid choice.'),
        ("account", 999999, "No account with this id."),
        ("account", "abc", "A valid integer is required."),
        ("sms_opt_out", "maybe", "Must be a valid boolean."),
        ("first_name", "x" * 101, "no more than 100 characters"),
    ],
)
def test_each_bad_field_is_400_and_saves_nothing(api, valid, field, value, message):
    response = api.post(URL, {**valid, field: value}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert any(message in m for m in errors[field]), errors
    assert Contact.objects.count() == 0


def test_a_contact_needs_a_name(api, valid):
    response = api.post(URL, {**valid, "first_name": "", "last_name": " "}, format="json")
    assert response.status_code == 400
    assert response.json() == {"last_name": ["Enter a first name or a last name."]}
    assert Contact.objects.count() == 0


def test_another_organisations_account_is_refused_without_saying_it_exists(api, valid, other_org):
    theirs = Account.objects.create(organisation=other_org, name="Theirs Oy")
    response = api.post(URL, {**valid, "account": theirs.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"account": ["No account with this id."]}


def test_opt_out_records_when_and_how(api, contact):
    response = api.patch(f"{URL}{contact.pk}/", {"sms_opt_out": True}, format="json")
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.sms_opt_out is True
    assert contact.sms_opt_out_at is not None
    assert contact.sms_opt_out_source == OptOutSource.API
    first_change = contact.sms_opt_out_at
    # Saying the same again is not a change: the date stays.
    api.patch(f"{URL}{contact.pk}/", {"sms_opt_out": True}, format="json")
    contact.refresh_from_db()
    assert contact.sms_opt_out_at == first_change


def test_patch_keeps_other_fields(api, contact):
    response = api.patch(f"{URL}{contact.pk}/", {"title": "CEO"}, format="json")
    assert response.status_code == 200
    contact.refresh_from_db()
    assert (contact.title, contact.first_name, contact.mobile_phone) == (
        "CEO",
        "Matti",
        "+358 40 123 4567",
    )


def test_patch_may_not_blank_both_names(api, contact):
    response = api.patch(f"{URL}{contact.pk}/", {"first_name": "", "last_name": ""}, format="json")
    assert response.status_code == 400
    contact.refresh_from_db()
    assert contact.first_name == "Matti"


def test_search_matches_every_word(api, org, contact):
    Contact.objects.create(organisation=org, first_name="Matti", last_name="Nieminen", city="Oulu")
    names = [c["last_name"] for c in api.get(URL, {"search": "matti helsinki"}).json()["results"]]
    assert names == ["Virtanen"]


def test_delete(api, contact):
    assert api.delete(f"{URL}{contact.pk}/").status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_another_organisations_contact_is_404(api, other_org):
    theirs = Contact.objects.create(organisation=other_org, last_name="Salo")
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(f"{URL}{theirs.pk}/", {"title": "X"}, format="json")
        assert response.status_code == 404, method
    assert Contact.objects.filter(pk=theirs.pk, title="").exists()
    assert api.get(URL).json()["count"] == 0

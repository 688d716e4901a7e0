"""The sender ID gate (Traficom's register): a sender name that is not
authorised is not offered, previewed or sent to Finnish numbers, and the modal's
options say why; other countries' numbers may still get it."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from sms.models import SenderName, Sendout
from tests.factories import ContactFactory, SmsSettingsFactory, TargetGroupFactory

pytestmark = pytest.mark.django_db

BODY = "Hei {{contact.first_name}}!"


def group_of(org, *numbers):
    contacts = [ContactFactory(organisation=org, mobile_phone=n) for n in numbers]
    return TargetGroupFactory(organisation=org, included_contacts=contacts)


@pytest.fixture
def sms(org):
    return SmsSettingsFactory(
        organisation=org,
        named_senders_enabled=True,
        approved=["Valmis"],
        pending=["Odottaa"],
        quota=50,
    )


def url(group, path):
    return f"/api/v1/target-groups/{group.pk}/sms/{path}/"


def test_options_offer_only_authorised_names_for_finnish_numbers_and_say_why(api, org, sms):
    group = group_of(org, "+358 40 100 0001")
    options = api.get(url(group, "options")).json()
    assert [s["value"] for s in options["senders"]] == ["operator", "Valmis"]
    assert [s["value"] for s in options["senders_unavailable"]] == ["Odottaa"]
    assert (
        "not authorised in Traficom's sender ID register"
        in (options["senders_unavailable"][0]["reason"])
    )


def test_options_offer_every_approved_name_without_finnish_numbers(api, org, sms):
    group = group_of(org, "+46 70 123 4567")
    options = api.get(url(group, "options")).json()
    assert [s["value"] for s in options["senders"]] == ["operator", "Odottaa", "Valmis"]
    assert options["senders_unavailable"] == []


def test_a_pending_name_to_finnish_numbers_is_refused_in_preview_and_send(api, org, sms):
    group = group_of(org, "+358 40 100 0001", "+46 70 123 4567")
    for path in ("preview", "sendouts"):
        response = api.post(url(group, path), {"body": BODY, "sender": "Odottaa"}, format="json")
        assert response.status_code == 400, response.json()
        message = response.json()["sender"][0]
        assert "“Odottaa” is not authorised" in message
        assert "1 recipients have Finnish numbers" in message
    assert not Sendout.objects.exists()


def test_an_authorised_name_and_the_operator_pass_the_gate(api, org, sms):
    group = group_of(org, "+358 40 100 0001")
    for sender in ("Valmis", "operator"):
        response = api.post(url(group, "preview"), {"body": BODY, "sender": sender}, format="json")
        assert response.status_code == 200, response.json()
    response = api.post(url(group, "sendouts"), {"body": BODY, "sender": "Valmis"}, format="json")
    assert response.status_code == 202
    assert Sendout.objects.get().sender == "Valmis"


def test_a_pending_name_may_text_other_countries(api, org, sms):
    group = group_of(org, "+46 70 123 4567")
    response = api.post(url(group, "sendouts"), {"body": BODY, "sender": "Odottaa"}, format="json")
    assert response.status_code == 202, response.json()


def test_an_authorised_name_needs_its_date_and_reference(org):
    name = SenderName(organisation=org, name="Uusi", authorisation="authorised")
    with pytest.raises(ValidationError) as caught:
        name.full_clean()
    assert set(caught.value.message_dict) == {"authorised_on", "authorisation_reference"}
    name.authorised_on = datetime.date(2026, 4, 1)
    name.authorisation_reference = "TRAFICOM/1"
    name.full_clean()


def test_the_admin_refuses_a_bad_name_or_status_and_saves_nothing(admin_client, org):
    prefix = "sms_sender_names"
    base = {
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-0-approved": "on",
        f"{prefix}-0-authorisation": "pending",
    }
    page = admin_client.get(f"/admin/crm/organisation/{org.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if isinstance(v, str | int) and v is not None}
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for field in management:
            data[field.html_name] = field.value()
        for sub in formset.formset.forms:
            for field in sub:
                value = field.value()
                if value is not None:
                    data[field.html_name] = value
    for bad in ({f"{prefix}-0-name": "Äänekoski"}, {f"{prefix}-0-authorisation": "maybe"}):
        response = admin_client.post(
            f"/admin/crm/organisation/{org.pk}/change/",
            {**data, **base, f"{prefix}-0-name": "Hyva", **bad},
        )
        assert response.status_code == 200
        assert not SenderName.objects.exists()
    response = admin_client.post(
        f"/admin/crm/organisation/{org.pk}/change/", {**data, **base, f"{prefix}-0-name": "Hyva"}
    )
    assert response.status_code == 302
    assert SenderName.objects.get().authorisation == "pending"

"""Message templates: ``/api/v1/sms/templates/`` (create, list, read, change, delete),
every field's bad input, and the last message of a group in the modal's options."""

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from crm.models import Role
from sms.models import MessageTemplate
from tests.factories import ContactFactory, SmsSettingsFactory, TargetGroupFactory, create_sendout

pytestmark = pytest.mark.django_db

URL = "/api/v1/sms/templates/"
GOOD = {
    "name": "Spring offer",
    "body": "Hei {{contact.first_name|friend}}, spring offer today!",
    "sender": "Acme",
    "phone_field": "work_phone",
    "purpose": "service",
}


@pytest.fixture
def sms(org):
    return SmsSettingsFactory(organisation=org, named_senders_enabled=True, approved=["Acme"])


def rows() -> list[dict[str, Any]]:
    return list(MessageTemplate.objects.order_by("pk").values())


def detail(template_id: int) -> str:
    return f"{URL}{template_id}/"


def test_create_read_list_change_delete(api, user, sms):
    created = api.post(URL, GOOD, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert {k: body[k] for k in GOOD} == GOOD
    assert body["created_by"] == user.username
    template = MessageTemplate.objects.get()
    assert (template.organisation_id, template.created_by_id) == (sms.organisation_id, user.pk)

    assert api.get(detail(body["id"])).json()["body"] == GOOD["body"]
    listed = api.get(URL).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]

    changed = api.patch(detail(body["id"]), {"name": "Autumn offer"}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["name"] == "Autumn offer"
    assert changed.json()["body"] == GOOD["body"]  # the rest as it was

    assert api.delete(detail(body["id"])).status_code == 204
    assert not MessageTemplate.objects.exists()


def test_defaults_are_the_modals(api, sms):
    response = api.post(URL, {"name": "Short", "body": "Hei!"}, format="json")
    assert response.status_code == 201, response.json()
    assert {k: response.json()[k] for k in ("sender", "phone_field", "purpose")} == {
        "sender": "operator",
        "phone_field": "mobile_phone",
        "purpose": "marketing",
    }


def test_list_is_by_name_and_only_the_organisations(api, sms, org, other_org, make_user):
    for name in ("beta", "Alpha", "gamma"):
        assert api.post(URL, {"name": name, "body": "Hei"}, format="json").status_code == 201
    theirs = APIClient()
    theirs.force_authenticate(make_user(other_org))
    assert theirs.post(URL, {"name": "Theirs", "body": "Hei"}, format="json").status_code == 201
    assert [t["name"] for t in api.get(URL).json()["results"]] == ["Alpha", "beta", "gamma"]
    assert [t["name"] for t in theirs.get(URL).json()["results"]] == ["Theirs"]


def test_name_is_stripped_and_its_spaces_folded(api, sms):
    response = api.post(URL, {"name": "  Spring \n  offer ", "body": "Hei"}, format="json")
    assert response.json()["name"] == "Spring offer"


# --- bad input: 400 at the field, nothing written -------------------------------------

BAD = [
    ({"name": ""}, "name", None),
    ({"name": "   "}, "name", None),
    ({"name": "x" * 101}, "name", "at most 100 characters"),
    ({"name": "x" * 201}, "name", None),
    ({"name": None}, "name", None),
    ({"body": ""}, "body", None),
    ({"body": "   \n "}, "body", "Write a message."),
    ({"body": "x" * 481}, "body", "at most 480 characters"),
    ({"body": "x" * 10_001}, "body", None),
    ({"body": "Hei {{contact.password}}"}, "body", "Unknown tag"),
    ({"body": "Hei {{contact.first_name"}, "body", None),
    ({"body": ["Hei"]}, "body", None),
    ({"sender": "Unknown"}, "sender", "not an approved sender name"),
    ({"sender": ""}, "sender", None),
    ({"sender": "x" * 101}, "sender", None),
    ({"phone_field": "fax"}, "phone_field", "Choose a phone field"),
    ({"phone_field": "account.phone"}, "phone_field", None),
    ({"purpose": "spam"}, "purpose", None),
    ({"purpose": "test"}, "purpose", None),
    ({"purpose": ""}, "purpose", None),
]


@pytest.mark.parametrize(("change", "field", "says"), BAD, ids=[repr(b[0])[:40] for b in BAD])
def test_bad_input_is_400_at_the_field_and_writes_nothing(api, sms, change, field, says):
    before = rows()
    response = api.post(URL, {**GOOD, **change}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    if says:
        assert says in " ".join(response.json()[field])
    assert rows() == before

    # The same on a change of a saved template.
    saved = MessageTemplate.objects.create(organisation=sms.organisation, name="Saved", body="Hei")
    before = rows()
    response = api.patch(detail(saved.pk), change, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert rows() == before


def test_a_name_taken_in_any_case_is_400(api, sms):
    assert api.post(URL, GOOD, format="json").status_code == 201
    before = rows()
    response = api.post(URL, {**GOOD, "name": "SPRING  offer"}, format="json")
    assert response.status_code == 400
    assert "exists already" in response.json()["name"][0]
    other = api.post(URL, {**GOOD, "name": "Other"}, format="json").json()
    assert (
        api.patch(detail(other["id"]), {"name": "spring offer"}, format="json").status_code == 400
    )
    assert rows()[0] == before[0]
    # Another organisation may use the name.
    assert MessageTemplate.objects.filter(name="Other").count() == 1


def test_named_sender_when_named_senders_are_off_is_400(api, org):
    SmsSettingsFactory(organisation=org, named_senders_enabled=False, approved=["Acme"])
    response = api.post(URL, GOOD, format="json")
    assert response.status_code == 400
    assert "Named senders are not active" in response.json()["sender"][0]
    assert not MessageTemplate.objects.exists()


def test_a_withdrawn_sender_does_not_stop_a_rename(api, sms):
    template = api.post(URL, GOOD, format="json").json()
    sms.named_senders_enabled = False
    sms.save()
    response = api.patch(detail(template["id"]), {"name": "Renamed"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["sender"] == "Acme"
    # ...but choosing it again does.
    response = api.patch(detail(template["id"]), {"sender": "Acme"}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("bad", ["Hei\x00", "x\ud800"])
def test_nul_and_lone_surrogates_are_400(api, sms, bad):
    body = json.dumps({"name": bad, "body": "Hei"})  # escaped: \u0000, \ud800
    response = api.post(URL, body, content_type="application/json")
    assert response.status_code == 400
    assert not MessageTemplate.objects.exists()


# --- who may ---------------------------------------------------------------------------


def test_viewer_reads_but_may_not_write(api, sms, org, make_user):
    template = api.post(URL, GOOD, format="json").json()
    viewer = APIClient()
    viewer.force_authenticate(make_user(org, role=Role.VIEWER))
    assert viewer.get(URL).json()["count"] == 1
    before = rows()
    assert viewer.post(URL, {**GOOD, "name": "Mine"}, format="json").status_code == 403
    assert viewer.patch(detail(template["id"]), {"name": "X"}, format="json").status_code == 403
    assert viewer.delete(detail(template["id"])).status_code == 403
    assert rows() == before


def test_a_colleague_may_change_and_delete_a_template(api, sms, org, make_user):
    template = api.post(URL, GOOD, format="json").json()
    colleague = APIClient()
    colleague.force_authenticate(make_user(org))
    assert (
        colleague.patch(detail(template["id"]), {"body": "Moi"}, format="json").status_code == 200
    )
    assert colleague.delete(detail(template["id"])).status_code == 204


def test_another_organisations_template_is_404(api, sms, other_org):
    theirs = MessageTemplate.objects.create(organisation=other_org, name="Theirs", body="Hei")
    before = rows()
    for method in ("get", "patch", "delete"):
        assert getattr(api, method)(detail(theirs.pk), {}, format="json").status_code == 404
    assert rows() == before


def test_anonymous_gets_nothing(sms):
    assert APIClient().get(URL).status_code in (401, 403)


# --- the last message of a group, in the options ------------------------------------------


def test_options_offer_the_groups_last_message(api, user, org, group):
    SmsSettingsFactory(organisation=org, quota=100)
    url = f"/api/v1/target-groups/{group.pk}/sms/options/"
    assert api.get(url).json()["last_message"] is None
    create_sendout(target_group=group, created_by=user, body="First {{contact.first_name}}")
    group.included_contacts.add(
        ContactFactory(organisation=org, work_phone="+358 50 765 4321", mobile_phone="")
    )
    create_sendout(target_group=group, created_by=user, body="Second", phone_field="work_phone")
    # Another group's later sendout is not this group's last message.
    other = TargetGroupFactory(
        organisation=org, included_contacts=list(group.included_contacts.all())
    )
    create_sendout(target_group=other, created_by=user, body="Other group")
    last = api.get(url).json()["last_message"]
    assert (last["body"], last["sender"], last["phone_field"]) == (
        "Second",
        "operator",
        "work_phone",
    )
    assert last["created_at"]

"""Hostile and careless conditions (#14): far-future dates, huge numbers, NUL bytes and
lone surrogates are refused with a 400 naming the condition, nothing is saved, and a
condition already stored bad never breaks a list or a page: the group shows as
needing attention."""

import json

import pytest

from crm.models import Contact
from targetgroups import selectors
from targetgroups.fields import MAX_DATE, MIN_DATE, Operator
from targetgroups.models import TargetGroup

URL = "/api/v1/target-groups/"
DATE_OPERATORS = [
    str(op)
    for op in (
        Operator.EQUALS,
        Operator.NOT_EQUALS,
        Operator.BEFORE,
        Operator.AFTER,
        Operator.GT,
        Operator.GTE,
        Operator.LT,
        Operator.LTE,
    )
]
OUT_OF_RANGE_DATES = ["9999-12-31", "0001-01-01", "0999-12-31", "9999-01-01"]


def created(field: str, operator: str, value) -> list[dict]:
    return [{"field": field, "operator": operator, "value": value}]


def assert_names_condition_value(response, index: int = 0) -> str:
    assert response.status_code == 400, response.content
    errors = response.json()["conditions"]
    assert errors[0]["index"] == index
    message = errors[0]["errors"]["value"][0]
    assert message
    return message


@pytest.mark.django_db
@pytest.mark.parametrize("operator", DATE_OPERATORS)
@pytest.mark.parametrize("value", OUT_OF_RANGE_DATES)
def test_out_of_range_date_is_400_on_create_and_saves_nothing(api, operator, value) -> None:
    response = api.post(
        URL,
        {"name": "x", "conditions": created("contact.created_at", operator, value)},
        format="json",
    )
    message = assert_names_condition_value(response)
    assert str(MIN_DATE) in message and str(MAX_DATE) in message
    assert not TargetGroup.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("operator", DATE_OPERATORS)
@pytest.mark.parametrize("value", OUT_OF_RANGE_DATES)
def test_out_of_range_date_is_400_on_count(api, operator, value) -> None:
    response = api.post(
        URL + "count/",
        {"conditions": created("contact.created_at", operator, value)},
        format="json",
    )
    assert_names_condition_value(response)


@pytest.mark.django_db
@pytest.mark.parametrize("operator", DATE_OPERATORS)
def test_dates_at_the_limits_are_counted(api, org, operator) -> None:
    Contact.objects.create(organisation=org, last_name="A")
    for day in (MIN_DATE, MAX_DATE):
        response = api.post(
            URL + "count/",
            {"conditions": created("contact.created_at", operator, str(day))},
            format="json",
        )
        assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_out_of_range_date_is_400_on_patch_and_changes_nothing(api, org) -> None:
    good = created("contact.city", "equals", "Oulu")
    group = TargetGroup.objects.create(organisation=org, name="G", conditions=good)
    response = api.patch(
        f"{URL}{group.pk}/",
        {"conditions": [*good, *created("contact.created_at", "after", "9999-12-31")]},
        format="json",
    )
    assert_names_condition_value(response, index=1)
    group.refresh_from_db()
    assert group.conditions == good


@pytest.mark.django_db
@pytest.mark.parametrize(
    "days", ["9223372036854775808", "1" + "0" * 30, "36501", "-1", "1e308", "1e400"]
)
def test_huge_within_last_days_is_400(api, days) -> None:
    condition = '{"field": "contact.created_at", "operator": "within_last_days", "value": %s}'
    body = '{"name": "x", "conditions": [%s]}' % (condition % days)
    for path in (URL + "count/", URL):
        response = api.post(path, body, content_type="application/json")
        assert_names_condition_value(response)
    assert not TargetGroup.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["a\x00b", "\x00", "\ud800", "x\udfff"])
@pytest.mark.parametrize("path", ["", "count/"])
def test_nul_and_lone_surrogate_in_a_condition_value_are_400(api, value, path) -> None:
    body = json.dumps({"name": "x", "conditions": created("contact.city", "contains", value)})
    response = api.post(URL + path, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert not TargetGroup.objects.exists()


# A condition already stored bad (written before these checks, or around the services).


@pytest.fixture
def broken_group(org, user) -> TargetGroup:
    Contact.objects.create(organisation=org, last_name="A", city="Oulu")
    TargetGroup.objects.create(
        organisation=org, name="Fine", conditions=created("contact.city", "equals", "Oulu")
    )
    return TargetGroup.objects.create(
        organisation=org,
        name="Broken",
        created_by=user,
        conditions=created("contact.created_at", "after", "9999-12-31"),
    )


@pytest.mark.django_db
def test_stored_bad_condition_does_not_break_the_api(api, broken_group) -> None:
    listed = api.get(URL)
    assert listed.status_code == 200
    rows = {row["name"]: row for row in listed.json()["results"]}
    assert rows["Broken"]["member_count"] is None
    assert rows["Broken"]["needs_attention"] is True
    assert rows["Fine"]["member_count"] == 1 and rows["Fine"]["needs_attention"] is False
    detail = api.get(f"{URL}{broken_group.pk}/")
    assert detail.status_code == 200
    assert detail.json()["member_count"] is None and detail.json()["needs_attention"] is True
    members = api.get(f"{URL}{broken_group.pk}/members/")
    assert members.status_code == 200 and members.json()["count"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("tab", ["", "members/", "sms/"])
def test_stored_bad_condition_shows_needs_attention_on_every_tab(browser, broken_group, tab):
    response = browser.get(f"/target-groups/{broken_group.pk}/{tab}")
    assert response.status_code == 200
    assert "needs attention" in response.content.decode().lower()
    assert browser.get(f"/target-groups/{broken_group.pk}/delete/").status_code == 200


@pytest.mark.django_db
def test_stored_bad_condition_shows_needs_attention_in_the_list(browser, broken_group):
    response = browser.get("/target-groups/")
    assert response.status_code == 200
    assert "needs attention" in response.content.decode().lower()


@pytest.mark.django_db
def test_stored_bad_condition_selects_no_one(broken_group) -> None:
    assert selectors.target_group_needs_attention(target_group=broken_group)
    assert not selectors.target_group_members(target_group=broken_group).exists()
    assert selectors.target_group_member_count(target_group=broken_group) is None


# NUL bytes in searches.


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/contacts/?search=a%00b",
        "/api/v1/accounts/?search=%00",
        "/api/v1/sms/sendouts/?status=%00",
    ],
)
def test_nul_in_an_api_query_is_a_json_400(api, path) -> None:
    response = api.get(path)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


@pytest.mark.django_db
def test_nul_in_a_page_search_is_a_400(browser, org) -> None:
    group = TargetGroup.objects.create(organisation=org, name="G")
    for path in (
        "/contacts/?q=a%00",
        "/accounts/?q=%00",
        f"/target-groups/{group.pk}/members/?add=%00",
    ):
        assert browser.get(path).status_code == 400, path

"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis).

Every operation in ``/api/schema/`` is called in-process (WSGI) with data that fits
the schema and data that does not, as a member of an organisation with SMS active,
quota, a target group and a sendout, on random ids and on the ids of real objects.
Whatever comes in: never a 5xx, and every refusal is a 4xx with a JSON body holding
either DRF field errors or ``{"detail", "code"}``.

The webhooks are not in the schema (plain Django views with their own tests).
"""

import json
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, override_settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

from config.wsgi import application
from tests.hostile import build_world, spiked


def api_schema() -> dict[str, Any]:
    """The schema /api/schema/ serves (to signed-in users only), made in-process."""
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(raw))


SCHEMA = schemathesis.openapi.from_dict(api_schema())
SCHEMA.app = application
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
EXAMPLES = 25
# Hostile values are many kinds of value in many places: more examples.
HOSTILE_EXAMPLES = 60

# The fuzzer may send many previews and sendouts: the per-user rate limits are
# tested in test_security.py, here they would only hide the answers behind 429.
UNTHROTTLED = {"sms_preview": "100000/min", "sms_send": "100000/min"}


def refusal_is_clear(status: int, body: Any) -> bool:
    """A 4xx answers DRF field errors ({field: [messages]}) or {"detail", "code"}."""
    if not isinstance(body, dict) or not body:
        return False
    if "detail" in body:
        return isinstance(body["detail"], str) and isinstance(body.get("code"), str)
    return all(isinstance(value, list | dict) for value in body.values())


def fuzz(
    strategy: st.SearchStrategy,
    headers: dict[str, str],
    *,
    hostile: bool = False,
    examples: int = EXAMPLES,
) -> None:
    """Call the API with ``strategy``'s cases (with one field made hostile when
    ``hostile``): never a 5xx, every refusal clear."""

    @given(case=strategy, data=st.data())
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case, data) -> None:
        if hostile:
            response = send_hostile(spiked(case, data), headers)
        else:
            response = case.call(headers=headers)
        where = f"{case.method} {case.formatted_path} {case.query or ''} {case.body!r:.300}"
        assert response.status_code < 500, f"{response.status_code} for {where}"
        if response.status_code >= 400:
            try:
                body = json.loads(response.content)
            except ValueError:
                body = response.content[:300]
            assert refusal_is_clear(response.status_code, body), (
                f"{response.status_code} unclear refusal {body!r:.300} for {where}"
            )

    rest = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **django_settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}),
            **UNTHROTTLED,
        },
    }
    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with override_settings(REST_FRAMEWORK=rest):
            run()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def send_hostile(case, headers: dict[str, str]):
    """Send ``case`` as JSON escaped to ASCII (``"\\ud800"``, ``Infinity``), as an attacker
    would: the HTTP clients refuse to encode a lone surrogate or an infinite number."""
    query = urlencode(case.query or {}, doseq=True)
    path = case.formatted_path + (f"?{query}" if query else "")
    kwargs: dict[str, Any] = {"headers": headers}
    if case.body is not NOT_SET and case.body is not None:
        kwargs |= {"data": json.dumps(case.body), "content_type": "application/json"}
    return Client().generic(case.method, path, **kwargs)


def token_headers(user) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.create(user=user).key}"}


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_operation_never_fails_on_any_input(operation, org, user) -> None:
    world = build_world(org, user)
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    if operation.path_parameters:
        fixed = {"id": world.object_for(operation.path).pk}
        strategies += [
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=fixed),
        ]
    fuzz(st.one_of(strategies), token_headers(user))


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_operation_never_fails_on_hostile_values(operation, org, user) -> None:
    """Valid requests with one field made hostile (tests/hostile.py): NUL bytes and lone
    surrogates in strings, dates at and beyond the limits, 64-bit overflow in numbers,
    JSON nested 1,000 deep; real conditions with such values. On the ids of real
    objects, so that the request gets past the lookup to the fields."""
    world = build_world(org, user)
    fixed = {"id": world.object_for(operation.path).pk} if operation.path_parameters else None
    valid = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed)
    fuzz(valid, token_headers(user), hostile=True, examples=HOSTILE_EXAMPLES)


# Regressions for what the fuzzing found.


@pytest.mark.django_db
def test_api_path_matching_no_route_answers_json_404(api) -> None:
    response = api.get("/api/v1/target-groups/%3A/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


@pytest.mark.django_db
def test_page_matching_no_route_stays_html_404(client) -> None:
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/target-groups/count/", "/api/v1/target-groups/"], ids=["count", "create"]
)
def test_contact_id_beyond_64_bits_is_a_400_not_a_500(api, contact, path) -> None:
    from targetgroups.models import TargetGroup

    response = api.post(
        path,
        {"name": "G", "conditions": [], "excluded_contacts": [2**63]},
        format="json",
    )
    assert response.status_code == 400
    assert "excluded_contacts" in response.json()
    assert not TargetGroup.objects.exists()


@pytest.mark.django_db
def test_form_with_too_many_fields_is_a_json_400(api, settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = api.post(
        "/api/v1/accounts/",
        "&".join(f"name={n}" for n in range(20)),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "bad_request"}


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["²", "١٢", "99999999999999999999999"])
def test_sendout_filter_by_a_non_ascii_or_huge_number_is_not_a_500(api, value) -> None:
    # "²".isdigit() is true, and int("²") raised ValueError: a 500.
    response = api.get("/api/v1/sms/sendouts/", {"target_group": value})
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert "target_group" in response.json()

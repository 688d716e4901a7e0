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

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode

from config.wsgi import application
from tests.hostile import build_world


def api_schema() -> dict[str, Any]:
    """The schema /api/schema/ serves (to signed-in users only), made in-process."""
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(raw))


SCHEMA = schemathesis.openapi.from_dict(api_schema())
SCHEMA.app = application
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
EXAMPLES = 25

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


@pytest.mark.django_db
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_operation_never_fails_on_any_input(operation, org, user) -> None:
    world = build_world(org, user)
    token = Token.objects.create(user=user)
    headers = {"Authorization": f"Token {token.key}"}
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
    rest = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **django_settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}),
            **UNTHROTTLED,
        },
    }

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        response = case.call(headers=headers)
        where = f"{case.method} {case.formatted_path} {case.query or ''} {case.body!r:.300}"
        assert response.status_code < 500, f"{response.status_code} for {where}"
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.content[:300]
            assert refusal_is_clear(response.status_code, body), (
                f"{response.status_code} unclear refusal {body!r:.300} for {where}"
            )

    # As Django's test client does: the test's transaction must outlive each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with override_settings(REST_FRAMEWORK=rest):
            run()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


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

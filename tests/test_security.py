"""Hostile input: rate limits, CSRF on session requests, cross-organisation access to
every object URL, markup in contact data, and the production settings."""

import json
import os
import re
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db.models import F
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.html import escape
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from crm.models import Account, Contact
from sms.models import Sendout
from tests.conftest import logged_in, python_process
from tests.factories import OPERATOR_NUMBER
from tests.hostile import World, build_world

BASE_DIR = Path(settings.BASE_DIR)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of our apps (and the users), to prove that a refused request wrote nothing."""
    models = [
        model
        for label in ("crm", "targetgroups", "sms", "imports", "auth")
        for model in apps.get_app_config(label).get_models()
    ]
    state = {}
    for model in models:
        state[model._meta.label] = list(model.objects.order_by("pk").values())
        for m2m in model._meta.many_to_many:
            through = getattr(model, m2m.name).through
            state[through._meta.label] = list(through.objects.order_by("pk").values())
    return state


def rates(**scopes: str) -> dict[str, Any]:
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], **scopes}
    return rest


# --- Rate limits on preview and send ------------------------------------------------


def test_rates_are_in_settings_with_the_documented_defaults() -> None:
    throttle_rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert throttle_rates["sms_preview"] == os.environ.get("SMS_PREVIEW_RATE", "120/min")
    assert throttle_rates["sms_send"] == os.environ.get("SMS_SEND_RATE", "10/min")


@pytest.mark.django_db
def test_eleventh_send_within_a_minute_is_429_and_creates_nothing(org, user, make_user) -> None:
    world = build_world(org, user)
    api = APIClient()
    api.force_authenticate(user)
    url = f"/api/v1/target-groups/{world.target_group.pk}/sms/sendouts/"
    with override_settings(REST_FRAMEWORK=rates(sms_send="10/min")):
        for _ in range(10):
            assert api.post(url, {"body": "Hei"}, format="json").status_code == 202
        before = snapshot()
        response = api.post(url, {"body": "Hei"}, format="json")
        assert response.status_code == 429
        assert response.json()["code"] == "throttled"
        assert response.json()["detail"]
        assert int(response["Retry-After"]) > 0
        assert snapshot() == before
        assert Sendout.objects.filter(created_by=user).count() == 11  # 1 by build_world
        # Per user: a colleague in the same organisation may still send.
        colleague = APIClient()
        colleague.force_authenticate(make_user(org))
        assert colleague.post(url, {"body": "Hei"}, format="json").status_code == 202


@pytest.mark.django_db
def test_preview_is_limited_per_user(org, user, make_user) -> None:
    world = build_world(org, user)
    url = f"/api/v1/target-groups/{world.target_group.pk}/sms/preview/"
    api = APIClient()
    api.force_authenticate(user)
    with override_settings(REST_FRAMEWORK=rates(sms_preview="3/min")):
        for _ in range(3):
            assert api.post(url, {"body": "Hei"}, format="json").status_code == 200
        response = api.post(url, {"body": "Hei"}, format="json")
        assert response.status_code == 429
        assert response.json()["code"] == "throttled"
        other = APIClient()
        other.force_authenticate(make_user(org))
        assert other.post(url, {"body": "Hei"}, format="json").status_code == 200


# --- CSRF on session requests ---------------------------------------------------------

WRITING = {"post", "patch", "put", "delete"}


def writing_operations() -> list[tuple[str, str]]:
    """(METHOD, path template) of every writing operation in the OpenAPI schema."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return sorted(
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if method in WRITING
    )


def _reschedule(world: World) -> dict:
    """The world's sendout made a scheduled one, and a new time for it."""
    from datetime import timedelta

    from django.utils import timezone

    from sms.statuses import SendoutStatus

    tomorrow = timezone.now() + timedelta(days=1)
    Sendout.objects.filter(pk=world.sendout.pk).update(
        status=SendoutStatus.SCHEDULED, send_at=tomorrow
    )
    return {"send_at": (tomorrow + timedelta(hours=1)).isoformat()}


def fix_of(world: World) -> dict[str, Any]:
    """A number fix to confirm: the world's contact given a number without its code."""
    contact = Contact.objects.get(pk=world.contact.pk)
    contact.mobile_phone = "040 123 4567"
    contact.save()  # the stored number problem follows
    return {"contact": world.contact.pk, "field": "mobile_phone"}


# A valid request for each writing operation, given one organisation's objects.
VALID_WRITES: dict[tuple[str, str], Callable[[World], Any]] = {
    ("POST", "/api/v1/accounts/"): lambda w: {"name": "Uusi Oy"},
    ("PATCH", "/api/v1/accounts/{id}/"): lambda w: {"city": "Turku"},
    ("DELETE", "/api/v1/accounts/{id}/"): lambda w: None,
    ("POST", "/api/v1/contacts/"): lambda w: {"first_name": "Liisa"},
    ("PATCH", "/api/v1/contacts/{id}/"): lambda w: {"city": "Turku"},
    ("DELETE", "/api/v1/contacts/{id}/"): lambda w: None,
    ("POST", "/api/v1/contacts/bulk/"): lambda w: [{"first_name": "Liisa"}],
    ("POST", "/api/v1/contacts/legal-basis/"): lambda w: {
        "contacts": [w.contact.pk],
        "legal_basis": "business_role",
    },
    ("POST", "/api/v1/sms/sendouts/{id}/cancel/"): lambda w: None,
    ("POST", "/api/v1/sms/sendouts/{id}/reschedule/"): _reschedule,
    ("POST", "/api/v1/sms/replies/read/"): lambda w: {},
    ("POST", "/api/v1/sms/templates/"): lambda w: {"name": "Uusi", "body": "Hei"},
    ("PATCH", "/api/v1/sms/templates/{id}/"): lambda w: {"name": "Toinen"},
    ("DELETE", "/api/v1/sms/templates/{id}/"): lambda w: None,
    ("POST", "/api/v1/target-groups/"): lambda w: {"name": "Uusi", "conditions": []},
    ("PATCH", "/api/v1/target-groups/{id}/"): lambda w: {"name": "Toinen"},
    ("DELETE", "/api/v1/target-groups/{id}/"): lambda w: None,
    ("POST", "/api/v1/target-groups/count/"): lambda w: {"conditions": []},
    ("POST", "/api/v1/target-groups/{id}/include/"): lambda w: {"contacts": [w.contact.pk]},
    ("POST", "/api/v1/target-groups/{id}/exclude/"): lambda w: {"contacts": [w.contact.pk]},
    ("POST", "/api/v1/target-groups/{id}/reset/"): lambda w: {"contacts": [w.contact.pk]},
    ("POST", "/api/v1/target-groups/{id}/sms/preview/"): lambda w: {"body": "Hei"},
    ("POST", "/api/v1/target-groups/{id}/sms/legal-basis/"): lambda w: {
        "legal_basis": "business_role"
    },
    ("POST", "/api/v1/target-groups/{id}/sms/sendouts/"): lambda w: {"body": "Hei"},
    ("POST", "/api/v1/phone-fixes/"): lambda w: {"fixes": [fix_of(w)]},
    ("POST", "/api/v1/phone-fixes/preview/"): lambda w: {"country": "FI"},
    ("POST", "/api/v1/phone-fixes/{id}/undo/"): lambda w: None,
    ("POST", "/api/v1/target-groups/{id}/phone-fixes/"): lambda w: {"fixes": [fix_of(w)]},
    ("POST", "/api/v1/target-groups/{id}/phone-fixes/preview/"): lambda w: {},
    ("POST", "/api/v1/contact-imports/"): lambda w: {"text": "Etunimi\nLiisa\n"},
    ("POST", "/api/v1/contact-imports/{id}/preview/"): lambda w: {"country": "FI"},
    ("POST", "/api/v1/contact-imports/{id}/start/"): lambda w: {"mapping": {"0": "first_name"}},
    ("POST", "/api/v1/target-groups/{id}/sms/test/"): lambda w: {
        "body": "Hei",
        "to": "+358501112222",
    },
}


def test_every_writing_operation_has_a_valid_request_in_the_csrf_table() -> None:
    missing = set(writing_operations()) - set(VALID_WRITES)
    assert not missing, f"add these to VALID_WRITES: {sorted(missing)}"


def valid_write(world: World, method: str, path: str) -> tuple[str, Any]:
    """The URL and body of VALID_WRITES' request for ``path``, on ``world``'s object."""
    return path.replace("{id}", str(world.object_for(path).pk)), VALID_WRITES[(method, path)](world)


def session_client(user) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(reverse("contact-list"))  # sets the CSRF cookie (the logout form)
    assert page.status_code == 200
    return client, client.cookies[settings.CSRF_COOKIE_NAME].value


def send(client: Client, method: str, url: str, body: Any, **headers: str):
    kwargs: dict[str, Any] = {"content_type": "application/json", "headers": headers}
    if body is not None:
        kwargs["data"] = json.dumps(body)
    return getattr(client, method.lower())(url, **kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), sorted(VALID_WRITES), ids=" ".join)
def test_session_write_needs_the_csrf_token(org, user, method, path) -> None:
    url, body = valid_write(build_world(org, user), method, path)
    client, token = session_client(user)
    before = snapshot()

    refused = send(client, method, url, body)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert snapshot() == before

    wrong = send(client, method, url, body, X_CSRFToken="x" * 64)
    assert wrong.status_code == 403
    assert snapshot() == before

    accepted = send(client, method, url, body, X_CSRFToken=token)
    assert 200 <= accepted.status_code < 300, accepted.content


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), sorted(VALID_WRITES), ids=" ".join)
def test_token_write_needs_no_csrf_token(org, user, method, path) -> None:
    url, body = valid_write(build_world(org, user), method, path)
    client = Client(enforce_csrf_checks=True)
    key = Token.objects.create(user=user).key
    response = send(client, method, url, body, Authorization=f"Token {key}")
    assert 200 <= response.status_code < 300, response.content


# --- Hostile JSON bodies: deep nesting, NUL characters, lone surrogates ----------------

# The writes that read a body (not DELETE, not cancel, not undo).
BODY_WRITES = sorted(
    (method, path)
    for method, path in VALID_WRITES
    if method != "DELETE" and not path.endswith(("/cancel/", "/undo/"))
)


def deep(depth: int) -> str:
    return '{"name": ' + "[" * depth + "]" * depth + "}"


def spiked(value: Any, spike: str) -> Any:
    """``value`` with ``spike`` put into every string (keys too) it holds."""
    if isinstance(value, str):
        return value[:1] + spike + value[1:]
    if isinstance(value, list):
        return [spiked(item, spike) for item in value]
    if isinstance(value, dict):
        return {spiked(k, spike): spiked(v, spike) for k, v in value.items()} | {"x": spike}
    return value


def assert_refused_as_parse_error(response, before) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "parse_error" and body["detail"]
    assert snapshot() == before


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), BODY_WRITES, ids=" ".join)
@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_json_nested_deeply_is_400_on_every_json_endpoint(api, org, user, method, path, depth):
    url, _body = valid_write(build_world(org, user), method, path)
    before = snapshot()
    response = getattr(api, method.lower())(url, deep(depth), content_type="application/json")
    assert_refused_as_parse_error(response, before)


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path"), BODY_WRITES, ids=" ".join)
@pytest.mark.parametrize("spike", ["\x00", "\ud800", "\udfff"], ids=["nul", "high", "low"])
def test_nul_and_lone_surrogates_in_json_are_400_on_every_json_endpoint(
    api, org, user, method, path, spike
) -> None:
    url, body = valid_write(build_world(org, user), method, path)
    before = snapshot()
    response = getattr(api, method.lower())(
        url, json.dumps(spiked(body, spike)), content_type="application/json"
    )
    assert_refused_as_parse_error(response, before)


@pytest.mark.django_db
def test_json_nested_to_the_limit_is_parsed(api) -> None:
    body = '{"name": "G", "conditions": [], "x": ' + "[" * 30 + "]" * 30 + "}"
    response = api.post("/api/v1/target-groups/", body, content_type="application/json")
    assert response.status_code == 201, response.content


# --- Another organisation's objects: 404 on every object URL ---------------------------

# Which object each route with a `pk` acts on. A new route with a pk and no entry here
# fails test_every_object_route_is_in_the_map.
ROUTE_OBJECTS = {
    "account-detail": "account",
    "contact-detail": "contact",
    "contact-opt-out": "contact",
    "contact-legal-basis": "contact",
    "api-contact-sms-history": "contact",
    "targetgroup-detail": "target_group",
    "targetgroup-members": "target_group",
    "targetgroup-sms": "target_group",
    "targetgroup-include": "target_group",
    "targetgroup-exclude": "target_group",
    "targetgroup-reset": "target_group",
    "targetgroup-delete": "target_group",
    "sms-sendout-detail": "sendout",
    "sms-sendout-export": "sendout",
    "api-account-detail": "account",
    "api-contact-detail": "contact",
    "api-targetgroup-detail": "target_group",
    "api-targetgroup-members": "target_group",
    "api-targetgroup-include": "target_group",
    "api-targetgroup-exclude": "target_group",
    "api-targetgroup-reset": "target_group",
    "api-sms-options": "target_group",
    "api-sms-preview": "target_group",
    "api-sms-skipped": "target_group",
    "api-sms-legal-basis": "target_group",
    "api-sms-sendout-create": "target_group",
    "api-sms-test": "target_group",
    "api-sendout-detail": "sendout",
    "api-sendout-cancel": "sendout",
    "api-sendout-reschedule": "sendout",
    "sms-sendout-cancel": "sendout",
    "sms-sendout-reschedule": "sendout",
    "api-sendout-recipients": "sendout",
    "api-sendout-replies": "sendout",
    "api-sendout-report": "sendout",
    "api-sendout-export": "sendout",
    "api-sms-template-detail": "message_template",
    "phone-fix-detail": "phone_fix",
    "phone-fix-undo": "phone_fix",
    "targetgroup-phone-fix": "target_group",
    "api-phonefix-detail": "phone_fix",
    "api-phonefix-undo": "phone_fix",
    "api-targetgroup-phone-fixes": "target_group",
    "api-targetgroup-phone-fixes-preview": "target_group",
    "contact-import-detail": "contact_import",
    "contact-import-rejected": "contact_import",
    "api-contact-import-detail": "contact_import",
    "api-contact-import-preview": "contact_import",
    "api-contact-import-start": "contact_import",
    "api-contact-import-not-imported": "contact_import",
}
# Django admin is for staff and scoped on its own (tests/sms/test_admin.py); its
# routes name the object `object_id`.
NOT_WALKED = ("admin/",)


def object_routes() -> list[tuple[str, str, frozenset[str]]]:
    """(route, name, kwargs) of every URL pattern that takes an object id."""

    def walk(patterns, prefix: str = ""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), pattern.name, pattern.pattern.regex.groupindex

    found = []
    for route, name, groups in walk(get_resolver().url_patterns):
        if route.startswith(NOT_WALKED):
            continue
        kwargs = frozenset(groups)
        if any(kwarg == "pk" or kwarg.endswith(("id", "_pk")) for kwarg in kwargs):
            found.append((route, name, kwargs))
    return found


ROUTES = object_routes()


def test_every_object_route_is_in_the_map() -> None:
    assert len(ROUTES) >= len(ROUTE_OBJECTS)
    for route, name, kwargs in ROUTES:
        assert name in ROUTE_OBJECTS, f"{route} ({name}): add it to ROUTE_OBJECTS"
        assert kwargs <= {"pk", "format"}, f"{route}: unknown kwargs {sorted(kwargs)}"


def route_url(name: str, kwargs: frozenset[str], pk: int) -> str:
    values: dict[str, Any] = {"pk": pk}
    if "format" in kwargs:
        values["format"] = "json"
    return reverse(name, kwargs=values)


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name", "kwargs"), ROUTES, ids=[r[0] for r in ROUTES])
def test_another_organisations_object_is_404(
    org, other_org, user, make_user, route, name, kwargs
) -> None:
    mine = build_world(org, user, name="Oma Oy")
    theirs = build_world(other_org, make_user(other_org), name="Vieras Oy")
    kind = ROUTE_OBJECTS[name]
    missing_pk = max(getattr(w, kind).pk for w in (mine, theirs)) + 1_000_000
    is_api = route.startswith("api/")
    if is_api:
        client: Client = APIClient()
        client.force_authenticate(user)
        methods = ["get", "post", "patch", "delete"]
    else:
        client = logged_in(user)
        methods = ["get", "post"]

    def call(method: str, pk: int) -> int:
        url = route_url(name, kwargs, pk)
        if is_api:
            return getattr(client, method)(url, {}, format="json").status_code
        return getattr(client, method)(url, {}).status_code

    before = snapshot()
    answers = {}
    for method in methods:
        answers[method] = call(method, getattr(theirs, kind).pk)
        # Indistinguishable from an object that does not exist at all.
        assert answers[method] == call(method, missing_pk), method
        assert answers[method] in (404, 405), (method, answers[method])
    assert 404 in answers.values()
    assert snapshot() == before
    # The map is right: the same route finds the user's own object.
    own = call("get", getattr(mine, kind).pk)
    if own == 405:
        own = call("post", getattr(mine, kind).pk)
    assert own not in (404, 405), own


# --- Markup and tag syntax in contact data: always shown as text ------------------------

HOSTILE = {
    "first_name": "<script>alert(1)</script>",
    "last_name": '"><img src=x onerror=alert(1)>',
    "title": "{{contact.email}}",
    "city": "{% debug %}",
}
HOSTILE_ACCOUNT = {"name": "<svg onload=alert(2)>{{account.name}}", "industry": "</dd><b>x</b>"}
RAW_MARKUP = [
    value
    for value in [*HOSTILE.values(), *HOSTILE_ACCOUNT.values(), "<i>group</i>"]
    if "<" in value
]


@pytest.fixture
def hostile_world(org, user) -> World:
    world = build_world(org, user, name=HOSTILE_ACCOUNT["name"])
    Account.objects.filter(pk=world.account.pk).update(**HOSTILE_ACCOUNT)
    Contact.objects.filter(pk=world.contact.pk).update(email="matti@example.com", **HOSTILE)
    world.target_group.name = "<i>group</i>"
    world.target_group.description = "<i>group</i>"
    world.target_group.save()
    return world


def pages_showing(world: World) -> list[str]:
    group = world.target_group.pk
    return [
        reverse("contact-list"),
        reverse("contact-list") + "?q=script",
        reverse("contact-detail", args=[world.contact.pk]),
        reverse("account-list"),
        reverse("account-detail", args=[world.account.pk]),
        reverse("targetgroup-list"),
        reverse("targetgroup-detail", args=[group]),
        reverse("targetgroup-members", args=[group]),
        reverse("targetgroup-sms", args=[group]),
        reverse("sms-sendout-detail", args=[world.sendout.pk]),
    ]


@pytest.mark.django_db
def test_markup_in_contact_fields_is_escaped_on_every_page(client, user, hostile_world) -> None:
    client.force_login(user)
    shown = ""
    for url in pages_showing(hostile_world):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        for raw in RAW_MARKUP:
            assert raw not in page, f"{url} shows {raw!r} unescaped"
        assert "sql_queries" not in page  # {% debug %} was not run
        shown += page
    # ... and the values are there, as text.
    for value in [*HOSTILE.values(), *HOSTILE_ACCOUNT.values()]:
        assert escape(value) in shown, value
    contact_page = client.get(reverse("contact-detail", args=[hostile_world.contact.pk]))
    assert "{{contact.email}}" in contact_page.content.decode()


@pytest.mark.django_db
def test_markup_in_contact_fields_is_escaped_in_the_admin(admin_client, hostile_world) -> None:
    contact, account = hostile_world.contact, hostile_world.account
    for url in [
        reverse("admin:crm_contact_changelist"),
        reverse("admin:crm_contact_change", args=[contact.pk]),
        reverse("admin:crm_account_changelist"),
        reverse("admin:crm_account_change", args=[account.pk]),
        reverse("admin:sms_outboundmessage_changelist"),
    ]:
        page = admin_client.get(url).content.decode()
        for raw in RAW_MARKUP:
            assert raw not in page, f"{url} shows {raw!r} unescaped"


@pytest.mark.django_db
def test_api_answers_contact_fields_exactly_as_stored(api, hostile_world) -> None:
    data = api.get(f"/api/v1/contacts/{hostile_world.contact.pk}/").json()
    assert {key: data[key] for key in HOSTILE} == HOSTILE
    members = api.get(f"/api/v1/target-groups/{hostile_world.target_group.pk}/members/").json()
    assert members["results"][0]["first_name"] == HOSTILE["first_name"]


@pytest.mark.django_db
def test_sms_text_holds_contact_values_literally_never_re_parsed(api, hostile_world) -> None:
    group = hostile_world.target_group.pk
    body = "Hei {{contact.first_name}} {{contact.title}} {{contact.city}} {{account.name}}"
    expected = (
        f"Hei {HOSTILE['first_name']} {HOSTILE['title']} {HOSTILE['city']} "
        f"{HOSTILE_ACCOUNT['name']}"
    )
    preview = api.post(f"/api/v1/target-groups/{group}/sms/preview/", {"body": body}, format="json")
    assert preview.status_code == 200
    assert [sample["body"] for sample in preview.json()["samples"]] == [expected]
    created = api.post(
        f"/api/v1/target-groups/{group}/sms/sendouts/", {"body": body}, format="json"
    )
    assert created.status_code == 202
    sendout = Sendout.objects.get(pk=created.json()["id"])
    assert [m.body for m in sendout.messages.all()] == [expected]
    recipients = api.get(f"/api/v1/sms/sendouts/{sendout.pk}/recipients/").json()
    assert [r["body"] for r in recipients["results"]] == [expected]


@pytest.mark.django_db
@pytest.mark.parametrize("website", ["javascript:alert(1)", "data:text/html,<script>x</script>"])
def test_account_website_link_cannot_carry_script(api, website) -> None:
    response = api.post("/api/v1/accounts/", {"name": "X", "website": website}, format="json")
    assert response.status_code == 400
    assert "website" in response.json()
    assert not Account.objects.exists()


# Data reaches the DOM only as text: innerHTML may hold a fixed literal, nothing else.
HTML_SINKS = re.compile(
    r"(innerHTML|outerHTML)\s*\+?=\s*(?P<value>[^;]+);"
    r"|insertAdjacentHTML|document\.write|\beval\(|new Function"
)
LITERAL = re.compile(r"""^\s*(?:'[^'$]*'|"[^"$]*"|`[^`$]*`)\s*$""")


def test_scripts_never_put_data_into_html() -> None:
    scripts = sorted((BASE_DIR / "static").rglob("*.js"))
    assert scripts
    for script in scripts:
        for match in HTML_SINKS.finditer(script.read_text()):
            value = match.group("value")
            assert value is not None and LITERAL.match(value), (
                f"{script.relative_to(BASE_DIR)}: {match.group(0)!r} may put data into HTML; "
                "use textContent or createElement"
            )


# --- Webhooks: forged and replayed callbacks -----------------------------------------------

CALLBACK_BASE = "https://crm.example.com"
AUTH_TOKEN = "twilio-auth-token-for-tests"
STATUS_PATH = "/sms/webhooks/twilio/status/"
INBOUND_PATH = "/sms/webhooks/twilio/inbound/"


@pytest.fixture
def webhook_world(org, user, settings) -> World:
    settings.SMS_STATUS_CALLBACK_BASE_URL = CALLBACK_BASE
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    world = build_world(org, user)
    world.sendout.messages.update(status="sent", provider_id="SM" + "a" * 32, to="+358401234567")
    return world


def signed(path: str, params: dict[str, str], *, base: str = CALLBACK_BASE, token=AUTH_TOKEN):
    return RequestValidator(token).compute_signature(base + path, params)


def post_callback(path: str, params: dict[str, str], signature: str | None):
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    return Client(enforce_csrf_checks=True).post(path, params, headers=headers)


STATUS = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
# To: the number the sendout went out from (the organisation's operator number).
STOP = {"From": "+358401234567", "To": OPERATOR_NUMBER, "Body": "STOP"}


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "params"), [(STATUS_PATH, STATUS), (INBOUND_PATH, STOP)])
@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda path, params: None, id="missing"),
        pytest.param(lambda path, params: "bm90IGEgc2lnbmF0dXJl", id="garbage"),
        pytest.param(
            lambda path, params: signed(path, params, token="another-account-token"),
            id="wrong-token",
        ),
        pytest.param(
            lambda path, params: signed(path, params, base="https://evil.example.com"),
            id="other-host",
        ),
        pytest.param(
            lambda path, params: signed(
                STATUS_PATH if path == INBOUND_PATH else INBOUND_PATH, params
            ),
            id="other-url",
        ),
        pytest.param(
            lambda path, params: signed(path, {**params, "MessageStatus": "failed"}),
            id="other-params",
        ),
    ],
)
def test_forged_callback_is_403_and_changes_nothing(webhook_world, path, params, forge) -> None:
    before = snapshot()
    response = post_callback(path, params, forge(path, params))
    assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.django_db
def test_webhooks_refuse_everything_without_a_configured_token(webhook_world, settings) -> None:
    settings.TWILIO_AUTH_TOKEN = ""
    before = snapshot()
    assert post_callback(STATUS_PATH, STATUS, signed(STATUS_PATH, STATUS)).status_code == 403
    assert snapshot() == before


@pytest.mark.django_db
def test_replayed_status_callback_changes_nothing(webhook_world) -> None:
    assert post_callback(STATUS_PATH, STATUS, signed(STATUS_PATH, STATUS)).status_code == 204
    assert set(webhook_world.sendout.messages.values_list("status", flat=True)) == {"delivered"}
    after_first = snapshot()
    assert post_callback(STATUS_PATH, STATUS, signed(STATUS_PATH, STATUS)).status_code == 204
    assert snapshot() == after_first
    # An older report replayed late does not move the message back.
    older = {**STATUS, "MessageStatus": "sent"}
    assert post_callback(STATUS_PATH, older, signed(STATUS_PATH, older)).status_code == 204
    assert snapshot() == after_first


@pytest.mark.django_db
def test_replayed_stop_reply_changes_nothing(webhook_world) -> None:
    assert post_callback(INBOUND_PATH, STOP, signed(INBOUND_PATH, STOP)).status_code == 200
    webhook_world.contact.refresh_from_db()
    assert webhook_world.contact.sms_opt_out
    after_first = snapshot()
    assert post_callback(INBOUND_PATH, STOP, signed(INBOUND_PATH, STOP)).status_code == 200
    assert snapshot() == after_first


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["MessageSid", "MessageStatus", "ErrorCode"])
def test_signed_status_callback_with_a_nul_is_400_and_changes_nothing(webhook_world, field):
    params = {**STATUS, "ErrorCode": "", field: "SM\x00" + "a" * 30}
    before = snapshot()
    assert post_callback(STATUS_PATH, params, signed(STATUS_PATH, params)).status_code == 400
    assert snapshot() == before


# --- Logins: lockout without telling which usernames exist ----------------------------

LOGIN_PAGES = {"login page": "/login/", "admin": "/admin/login/?next=/admin/"}


def login_attempts(path: str, username: str, password: str, times: int) -> list[int]:
    client = Client()
    return [
        client.post(path, {"username": username, "password": password}).status_code
        for _ in range(times)
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES.values(), ids=LOGIN_PAGES.keys())
def test_thirty_wrong_passwords_lock_the_username_out(make_user, path) -> None:
    user = make_user(None, is_staff=True, is_superuser=True)
    statuses = login_attempts(path, user.username, "wrong", 30)
    limit = settings.AXES_FAILURE_LIMIT
    assert statuses[: limit - 1] == [200] * (limit - 1)
    assert statuses[limit:] == [429] * (30 - limit)
    # Locked: even the right password is refused, and the answer does not say it was right.
    right = Client().post(path, {"username": user.username, "password": "pw-123-secret"})
    assert right.status_code == 429
    assert "_auth_user_id" not in right.client.session
    # Another username is not locked by it.
    other = make_user(None, is_staff=True, is_superuser=True)
    ok = Client().post(path, {"username": other.username, "password": "pw-123-secret"})
    assert ok.status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGIN_PAGES.values(), ids=LOGIN_PAGES.keys())
def test_login_answers_the_same_for_unknown_usernames(make_user, path) -> None:
    user = make_user(None, is_staff=True, is_superuser=True)
    known = login_attempts(path, user.username, "wrong", 8)
    unknown = login_attempts(path, "nobody-by-this-name", "wrong", 8)
    assert known == unknown
    assert 429 in known

    def page(name: str) -> str:
        html = Client().post(path, {"username": name, "password": "x"}).content.decode()
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)

    # Also the locked-out page names no user and is the same for both.
    assert page(user.username) == page("nobody-by-this-name")
    assert user.username not in page(user.username)


@pytest.mark.django_db
def test_lockout_ends_after_the_cool_off_time(make_user, settings) -> None:
    from datetime import timedelta

    from axes.models import AccessAttempt

    user = make_user(None)
    assert 429 in login_attempts("/login/", user.username, "wrong", 10)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(hours=1))
    right = Client().post("/login/", {"username": user.username, "password": "pw-123-secret"})
    assert right.status_code == 302


@pytest.mark.django_db
def test_successful_login_resets_the_count(make_user) -> None:
    user = make_user(None)
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(3):
        assert login_attempts("/login/", user.username, "wrong", limit - 1) == [200] * (limit - 1)
        right = Client().post("/login/", {"username": user.username, "password": "pw-123-secret"})
        assert right.status_code == 302


def test_login_lockout_settings_are_in_the_environment() -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AXES_LOCKOUT_PARAMETERS == ["username"]
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


# --- Content-Security-Policy ------------------------------------------------------------------

STRICT_CSP = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/login/", "/contacts/", "/target-groups/", "/admin/", "/api/v1/contacts/", "/healthz"]
)
def test_every_response_carries_a_strict_csp(superuser_client, org, user, path) -> None:
    client = logged_in(user) if not path.startswith("/admin/") else superuser_client
    response = client.get(path)
    policy = {part.strip() for part in response["Content-Security-Policy"].split(";")}
    assert policy >= STRICT_CSP, policy
    assert not any("unsafe-inline" in part or "unsafe-eval" in part for part in policy)


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def test_templates_hold_nothing_the_csp_refuses() -> None:
    found = [
        f"{path.relative_to(BASE_DIR)}: {what}"
        for path in sorted((BASE_DIR / "templates").rglob("*.html"))
        for pattern, what in INLINE
        if pattern.search(path.read_text())
    ]
    assert not found, found


# --- Who may cancel a sendout, who may read the API schema --------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("canceller", "status"),
    [("creator", 200), ("organisation admin", 200), ("other member", 403), ("viewer", 403)],
)
def test_who_may_cancel_a_sendout(org, user, make_user, canceller, status) -> None:
    from crm.models import Role

    creator = make_user(org)
    world = build_world(org, creator)
    someone = {
        "creator": creator,
        "organisation admin": make_user(org, role=Role.ADMIN),
        "other member": make_user(org),
        "viewer": make_user(org, role=Role.VIEWER),
    }[canceller]
    client = APIClient()
    client.force_authenticate(someone)
    before = snapshot()
    response = client.post(f"/api/v1/sms/sendouts/{world.sendout.pk}/cancel/")
    assert response.status_code == status, response.content
    if status == 403:
        assert response.json()["code"] == "permission_denied"
        assert snapshot() == before
    else:
        world.sendout.refresh_from_db()
        assert world.sendout.status == "cancelled"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_api_schema_and_docs_are_for_logged_in_users_only(user, path) -> None:
    anonymous = Client().get(path)
    assert anonymous.status_code in (302, 401, 403)
    if anonymous.status_code == 302:
        assert anonymous["Location"].startswith("/login/")
    assert logged_in(user).get(path).status_code == 200


# --- Production settings --------------------------------------------------------------------


def in_production(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python *args`` with production settings (``extra`` added to them)."""
    return python_process(
        *args,
        # Django's own variables (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in
        # this process) are not part of a production environment.
        without=[key for key in os.environ if key.startswith("DJANGO_")],
        env={
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "crm.example.com",
            "DATABASE_URL": "sqlite:///:memory:",
            **extra,
        },
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = in_production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_are_strict() -> None:
    code = (
        "from django.conf import settings as s; import json; print(json.dumps([s.DEBUG,"
        " s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
        " s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_CONTENT_TYPE_NOSNIFF,"
        " s.X_FRAME_OPTIONS, s.CACHES['default']['BACKEND']]))"
    )
    result = in_production(
        "manage.py", "shell", "-c", code, REDIS_CACHE_URL="redis://127.0.0.1:6379/10"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        False,
        True,
        True,
        True,
        True,
        31_536_000,
        True,
        "DENY",
        "django.core.cache.backends.redis.RedisCache",
    ]

"""Hostile input: rate limits, CSRF on session requests, cross-organisation access to
every object URL, markup in contact data, and the production settings."""

import os
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from sms.models import Sendout
from tests.hostile import build_world

BASE_DIR = Path(settings.BASE_DIR)


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of our apps (and the users), to prove that a refused request wrote nothing."""
    models = [
        model
        for label in ("crm", "targetgroups", "sms", "auth")
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

"""Fixtures shared by every test package."""

import os
import socket
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from crm.models import Account, Contact, Membership, Organisation, Role

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def require(available: bool, what: str) -> None:
    """Skip when a service is missing; under REQUIRE_SERVICES=1, fail instead."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} is not available")


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Every test starts with an empty cache: rate-limit counts never leak between tests
    (SQLite reuses the ids of rolled-back users)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def require_postgres(db) -> None:
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")


def pytest_collection_modifyitems(config, items) -> None:
    # On SQLite the `postgres` tests are deselected by tools/test; run directly,
    # they skip (or fail under REQUIRE_SERVICES=1) through require_postgres.
    for item in items:
        if item.get_closest_marker("postgres") and "require_postgres" not in item.fixturenames:
            item.fixturenames.append("require_postgres")


@pytest.fixture
def make_org(db) -> Callable[..., Organisation]:
    counter = iter(range(1, 10_000))

    def make(name: str | None = None) -> Organisation:
        n = next(counter)
        return Organisation.objects.create(name=name or f"Org {n} Oy", slug=f"org-{n}")

    return make


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    counter = iter(range(1, 10_000))

    def make(organisation: Organisation | None, role: str = Role.MEMBER, **extra):
        user = get_user_model().objects.create_user(
            username=f"user{next(counter)}", password="pw-123-secret", **extra
        )
        if organisation is not None:
            Membership.objects.create(user=user, organisation=organisation, role=role)
        return user

    return make


@pytest.fixture
def org(make_org) -> Organisation:
    return make_org("Acme Oy")


@pytest.fixture
def other_org(make_org) -> Organisation:
    return make_org("Rival Oy")


@pytest.fixture
def user(make_user, org):
    return make_user(org)


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def account(org) -> Account:
    return Account.objects.create(organisation=org, name="Kaleva Oy", city="Helsinki")


@pytest.fixture
def contact(org, account) -> Contact:
    return Contact.objects.create(
        organisation=org,
        account=account,
        first_name="Matti",
        last_name="Virtanen",
        mobile_phone="+358 40 123 4567",
        city="Helsinki",
    )

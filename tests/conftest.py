"""Fixtures shared by every test package."""

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from crm.models import Account, Contact, Organisation, Role
from tests.factories import AccountFactory, ContactFactory, OrganisationFactory, UserFactory
from tests.worker import app_using_broker, using_test_broker

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
ROOT = Path(__file__).resolve().parents[1]  # the checkout


def require(available: bool, what: str) -> None:
    """Skip when a service is missing; under REQUIRE_SERVICES=1, fail instead."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (REQUIRE_SERVICES=1) but not available")
    pytest.skip(f"{what} is not available")


def python_process(
    *args: str, env: Mapping[str, str], without: Iterable[str] = (), timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python *args`` in a fresh process at the checkout (a ``-c`` snippet, or
    ``manage.py ...``): this process's environment minus ``without`` plus ``env``;
    its output captured as text."""
    dropped = set(without)
    environment = {k: v for k, v in os.environ.items() if k not in dropped} | dict(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def run_in_threads(work: list[Callable[[], None]]) -> list[BaseException]:
    """Run each callable in its own thread, all released at once (a barrier); each
    thread closes its own database connection at the end. Answers what they raised."""
    barrier = threading.Barrier(len(work))
    errors: list[BaseException] = []

    def run(fn: Callable[[], None]) -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Every test starts with an empty cache: rate-limit counts never leak between tests
    (SQLite reuses the ids of rolled-back users)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _no_optout_in_text(settings) -> None:
    """Marketing texts carry no opt-out suffix in tests about other things, so
    that their bodies, lengths and bills are the template's; the compliance
    tests (tests/sms/test_optout_link.py, tests/e2e/test_compliance.py) turn
    ``SMS_OPTOUT_IN_TEXT`` back on, as it is by default."""
    settings.SMS_OPTOUT_IN_TEXT = False


@pytest.fixture(autouse=True, scope="session")
def _in_memory_broker() -> Iterator[None]:
    """Tasks that in-process tests enqueue stay in this process. Without it they went
    to the default file-system broker under var/, where the next `make run` worker
    picked them up and ran them against its own database. Tests that need a real
    broker switch to one themselves (tests/worker.py)."""
    from config.celery import app

    saved = app.conf.broker_url
    if saved.startswith("filesystem"):
        app.conf.broker_url = "memory://"
    yield
    app.conf.broker_url = saved


@pytest.fixture
def require_postgres(db) -> None:
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL=postgres://...)")


@pytest.fixture
def broker(require_postgres) -> Iterator[Any]:
    """The shared test broker (``CELERY_TEST_BROKER_URL``, flushed around the test)
    with this process's Celery app on it; answers the app. For tests that start a
    worker process, which shares the PostgreSQL test database."""
    with using_test_broker() as url, app_using_broker(url) as app:
        yield app


def pytest_collection_modifyitems(config, items) -> None:
    # On SQLite the `postgres` tests are deselected by tools/test; run directly,
    # they skip (or fail under REQUIRE_SERVICES=1) through require_postgres.
    for item in items:
        if item.get_closest_marker("postgres") and "require_postgres" not in item.fixturenames:
            item.fixturenames.append("require_postgres")


@pytest.fixture
def make_org(db) -> Callable[..., Organisation]:
    """``make_org(name=None)``: a new organisation (``OrganisationFactory``)."""

    def make(name: str | None = None) -> Organisation:
        return OrganisationFactory(name=name) if name else OrganisationFactory()

    return make


@pytest.fixture
def make_user(db) -> Callable[..., Any]:
    """``make_user(organisation, role=member, **fields)``: a user, a member of
    ``organisation`` unless it is None (``UserFactory``)."""

    def make(organisation: Organisation | None, role: str = Role.MEMBER, **fields: Any) -> Any:
        return UserFactory(organisation=organisation, role=role, **fields)

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


def logged_in(user: Any) -> Client:
    """A test client with ``user`` logged in (a session, as in the browser);
    ``client.user`` is the user."""
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def grant(user: Any, *perms: str) -> Any:
    """Give ``user`` the permissions named ``"app_label.codename"``; answers the user."""
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def browser(user) -> Client:
    """The pages as ``user`` (a member of ``org``) sees them."""
    return logged_in(user)


@pytest.fixture
def superuser_client(make_user) -> Client:
    """Django admin as a superuser of no organisation."""
    return logged_in(make_user(None, is_staff=True, is_superuser=True))


@pytest.fixture
def account(org) -> Account:
    return AccountFactory(organisation=org, name="Kaleva Oy")


@pytest.fixture
def contact(org, account) -> Contact:
    return ContactFactory(
        organisation=org,
        account=account,
        mobile_phone="+358 40 123 4567",
    )

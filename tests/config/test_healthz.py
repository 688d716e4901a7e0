"""/healthz answers 200 when the database and the broker answer, 503 naming the one
that does not. "Down" is a real refused connection (a closed port), not a mock."""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import port_answers, require
from tests.worker import app_using_broker

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT = 1  # tcpmux: nothing listens there on a development or CI machine
REDIS_URL = os.environ.get("HEALTHZ_REDIS_URL", "redis://127.0.0.1:6379/11")


@pytest.fixture
def broker():
    """Point this process's Celery app at a broker for one test, then back."""
    with contextlib.ExitStack() as stack:
        yield lambda url: stack.enter_context(app_using_broker(url))


@pytest.mark.django_db
def test_ok_with_the_default_file_system_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_ok_with_redis_up(client, broker):
    require(port_answers("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    broker(REDIS_URL)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_503_when_redis_is_down(client, broker):
    broker(f"redis://127.0.0.1:{CLOSED_PORT}/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "broker": "error"}


def healthz_in_a_process(**env: str) -> tuple[int, dict]:
    """GET /healthz in a fresh process whose settings point where ``env`` says."""
    code = (
        "import json, django; django.setup()\n"
        "from django.test.utils import setup_test_environment; setup_test_environment()\n"
        "from django.test import Client\n"
        "r = Client().get('/healthz')\n"
        "print(json.dumps([r.status_code, r.json()]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "LOG_LEVEL": "CRITICAL",
            **env,
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, body = json.loads(result.stdout.strip().splitlines()[-1])
    return status, body


def test_503_when_postgresql_is_down(tmp_path):
    status, body = healthz_in_a_process(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{CLOSED_PORT}/crm",
        CELERY_BROKER_URL="",
        VAR_DIR=str(tmp_path),
    )
    assert status == 503
    assert body == {"status": "error", "database": "error", "broker": "ok"}


def test_503_names_both_when_both_are_down(tmp_path):
    status, body = healthz_in_a_process(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{CLOSED_PORT}/crm",
        CELERY_BROKER_URL=f"redis://127.0.0.1:{CLOSED_PORT}/0",
        VAR_DIR=str(tmp_path),
    )
    assert status == 503
    assert body == {"status": "error", "database": "error", "broker": "error"}


@pytest.mark.postgres
def test_ok_on_postgresql_and_redis_in_a_process(tmp_path, settings):
    """The same fresh-process path answers 200 when both services are up."""
    require(port_answers("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    db = settings.DATABASES["default"]
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    status, body = healthz_in_a_process(
        DATABASE_URL=f"postgres://{user}@{host}:{port}/{db['NAME']}",
        CELERY_BROKER_URL=REDIS_URL,
        VAR_DIR=str(tmp_path),
    )
    assert (status, body) == (200, {"status": "ok", "database": "ok", "broker": "ok"})

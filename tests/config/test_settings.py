"""Production settings refuse to start without what they need."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
            "s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL)",
        ],
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_off_needs_a_secret_key():
    result = load_settings(DEBUG="0", ALLOWED_HOSTS="crm.example")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_off_needs_allowed_hosts():
    result = load_settings(DEBUG="0", SECRET_KEY="k" * 50)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_debug_off_is_strict():
    result = load_settings(DEBUG="0", SECRET_KEY="k" * 50, ALLOWED_HOSTS="crm.example")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["False", "True", "True"]
    proxy = load_settings(
        DEBUG="0", SECRET_KEY="k" * 50, ALLOWED_HOSTS="crm.example", SECURE_SSL_REDIRECT="0"
    )
    assert proxy.stdout.split()[2] == "False"


def test_defaults_need_no_server(tmp_path):
    result = load_settings(DATABASE_URL="", CELERY_BROKER_URL="", VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[3:] == ["django.db.backends.sqlite3", "filesystem://"]


def test_environment_selects_postgres_and_redis():
    result = load_settings(
        DATABASE_URL="postgres://u@db.example:5432/crm", CELERY_BROKER_URL="redis://r:6379/0"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[3:] == ["django.db.backends.postgresql", "redis://r:6379/0"]

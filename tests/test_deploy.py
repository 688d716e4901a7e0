"""docker-compose.yml, the Dockerfile and .env.example agree with the settings.

Docker need not run here: the files are parsed. The variables the settings read
are found by reading config/settings.py (every ``env(...)`` / ``env.<type>(...)``
call of django-environ, and any os.environ read), so a new setting that compose does
not pass, or a stale variable, fails this test.
"""

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import python_process

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = ("migrate", "web", "worker", "beat")
# django-environ's reader is `env` in the settings: env("X"), env.bool("X"), env.db_url("X").
ENV_READER = "env"
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?::(?P<op>[-?])(?P<arg>[^}]*))?\}")


def settings_variables() -> set[str]:
    """Names of the environment variables config/settings.py reads."""
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            by_env = (isinstance(func, ast.Name) and func.id == ENV_READER) or (
                isinstance(func, ast.Attribute) and ast.unparse(func.value) == ENV_READER
            )
            if by_env or ast.unparse(func) in {"os.environ.get", "os.getenv"}:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
        elif (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return names


def env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert name not in values, f"{name} twice in .env.example"
            values[name] = value
    return values


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def command(service: dict) -> list[str]:
    value = service["command"]
    return value.split() if isinstance(value, str) else [str(part) for part in value]


def test_settings_scan_finds_the_known_variables():
    # Guards the scanner itself: these are read by different env.<type>() readers.
    found = settings_variables()
    assert {"DEBUG", "ALLOWED_HOSTS", "SMS_SEND_TIMEOUT", "DATABASE_URL", "LOG_FORMAT"} <= found


def test_services_exist(compose):
    assert {"postgres", "redis", *APP_SERVICES} <= set(compose["services"])


def test_commands(compose):
    services = compose["services"]
    assert command(services["web"])[:2] == ["gunicorn", "config.wsgi"]
    assert any(part.startswith("--bind=0.0.0.0:") for part in command(services["web"]))
    assert command(services["worker"])[:4] == ["celery", "-A", "config", "worker"]
    assert command(services["beat"])[:4] == ["celery", "-A", "config", "beat"]
    assert command(services["migrate"])[:3] == ["python", "manage.py", "migrate"]
    assert "--noinput" in command(services["migrate"])


def test_app_services_run_the_built_image(compose):
    images = {compose["services"][name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        assert compose["services"][name]["build"] == "."


def test_start_order(compose):
    services = compose["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert "healthcheck" in services["postgres"]
    assert "healthcheck" in services["redis"]
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_every_variable_the_settings_read_is_set_by_compose_and_no_other(compose):
    expected = settings_variables()
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        assert isinstance(environment, dict), name
        keys = set(environment)
        assert not expected - keys, f"{name}: the settings read {sorted(expected - keys)}"
        assert not keys - expected, f"{name}: nothing reads {sorted(keys - expected)}"


def test_env_example_documents_every_variable_and_no_other(compose):
    text = (ROOT / "docker-compose.yml").read_text()
    compose_only = {m["name"] for m in INTERPOLATION.finditer(text)} - settings_variables()
    documented = set(env_example())
    expected = settings_variables() | compose_only
    assert not expected - documented, f"not in .env.example: {sorted(expected - documented)}"
    assert not documented - expected, f"read by nobody: {sorted(documented - expected)}"


def test_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1[12]-slim", text, re.M)
    assert re.search(r"pip install( --no-deps)? \.", text)
    assert "collectstatic --noinput" in text
    assert "tools/compilemessages.py" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0"}


def test_image_paths_agree_with_compose(compose):
    text = (ROOT / "Dockerfile").read_text()
    environment = compose["services"]["web"]["environment"]
    for name in ("STATIC_ROOT", "VAR_DIR"):
        match = re.search(rf"\b{name}=(\S+)", text)
        assert match, f"Dockerfile sets no {name}"
        assert environment[name] == match[1]


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", "var", ".git"} <= set(ignored)


def resolve(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ${X}, ${X:-default} (empty counts as unset), ${X:?error}."""

    def one(match: re.Match) -> str:
        current = env.get(match["name"], "")
        if match["op"] == "-":
            return current or match["arg"]
        if match["op"] == "?":
            assert current, match["arg"]
        return current

    return INTERPOLATION.sub(one, str(value))


def test_production_settings_load_from_the_compose_environment(compose, tmp_path):
    """`cp .env.example .env` + a SECRET_KEY is a configuration the settings accept."""
    dotenv = {**env_example(), "SECRET_KEY": "s" * 50}
    environment = {
        name: resolve(value, dotenv)
        for name, value in compose["services"]["web"]["environment"].items()
    }
    environment.update(VAR_DIR=str(tmp_path / "var"), STATIC_ROOT=str(tmp_path / "static"))
    result = python_process(
        "-c",
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, s.STORAGES['staticfiles']['BACKEND'], "
        "s.DATABASES['default']['HOST'], s.CELERY_BROKER_URL, s.LOG_FORMAT, "
        "s.SMS_SEND_TIMEOUT)",
        without=settings_variables(),
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "postgres",
        "redis://redis:6379/0",
        "json",
        "(5.0,",
        "30.0)",
    ]


def test_production_dependencies_are_declared():
    text = (ROOT / "pyproject.toml").read_text()
    for package in ("gunicorn", "whitenoise", "polib"):
        assert re.search(rf'"{package}[><=]', text), package


PRODUCTION_PAGE_CHECK = """
import re, django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client()
print("healthz", client.get("/healthz").status_code)
print("redirect", client.get("/login/").status_code)
page = client.get("/login/", secure=True)
css = re.search(r'href="(/static/crm/app[.][0-9a-f]{12}[.]css)"', page.content.decode())
print("css", bool(css))
response = client.get(css[1], secure=True)
print("static", response.status_code, "immutable" in response["Cache-Control"])
"""


def test_production_serves_hashed_static_files_and_an_unredirected_healthz(tmp_path):
    """What the image does: collectstatic at build, whitenoise at run time, behind TLS."""
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": "s" * 50,
        "ALLOWED_HOSTS": "testserver",
        "VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_LEVEL": "ERROR",
    }
    # collectstatic compresses every file (about 40 s of CPU): room for a loaded machine.
    production = {"without": settings_variables(), "env": env, "timeout": 300}
    collected = python_process("manage.py", "collectstatic", "--noinput", "-v0", **production)
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()
    result = python_process("-c", PRODUCTION_PAGE_CHECK, **production)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "healthz 200",
        "redirect 301",
        "css True",
        "static 200 True",
    ]

"""Browser tests: Playwright for Python driving Debian's Chromium against a live server.

Screenshots go to test-results/screenshots/ (kept by CI as the test output).
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require

# Playwright's sync API runs an event loop in this thread; the test code's ORM
# calls are still synchronous, so Django's async guard is lifted for these tests.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[object]:
    available = Path(CHROMIUM).exists() or shutil.which("chromium") is not None
    require(available, f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


# Reports every Content-Security-Policy violation of every page (and frame) to the
# console, where the `page` fixture collects it. Injected by Playwright, so the policy
# itself does not block it.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
});
"""


def is_csp_violation(text: str) -> bool:
    return text.startswith("CSP violation:") or "Content Security Policy" in text


@pytest.fixture
def csp_violations() -> list[str]:
    """What the page's browser reported against the Content-Security-Policy so far."""
    return []


@pytest.fixture
def page(chromium_browser, live_server, csp_violations) -> Iterator[object]:
    """A browser tab on the live server. Any Content-Security-Policy violation on any
    page the test visits fails the test: every page must work under the strict policy."""
    context = chromium_browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            csp_violations.append(f"{page.url}: {message.text}")
            if is_csp_violation(message.text)
            else None
        ),
    )
    yield page
    context.close()
    if csp_violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(csp_violations))


@pytest.fixture
def screenshot(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def login(page):
    def log_in(username: str, password: str = "pw-123-secret") -> None:
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/contacts/")

    return log_in


@pytest.fixture
def celery_worker_process(live_server):
    """A real `celery -A config worker` process on Redis, sharing the test database.

    The test process enqueues to the same Redis database. Messages go to the
    locmem backend inside the worker: the browser tests watch the pages; the
    Twilio path is covered by the integration tests in tests/sms.
    """
    from django.db import connection

    from tests.conftest import port_answers
    from tests.worker import CeleryWorker, app_using_broker, database_url, flush_broker

    require(port_answers("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    require(connection.vendor == "postgresql", "PostgreSQL shared with a worker process")
    broker = os.environ.get("E2E_BROKER_URL", "redis://127.0.0.1:6379/13")
    flush_broker(broker)
    worker = CeleryWorker(
        env={"DATABASE_URL": database_url(), "CELERY_BROKER_URL": broker, "SMS_BACKEND": "locmem"},
        concurrency=2,
        log_path=SCREENSHOTS.parent / "e2e-worker.log",
    )
    with app_using_broker(broker) as app:
        worker.start()
        try:
            worker.wait_ready(app)
            yield worker
        finally:
            worker.stop()

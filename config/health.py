"""``/healthz``: is this process able to serve? Checks the database and the broker.

No login: load balancers and container health checks call it. It answers only
"ok" or "error" per dependency, never a connection string or an exception text.
"""

import logging
from pathlib import Path

from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 3


def database_ok() -> bool:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.warning("healthz: the database does not answer", exc_info=True)
        return False


def broker_ok() -> bool:
    url = app.conf.broker_url or ""
    try:
        if url.startswith("filesystem://"):
            # The embedded development broker: a folder, no server.
            folder = (app.conf.broker_transport_options or {}).get("data_folder_in")
            return bool(folder) and Path(folder).is_dir()
        with app.connection_for_write(connect_timeout=BROKER_TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
            )
        return True
    except Exception:
        logger.warning("healthz: the broker does not answer", exc_info=True)
        return False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": "ok" if database_ok() else "error",
        "broker": "ok" if broker_ok() else "error",
    }
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )

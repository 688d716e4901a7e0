"""The Celery application. Configuration comes from Django settings (``CELERY_*``)."""

import logging
import os
import time
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("crm.tasks")
_started: dict[str, float] = {}


@task_prerun.connect
def _log_task_start(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.monotonic()
    # Arguments are ids only by convention, but they are still not logged here.
    logger.info(
        "task started: %s",
        task.name,
        extra={"task_id": task_id, "task_name": task.name},
    )


@task_postrun.connect
def _log_task_finish(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    started = _started.pop(task_id, None) if task_id else None
    runtime = round(time.monotonic() - started, 3) if started is not None else None
    logger.info(
        "task finished: %s %s in %ss",
        task.name,
        state,
        runtime,
        extra={"task_id": task_id, "task_name": task.name, "state": state, "runtime": runtime},
    )

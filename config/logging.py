"""One JSON object per log record, for production log collectors.

Every record carries ``timestamp`` (UTC, ISO 8601), ``level``, ``logger`` and
``message``; the fields a caller passes with ``extra={...}`` (``sendout_id``,
``organisation_id``, ...) are added as they are, and inside a Celery task its
``task_id`` and ``task_name`` too. Privacy is the caller's duty: INFO records
carry ids and counts, never a phone number or a message body.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _current_task() -> Any:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return None
    task = current_task
    return task if task and getattr(task, "request", None) and task.request.id else None


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (non-ASCII kept, unknown types as str)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        task = _current_task()
        if task is not None:
            data["task_id"] = task.request.id
            data["task_name"] = task.name
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(data, ensure_ascii=False, default=str)

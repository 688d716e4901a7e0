"""Log records as one line of JSON (config/logging.py), and the format the settings
pick (LOG_FORMAT, json by default in production)."""

import json
import logging
import sys

import pytest

from config.logging import JsonFormatter
from tests.conftest import python_process


def test_json_formatter_writes_one_line_with_extra_fields():
    record = logging.LogRecord("sms.services", logging.INFO, __file__, 1, "a %s", ("b",), None)
    record.sendout_id = 7
    record.organisation_id = 3
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "a b"
    assert data["level"] == "INFO"
    assert data["logger"] == "sms.services"
    assert (data["sendout_id"], data["organisation_id"]) == (7, 3)
    assert "ValueError: boom" in data["exc_info"]
    assert data["timestamp"].endswith("+00:00")


@pytest.mark.parametrize(
    ("env", "json_lines"),
    [({"DEBUG": "0"}, True), ({"DEBUG": "0", "LOG_FORMAT": "plain"}, False), ({}, False)],
)
def test_log_format_follows_the_settings(env, json_lines, tmp_path):
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('sms.services').info('hello %s', 'there', extra={'sendout_id': 5})"
    )
    result = python_process(
        "-c",
        code,
        without={"DEBUG", "LOG_FORMAT", "SECRET_KEY", "ALLOWED_HOSTS"},
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "s" * 50,
            "ALLOWED_HOSTS": "crm.example",
            "VAR_DIR": str(tmp_path),
            "LOG_LEVEL": "INFO",
            **env,
        },
    )
    assert result.returncode == 0, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    if json_lines:
        data = json.loads(line)
        assert (data["message"], data["sendout_id"], data["level"]) == ("hello there", 5, "INFO")
    else:
        assert line.endswith("INFO sms.services hello there")

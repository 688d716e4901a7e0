"""The time that scheduling decisions read (is a sendout due, is a send window
open). It is the real time, unless ``SMS_CLOCK_FILE`` names a file holding an
ISO 8601 time with its offset: then that time, read at every call, for tests
and rehearsals that drive a real worker and beat through a day without waiting
for it (a missing or empty file: the real time). Leases, retries and logs keep
the real time."""

from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def now() -> datetime:
    path = settings.SMS_CLOCK_FILE
    if path:
        try:
            text = Path(path).read_text().strip()
        except OSError:
            text = ""
        if text:
            parsed = parse_datetime(text)
            if parsed is not None and parsed.tzinfo is not None:
                return parsed
    return timezone.now()

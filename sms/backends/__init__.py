"""SMS backends, after ``django.core.mail.backends``.

``get_backend()`` answers the configured backend (``settings.SMS_BACKEND``):
``console`` (default, prints), ``locmem`` (tests, keeps an outbox), ``twilio``
(the real thing) or the dotted path of a :class:`BaseSmsBackend` subclass.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .base import (
    BaseSmsBackend,
    ErrorKind,
    LookupQuery,
    LookupResult,
    SendError,
    SendPipeline,
    SendResult,
    SmsMessage,
)

__all__ = [
    "BACKEND_ALIASES",
    "BaseSmsBackend",
    "ErrorKind",
    "LookupQuery",
    "LookupResult",
    "SendError",
    "SendPipeline",
    "SendResult",
    "SmsMessage",
    "get_backend",
]

BACKEND_ALIASES = {
    "console": "sms.backends.console.SmsBackend",
    "locmem": "sms.backends.locmem.SmsBackend",
    "twilio": "sms.backends.twilio.SmsBackend",
}


def get_backend(
    backend: str | None = None, fail_silently: bool = False, **kwargs: object
) -> BaseSmsBackend:
    """Answer an instance of the SMS backend named by ``backend`` or ``settings.SMS_BACKEND``.

    ``kwargs`` go to the backend's constructor (e.g. ``concurrency=``, ``base_url=``
    for Twilio, ``stream=`` for the console).
    """
    name = backend or getattr(settings, "SMS_BACKEND", "") or "console"
    path = BACKEND_ALIASES.get(name, name)
    if "." not in path:
        raise ImproperlyConfigured(
            f"Unknown SMS backend {name!r}: use one of {', '.join(BACKEND_ALIASES)} "
            "or the dotted path of a BaseSmsBackend subclass."
        )
    try:
        klass = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"Cannot import the SMS backend {path!r}: {exc}") from exc
    if not (isinstance(klass, type) and issubclass(klass, BaseSmsBackend)):
        raise ImproperlyConfigured(f"The SMS backend {path!r} is not a BaseSmsBackend subclass.")
    return klass(fail_silently=fail_silently, **kwargs)

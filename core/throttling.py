"""Per-user rate limits for expensive or costly API actions."""

from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle


class ScopedUserRateThrottle(ScopedRateThrottle):
    """A view's ``throttle_scope`` limited per user (per address when anonymous).

    The rate is read from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` at each
    request rather than once at import, so that settings overrides take effect.
    The counts live in Django's default cache: in production a shared one (Redis),
    so that every web process counts the same requests.
    """

    def get_rate(self) -> str | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        if self.scope not in rates:
            raise ImproperlyConfigured(f"No throttle rate for the scope {self.scope!r}.")
        return rates[self.scope]

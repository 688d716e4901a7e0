"""An optional messages-per-second cap per organisation and sender.

A fixed one-second window counted in Django's cache: with a shared cache (Redis,
``REDIS_CACHE_URL``) the cap holds across every worker process; with the default
local-memory cache it holds per process.
"""

import time
from collections.abc import Callable

from django.core.cache import BaseCache, cache


class SenderRateLimit:
    def __init__(
        self,
        *,
        key: str,
        per_second: int,
        store: BaseCache | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        self.key = key
        self.per_second = per_second
        self.store = store or cache
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep

    def take(self, n: int) -> None:
        """Wait until ``n`` (at most ``per_second``) sends fit into one second."""
        n = min(n, self.per_second)
        while True:
            now = self.clock()
            window = f"sms-rate:{self.key}:{int(now)}"
            self.store.add(window, 0, timeout=5)
            used = self.store.incr(window, n)
            if used <= self.per_second:
                return
            self.store.decr(window, n)
            self.sleep(int(now) + 1 - now)

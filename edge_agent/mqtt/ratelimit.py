"""A token bucket: ``rate`` tokens a second, holding at most ``burst``. The bridge paces incoming
commands with :meth:`TokenBucket.wait` and rations its answers to bad commands with
:meth:`TokenBucket.take`. Thread-safe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        """``burst`` defaults to one second's worth (at least one token); the bucket starts full."""
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.burst = max(1.0, rate) if burst is None else burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._t = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
        self._t = now

    def take(self) -> bool:
        """Take a token if there is one (never waits)."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def wait(self) -> None:
        """Take a token, sleeping until the next one when the bucket is empty."""
        with self._lock:
            self._refill()
            if self._tokens < 1.0:
                self._sleep((1.0 - self._tokens) / self.rate)
                self._refill()
                self._tokens = max(self._tokens, 1.0)
            self._tokens -= 1.0

"""The event bus: every component publishes typed events here; sinks (the ``--events`` writer,
the MQTT bridge, sd_notify's STATUS=, logs, benchmarks) subscribe.

``publish`` may be called from any thread. It stamps ``wall_t`` (seconds since the bus was made)
and calls each subscriber inline, so subscribers must be quick and must not block: one that has
real work to do (MQTT) only enqueues. A subscriber that raises is logged and kept."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge_agent.events import Event

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._t0 = clock()
        self._subscribers: tuple[Subscriber, ...] = ()
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the session started."""
        return self._clock() - self._t0

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        with self._lock:
            self._subscribers = (*self._subscribers, fn)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not fn)

        return unsubscribe

    def publish(self, event: Event) -> Event:
        if event.wall_t is None:
            event = event.stamped(self.now())
        for fn in self._subscribers:  # a snapshot: the tuple is replaced, never mutated
            try:
                fn(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", fn, event.type)
        return event

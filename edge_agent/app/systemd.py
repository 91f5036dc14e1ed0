"""The systemd side of the daemon: READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 (``Type=notify``).

The listener loop calls :meth:`Heartbeat.beat` once per hop (one attribute store: cheap enough for
the audio path). That heartbeat is the watchdog's only evidence of life:

* ``READY=1`` goes out on the first heartbeat: models are loaded and audio frames are flowing
  (or earlier, if the daemon calls :meth:`SystemdService.ready` itself);
* ``WATCHDOG=1`` goes out every ``WATCHDOG_USEC/2`` from an asyncio task, and only while the last
  heartbeat is fresh: younger than half that interval, at most :data:`MAX_BEAT_AGE_S` (the listener
  beats ~30 times a second, so seconds of silence mean it is stuck). A hung listener thread, a dead
  audio source or a blocked event loop all stop the pings within one interval, and systemd restarts
  the service after ``WatchdogSec=``;
* ``STATUS=`` follows the conversation state (``StateChanged`` events on the bus);
* ``STOPPING=1`` is sent when the daemon stops the service.

The heartbeat is injectable (``SystemdService(heartbeat=...)``): the tests hand in one that stalls
the listener thread, to show a stalled pipeline stops the pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from edge_agent.app.sdnotify import Notifier
from edge_agent.app.service import Service, ServiceHost
from edge_agent.events import AgentState, ErrorEvent, Event, StateChanged

if TYPE_CHECKING:
    from edge_agent.bus import EventBus
    from edge_agent.config import Settings

log = logging.getLogger(__name__)

MAX_BEAT_AGE_S = 5.0
"""A heartbeat older than this is a stalled listener, whatever the watchdog interval."""


class Heartbeat:
    """Proof of life from the listener loop: ``beat()`` once per processed hop."""

    __slots__ = ("_clock", "last")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.last: float | None = None

    def beat(self) -> None:
        self.last = self._clock()

    def age(self) -> float | None:
        """Seconds since the last beat (None before the first)."""
        last = self.last
        return None if last is None else self._clock() - last

    def close(self) -> None:
        """The service is stopping: no more beats are watched."""


class SystemdService(Service):
    """The daemon service that keeps systemd informed; it takes the listener's heartbeat."""

    def __init__(
        self,
        notifier: Notifier | None = None,
        heartbeat: Heartbeat | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        env = dict(os.environ) if env is None else env
        self.notifier = notifier or Notifier.from_env(env)
        self.heartbeat = heartbeat or Heartbeat()
        self._ready = False
        self._state: AgentState | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.pings = 0
        """WATCHDOG=1 messages sent (for tests and logs)."""

    @property
    def is_ready(self) -> bool:
        return self._ready

    def listener_heartbeat(self) -> Callable[[], None]:
        return self.heartbeat.beat

    async def start(self, host: ServiceHost) -> None:
        self._unsubscribe = host.bus.subscribe(self._on_event)
        self.notifier.status("starting the listener")
        self._task = asyncio.create_task(self._run(), name="sd_notify")
        interval = self.notifier.watchdog_interval()
        log.info("systemd notify socket %s; watchdog %s", self.notifier.socket_path,
                 f"every {interval:.1f} s" if interval else "off")

    def ready(self) -> None:
        """Tell systemd the agent is up (idempotent). Called on the first heartbeat if not before."""
        if self._ready:
            return
        self._ready = True
        self.notifier.ready(self._status_text())
        log.info("ready: told systemd (READY=1)")

    async def stop(self) -> None:
        self.notifier.stopping("stopping")
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.heartbeat.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.notifier.close()

    def tick(self) -> bool:
        """One watchdog decision: READY on the first heartbeat, then WATCHDOG=1 while it is fresh."""
        age = self.heartbeat.age()
        if age is None:
            return False
        if not self._ready:
            self.ready()
        interval = self.notifier.watchdog_interval()
        if interval is None:
            return False
        if age > min(interval / 2, MAX_BEAT_AGE_S):
            log.warning("listener heartbeat is %.1f s old: withholding WATCHDOG=1", age)
            return False
        if self.notifier.watchdog():
            self.pings += 1
            return True
        return False

    async def _run(self) -> None:
        # Poll quickly until READY, then at the watchdog's cadence (WATCHDOG_USEC/2).
        while True:
            self.tick()
            if not self._ready:
                await asyncio.sleep(0.05)
                continue
            interval = self.notifier.watchdog_interval()
            if interval is None:
                return  # no watchdog: READY was all there was to do here
            await asyncio.sleep(interval)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, StateChanged):
            self._state = event.state
            self.notifier.status(self._status_text())
        elif isinstance(event, ErrorEvent):
            from edge_agent.logs import redact

            # `systemctl status` is readable by any local user: no secret goes there either.
            self.notifier.status(redact(f"{self._status_text()}; last error ({event.stage}): {event.message}"))

    def _status_text(self) -> str:
        return f"state: {self._state}" if self._state is not None else "listening"


def reload_settings(path: str | os.PathLike[str] | None, current: Settings, bus: EventBus | None = None,
                    service: SystemdService | None = None) -> Settings:
    """SIGHUP: the config read again, or ``current`` kept when the new one is invalid.

    A refused config is logged and published as an ``error`` event (stage ``config``), so MQTT and
    ``systemctl status`` show it while the agent goes on with the settings it had."""
    from edge_agent.config import load_settings
    from edge_agent.errors import ConfigError

    if service is not None:
        service.notifier.reloading()
    try:
        new = load_settings(path)
    except ConfigError as exc:
        message = f"reload refused, keeping the running config: {exc.message}"
        log.error("%s", message)
        if bus is not None:
            bus.publish(ErrorEvent(stage="config", message=message))
        return current
    finally:
        if service is not None and service.is_ready:
            service.notifier.ready()  # the reload is over (either way): READY=1 ends RELOADING=1
    log.info("config reloaded from %s", path or "the default location")
    return new


def service_from_env() -> SystemdService | None:
    """The service if the agent runs under systemd (``$NOTIFY_SOCKET`` set), else None."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return None
    return SystemdService()

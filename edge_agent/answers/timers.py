"""Kitchen timers on the asyncio loop: start, cancel, how long is left, and the alarm.

The alarm is a :class:`~edge_agent.events.TimerEvent` (``finished``) handed to ``on_event`` (the
bus: logs, ``--events`` and MQTT ``event/timer``) and a sentence handed to ``on_alarm`` (the
conversation speaks it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_agent.events import Event, TimerEvent


def spoken_duration(seconds: float, as_name: bool = False) -> str:
    """``3725`` → ``1 hour, 2 minutes and 5 seconds`` (``as_name``: ``5 minute``, as in "5 minute timer")."""
    total = max(0, int(round(seconds)))
    parts = []
    for size, unit in ((3600, "hour"), (60, "minute"), (1, "second")):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 and not as_name else ''}")
    if not parts:
        return "0 seconds"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass
class Timer:
    name: str
    seconds: float
    ends_at: float
    handle: asyncio.TimerHandle | None = field(default=None, repr=False)

    def left(self, now: float) -> float:
        return max(0.0, self.ends_at - now)


class TimerBook:
    """The running timers. ``start`` needs a running loop (the alarm is scheduled on it)."""

    def __init__(self, on_event: Callable[[Event], Any] | None = None,
                 on_alarm: Callable[[str], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.on_event = on_event
        self.on_alarm = on_alarm
        self._clock = clock
        self._timers: list[Timer] = []

    @property
    def running(self) -> list[Timer]:
        return list(self._timers)

    def start(self, seconds: float, name: str | None = None) -> Timer:
        label = name or f"{spoken_duration(seconds, as_name=True)} timer"
        timer = Timer(name=label, seconds=seconds, ends_at=self._clock() + seconds)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            timer.handle = loop.call_later(seconds, self._ring, timer)
        self._timers.append(timer)
        self._emit(TimerEvent(action="started", name=label, seconds=float(seconds)))
        return timer

    def cancel(self, everything: bool = False) -> list[Timer]:
        """Cancel the newest timer (or all); returns the cancelled ones."""
        gone = list(self._timers) if everything else self._timers[-1:]
        for timer in gone:
            if timer.handle is not None:
                timer.handle.cancel()
            self._timers.remove(timer)
            self._emit(TimerEvent(action="cancelled", name=timer.name, seconds=timer.seconds))
        return gone

    def status(self) -> str:
        now = self._clock()
        if not self._timers:
            return "There is no timer running."
        parts = [f"{spoken_duration(t.left(now))} left on the {t.name}" for t in self._timers]
        return "There " + ("is " if len(parts) == 1 else "are ") + "; ".join(parts) + "."

    def _ring(self, timer: Timer) -> None:
        if timer in self._timers:
            self._timers.remove(timer)
        self._emit(TimerEvent(action="finished", name=timer.name, seconds=timer.seconds))
        if self.on_alarm is not None:
            self.on_alarm(f"Your {timer.name} is done.")

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

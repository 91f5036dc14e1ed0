"""The retained ``metrics`` payload: process CPU and memory, temperature where the board exposes it,
latency percentiles of recent turns, and counters. Fed with bus events on the bridge's worker thread."""

from __future__ import annotations

import math
import time
from collections import deque
from pathlib import Path
from typing import Any

import psutil

from edge_agent.events import Event, EventType, TurnDone

THERMAL_DIR = Path("/sys/class/thermal")


def read_temperature_c(base: Path = THERMAL_DIR) -> float | None:
    """The hottest thermal zone in degrees Celsius, or None where none is readable (VMs, containers)."""
    best: float | None = None
    for zone in sorted(base.glob("thermal_zone*")):
        try:
            milli = int((zone / "temp").read_text().strip())
        except (OSError, ValueError):
            continue
        value = milli / 1000.0
        if -50.0 < value < 150.0 and (best is None or value > best):
            best = value
    return best


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(q / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


class Metrics:
    def __init__(self, window: int = 50) -> None:
        self._latencies: deque[float] = deque(maxlen=window)
        self.wakes = 0
        self.turns = 0
        self._started = time.monotonic()
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # primes the counter: the next call measures since now

    def observe(self, event: Event) -> None:
        if event.type is EventType.WAKE:
            self.wakes += 1
        elif isinstance(event, TurnDone):
            self.turns += 1
            if event.voice_to_voice_ms is not None:
                self._latencies.append(float(event.voice_to_voice_ms))

    def snapshot(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        latencies = sorted(self._latencies)
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        out: dict[str, Any] = {
            "cpu_percent": round(self._process.cpu_percent(None), 1),
            "rss_mb": round(self._process.memory_info().rss / 2**20, 1),
            "temperature_c": read_temperature_c(),
            "latency_ms": {
                "p50": None if p50 is None else round(p50, 1),
                "p95": None if p95 is None else round(p95, 1),
                "turns": len(latencies),
            },
            "wakes": self.wakes,
            "turns": self.turns,
            "uptime_s": round(time.monotonic() - self._started, 1),
        }
        if out["temperature_c"] is None:
            del out["temperature_c"]
        if extra:
            out.update(extra)
        return out

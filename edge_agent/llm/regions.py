"""Which cloud region is nearest and healthy: latency probes, EWMA smoothing, circuit breakers.

Probing runs in a background task (all regions in parallel, every ``probe_interval_s``), never on a
turn's critical path; a turn only reads the current ranking. Real requests feed the same breakers
and record first-token latencies, whose p95 is the hedging trigger."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from edge_agent.compat import StrEnum, timeout
from edge_agent.config import CloudConfig, CloudRegion
from edge_agent.errors import LlmError
from edge_agent.llm.base import Delta, Message
from edge_agent.llm.cloud import CloudRegionModel

if TYPE_CHECKING:
    from edge_agent.config import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
STARTUP_SAMPLES = 5
"""Probes per region in the start-up round (regions in parallel, samples in a row; the minimum counts)."""


class RegionModel(Protocol):
    """A region's chat model that can also be probed: :class:`CloudRegionModel`, or a test fake."""

    name: str
    region: CloudRegion

    def stream(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> AsyncIterator[Delta]: ...

    async def probe(self) -> float: ...

    async def aclose(self) -> None: ...


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Open after ``failures`` consecutive failures; half-open (one trial allowed) after ``cooldown_s``;
    a success closes it, a failure while half-open opens it again for another cool-down."""

    def __init__(self, failures: int, cooldown_s: float, clock: Clock = time.monotonic) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.consecutive_failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allows(self) -> bool:
        return self.state is not BreakerState.OPEN

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self._opened_at = None

    def record_failure(self) -> None:
        state = self.state
        self.consecutive_failures += 1
        if state is BreakerState.HALF_OPEN or self.consecutive_failures >= self.threshold:
            self._opened_at = self._clock()


@dataclass(frozen=True)
class RegionStatus:
    """What ``doctor`` shows for one region."""

    name: str
    base_url: str
    rtt_ms: float | None
    """Smoothed (EWMA) round-trip time of the probe; None until one succeeded."""
    breaker: BreakerState
    healthy: bool
    last_error: str | None = None
    first_token_p95_ms: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "base_url": self.base_url,
            "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 1),
            "breaker": str(self.breaker), "healthy": self.healthy, "last_error": self.last_error,
            "first_token_p95_ms": None if self.first_token_p95_ms is None else round(self.first_token_p95_ms, 1),
        }


class RegionHealth:
    """Everything known about one region: smoothed RTT, breaker, recent first-token latencies."""

    def __init__(self, model: RegionModel, cfg: CloudConfig, clock: Clock = time.monotonic) -> None:
        self.model = model
        self.name = model.region.name
        self.alpha = cfg.ewma_alpha
        self.breaker = CircuitBreaker(cfg.breaker_failures, cfg.breaker_cooldown_s, clock)
        self.rtt_ms: float | None = None
        self.last_ok: bool | None = None
        self.last_error: str | None = None
        self.first_tokens: deque[float] = deque(maxlen=50)

    def record_rtt(self, ms: float) -> None:
        self.rtt_ms = ms if self.rtt_ms is None else self.alpha * ms + (1 - self.alpha) * self.rtt_ms
        self.last_ok = True
        self.last_error = None
        self.breaker.record_success()

    def record_startup_rtt(self, best_ms: float) -> None:
        """The start-up round's best sample so far: replaces the estimate instead of smoothing into it."""
        self.rtt_ms = best_ms
        self.last_ok = True
        self.last_error = None
        self.breaker.record_success()

    def record_failure(self, reason: str) -> None:
        self.last_ok = False
        self.last_error = reason
        self.breaker.record_failure()

    def record_first_token(self, ms: float) -> None:
        self.first_tokens.append(ms)
        self.last_ok = True
        self.last_error = None
        self.breaker.record_success()

    def first_token_p95(self, min_samples: int = 5) -> float | None:
        if len(self.first_tokens) < min_samples:
            return None
        ordered = sorted(self.first_tokens)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]

    @property
    def healthy(self) -> bool:
        return self.breaker.state is BreakerState.CLOSED and self.last_ok is True

    def status(self) -> RegionStatus:
        return RegionStatus(
            name=self.name, base_url=self.model.region.base_url, rtt_ms=self.rtt_ms,
            breaker=self.breaker.state, healthy=self.healthy, last_error=self.last_error,
            first_token_p95_ms=self.first_token_p95(),
        )


class RegionMonitor:
    """The regions, ranked nearest-healthy first, kept fresh by a background probing task."""

    def __init__(self, cfg: CloudConfig, models: Sequence[RegionModel] | None = None, clock: Clock = time.monotonic) -> None:
        self.cfg = cfg
        if models is None:
            models = [CloudRegionModel(cfg, r) for r in cfg.regions]
        self.regions = [RegionHealth(m, cfg, clock) for m in models]
        self._task: asyncio.Task[None] | None = None
        self.first_round = asyncio.Event()

    def get(self, name: str) -> RegionHealth:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)

    async def probe_one(self, region: RegionHealth, samples: int = 1) -> None:
        """``samples`` probes in a row; the fastest counts (the first one pays for the connect, and any
        one sample can be delayed by a busy CPU, which says nothing about the network). With several
        samples the region's RTT is the best so far after each one, so a turn that cannot wait for the
        whole round still sees a ranking."""
        best: float | None = None
        error: LlmError | None = None
        for _ in range(samples):
            try:
                ms = await region.model.probe()
            except LlmError as exc:
                error = exc  # one lost sample of several is noise, not an outage
                continue
            if samples == 1:
                region.record_rtt(ms)
                return
            best = ms if best is None else min(best, ms)
            region.record_startup_rtt(best)
        if best is None and error is not None:
            region.record_failure(error.message)
            log.info("%s", error.message)

    async def probe_all(self, samples: int = 1) -> None:
        """Probe every region whose breaker lets a request through, in parallel."""
        await asyncio.gather(*(self.probe_one(r, samples) for r in self.regions if r.breaker.allows()))

    async def _run(self) -> None:
        try:
            await self.probe_all(STARTUP_SAMPLES)
        finally:
            self.first_round.set()
        while True:
            await asyncio.sleep(self.cfg.probe_interval_s)
            await self.probe_all()

    def start(self) -> None:
        """Kick off probing (the first round in parallel right now). Returns at once."""
        if self._task is None and self.regions:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="region-probes")
        elif not self.regions:
            self.first_round.set()

    async def wait_first_round(self, timeout_s: float) -> None:
        """Cold start only: let the first probe round finish, for at most ``timeout_s``."""
        if self.first_round.is_set() or self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with timeout(timeout_s):
                await self.first_round.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.gather(*(r.model.aclose() for r in self.regions), return_exceptions=True)

    def ranked(self) -> list[RegionHealth]:
        """Regions a request may go to, best first: healthy by smoothed RTT, then the unproven
        (not probed yet, or one recent failure) in config order, then half-open ones. Open breakers are left out."""

        def key(item: tuple[int, RegionHealth]) -> tuple[int, float, int]:
            i, r = item
            state = r.breaker.state
            if state is BreakerState.HALF_OPEN:
                return (2, 0.0, i)
            if r.healthy and r.rtt_ms is not None:
                return (0, r.rtt_ms, i)
            return (1, 0.0, i)

        usable = [(i, r) for i, r in enumerate(self.regions) if r.breaker.allows()]
        return [r for _, r in sorted(usable, key=key)]

    def statuses(self) -> list[RegionStatus]:
        return [r.status() for r in self.regions]


async def probe_regions_async(settings: Settings) -> list[RegionStatus]:
    """One probe of every configured region in parallel (for ``doctor``)."""
    monitor = RegionMonitor(settings.llm.cloud)
    try:
        await monitor.probe_all(STARTUP_SAMPLES)
        return monitor.statuses()
    finally:
        await monitor.stop()

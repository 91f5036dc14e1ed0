"""The LLM router: a ChatModel that picks local or a cloud region per turn and fails over.

The plan for a turn is an ordered list of candidates in tiers (e.g. ``local_first``: local, then the
cloud regions nearest first). Attempts race through one queue:

* the first candidate starts at once;
* one that fails before its first token is replaced at once by the next candidate, inside the same
  first-token budget (``region_failed``, ``local_failed``, ``cloud_failed``);
* when the budget passes with no token, the next tier starts (``budget_missed``) while the slow one
  keeps going: whichever produces a token first wins and the others are cancelled;
* hedging (``llm.cloud.hedge``): when a region has no token by its own p95 first-token latency, the
  next region starts in parallel (``hedge``);
* after the first token the winner streams alone; if it breaks, the reply ends with a short spoken note.

If nothing answers, :class:`LlmError` is raised and the conversation apologises.
Every attempt is reported as an :class:`LlmRoute` event, the winner as :class:`LlmFirstToken`, to
each callback given to :meth:`LlmRouter.subscribe` (the conversation subscribes and stamps its turn id)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from edge_agent.compat import timeout_at
from edge_agent.config import LlmConfig, LlmPolicy
from edge_agent.errors import EdgeAgentError, LlmError
from edge_agent.events import Event, LlmFirstToken, LlmRoute
from edge_agent.llm.base import ChatModel, Delta, Message
from edge_agent.llm.cloud import RegionError
from edge_agent.llm.regions import RegionHealth, RegionMonitor

log = logging.getLogger(__name__)

LOST_CONNECTION_NOTE = " Sorry, I lost my connection."
LOCAL_BROKE_NOTE = " Sorry, I lost my train of thought."
HEDGE_MIN_SAMPLES = 5

OnEvent = Callable[[Event], object]


@dataclass(frozen=True)
class Candidate:
    backend: str
    """``local`` or ``cloud``."""
    model: ChatModel
    tier: int
    region: RegionHealth | None = None

    @property
    def region_name(self) -> str | None:
        return self.region.name if self.region else None

    @property
    def label(self) -> str:
        return f"cloud region {self.region_name!r}" if self.region else "local model"


@dataclass(frozen=True)
class Route:
    backend: str
    region: str | None
    reason: str


_END = object()


@dataclass(eq=False)
class _Attempt:
    cand: Candidate
    reason: str
    started: float
    task: asyncio.Task[None] | None = None
    done: bool = False
    error: str | None = None
    hedged: bool = False


class LlmRouter:
    """A :class:`~edge_agent.llm.base.ChatModel` over a local model and cloud regions.
    ``on_event``: a first subscriber (see :meth:`subscribe`)."""

    name = "router"

    def __init__(
        self,
        cfg: LlmConfig,
        local: ChatModel | None,
        monitor: RegionMonitor | None,
        on_event: OnEvent | None = None,
        local_loader: Callable[[], ChatModel] | None = None,
    ) -> None:
        self.cfg = cfg
        self.local = local
        self.monitor = monitor
        self._subscribers: list[OnEvent] = []
        if on_event is not None:
            self.subscribe(on_event)
        self._local_loader = local_loader
        """Blocking (loads a model file): run by :meth:`start` in a thread while the regions are probed."""
        self.last_route: Route | None = None
        """The route that answered the latest turn (for TurnDone)."""
        self._keywords = [
            re.compile(r"(?<!\w)" + re.escape(k.strip()) + r"(?!\w)", re.IGNORECASE)
            for k in cfg.escalate_keywords if k.strip()
        ]

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start probing every region in parallel (in the background) and, meanwhile, load the local
        model in a thread. Returns when the local model is ready. A local model that cannot be
        loaded is fatal only when nothing else could answer (``local_only``, or no region configured)."""
        if self.monitor is not None:
            self.monitor.start()
        if self._local_loader is not None and self.local is None:
            loader, self._local_loader = self._local_loader, None
            try:
                self.local = await asyncio.get_running_loop().run_in_executor(None, loader)
            except EdgeAgentError as exc:
                if self.cfg.policy is LlmPolicy.LOCAL_ONLY or self.monitor is None or not self.monitor.regions:
                    raise
                log.error("%s; carrying on with the cloud regions only", exc.message)

    async def stop(self) -> None:
        if self.monitor is not None:
            await self.monitor.stop()
        close = getattr(self.local, "close", None)
        if close is not None:
            await asyncio.get_running_loop().run_in_executor(None, close)

    # --- planning --------------------------------------------------------------------------------

    def escalates(self, messages: list[Message]) -> bool:
        text = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
        return isinstance(text, str) and any(k.search(text) for k in self._keywords)

    async def plan(self, messages: list[Message], policy: LlmPolicy | None = None) -> tuple[list[Candidate], str]:
        """The candidates in order, and the reason for the first one; ``policy`` overrides
        ``llm.policy`` for this turn (the answer router sends open questions to the cloud only)."""
        policy = policy or self.cfg.policy
        escalate = policy is LlmPolicy.LOCAL_FIRST and self.escalates(messages)
        cloud_leads = policy in (LlmPolicy.CLOUD_FIRST, LlmPolicy.CLOUD_ONLY) or escalate
        if self.monitor is not None and cloud_leads:
            # Cold start only: the first probe round is normally done long before the first turn.
            await self.monitor.wait_first_round(min(self.cfg.cloud.probe_timeout_s, self.cfg.first_token_budget_ms / 2000))
        regions = self.monitor.ranked() if self.monitor is not None and policy is not LlmPolicy.LOCAL_ONLY else []

        def cloud(tier: int) -> list[Candidate]:
            return [Candidate("cloud", r.model, tier, r) for r in regions]

        def local(tier: int) -> list[Candidate]:
            return [Candidate("local", self.local, tier)] if self.local is not None and policy is not LlmPolicy.CLOUD_ONLY else []

        if policy is LlmPolicy.LOCAL_ONLY:
            return local(0), "policy"
        if policy is LlmPolicy.CLOUD_ONLY:
            return cloud(0), "policy"
        if escalate and regions:
            return cloud(0) + local(1), "escalation"
        if policy is LlmPolicy.CLOUD_FIRST:
            if not regions:
                return local(0), "no_healthy_region"
            return cloud(0) + local(1), "policy"
        if self.local is None:
            return cloud(0), "no_local_model"
        return local(0) + cloud(1), "policy"

    # --- events ----------------------------------------------------------------------------------

    def subscribe(self, callback: OnEvent) -> Callable[[], None]:
        """Hear every route and first-token event (called on the loop); returns the unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: Event) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("LLM event subscriber failed")

    # --- the turn --------------------------------------------------------------------------------

    async def stream(self, messages: list[Message], tools: list[dict[str, Any]] | None = None,
                     policy: LlmPolicy | None = None) -> AsyncIterator[Delta]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        self.last_route = None
        candidates, first_reason = await self.plan(messages, policy)
        if not candidates:
            raise LlmError(_nothing_to_try(policy or self.cfg.policy))
        budget = self.cfg.first_token_budget_ms / 1000
        queue: asyncio.Queue[tuple[_Attempt, object]] = asyncio.Queue()
        attempts: list[_Attempt] = []
        unstarted = list(candidates)

        async def pump(att: _Attempt) -> None:
            gen = att.cand.model.stream(messages, tools)
            try:
                async for delta in gen:
                    queue.put_nowait((att, delta))
                queue.put_nowait((att, _END))
            except asyncio.CancelledError:
                raise
            except LlmError as exc:
                queue.put_nowait((att, exc))
            except Exception as exc:  # a bug in a backend must not kill the turn
                log.warning("%s raised %s", att.cand.label, type(exc).__name__, exc_info=True)
                queue.put_nowait((att, exc))
            finally:
                aclose = getattr(gen, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()

        def launch(cand: Candidate, reason: str) -> _Attempt:
            unstarted.remove(cand)
            att = _Attempt(cand, reason, loop.time())
            att.task = loop.create_task(pump(att), name=f"llm-{cand.backend}-{cand.region_name or 'local'}")
            attempts.append(att)
            self._emit(LlmRoute(backend=cand.backend, region=cand.region_name, reason=reason))
            return att

        def next_after_miss() -> Candidate | None:
            top = max(a.cand.tier for a in attempts)
            later = [c for c in unstarted if c.tier > top]
            return later[0] if later else (unstarted[0] if unstarted else None)

        def hedge_target(att: _Attempt) -> Candidate | None:
            same = [c for c in unstarted if c.backend == "cloud" and c.tier == att.cand.tier]
            return same[0] if same else None

        def hedge_at(att: _Attempt) -> float | None:
            if not self.cfg.cloud.hedge or att.hedged or att.done or att.cand.region is None:
                return None
            p95 = att.cand.region.first_token_p95(HEDGE_MIN_SAMPLES)
            if p95 is None or p95 / 1000 >= budget or hedge_target(att) is None:
                return None
            return att.started + p95 / 1000

        launch(candidates[0], first_reason)
        miss_at: float | None = t0 + budget
        give_up_at = t0 + self.cfg.total_timeout_s
        winner: _Attempt | None = None
        first: Delta | None = None
        try:
            # --- before the first token: race, fail over, hedge ---------------------------------
            while winner is None:
                hedges = [(t, a) for a in attempts if (t := hedge_at(a)) is not None]
                wake = min([give_up_at, *([miss_at] if miss_at is not None else []), *(t for t, _ in hedges)])
                try:
                    async with timeout_at(wake):
                        att, item = await queue.get()
                except TimeoutError:
                    now = loop.time()
                    if now >= give_up_at:
                        raise LlmError(f"no LLM backend answered within {self.cfg.total_timeout_s:g} s") from None
                    for t, a in hedges:
                        target = hedge_target(a)
                        if now >= t and target is not None:
                            a.hedged = True
                            launch(target, "hedge")
                    if miss_at is not None and now >= miss_at:
                        nxt = next_after_miss()
                        if nxt is not None:
                            launch(nxt, "budget_missed")
                        miss_at = now + budget if unstarted else None
                    continue
                if att.done:
                    continue
                if isinstance(item, Delta):
                    if item.text or item.tool_call is not None:
                        winner, first = att, item
                    continue  # a bare finish before any content: the end marker follows
                att.done = True
                att.error = "it sent an empty reply" if item is _END else _reason(item)
                if att.cand.region is not None:
                    att.cand.region.record_failure(att.error)
                log.info("%s failed before its first token: %s", att.cand.label, att.error)
                if unstarted:
                    nxt = unstarted[0]
                    launch(nxt, _failover_reason(att.cand, nxt))
                elif all(a.done for a in attempts):
                    raise LlmError("no LLM backend answered: " + "; ".join(f"{a.cand.label}: {a.error}" for a in attempts))

            # --- the winner streams alone -------------------------------------------------------
            now = loop.time()
            for a in attempts:
                if a is not winner and not a.done and a.task is not None:
                    a.task.cancel()
                    if a.cand.region is not None and now - a.started > budget:
                        a.cand.region.record_failure("missed the first-token budget")
            cand = winner.cand
            if cand.region is not None:
                cand.region.record_first_token((now - winner.started) * 1000)
            self.last_route = Route(cand.backend, cand.region_name, winner.reason)
            self._emit(LlmFirstToken(ms=(now - t0) * 1000, backend=cand.backend, region=cand.region_name))
            assert first is not None
            yield first
            while True:
                try:
                    async with timeout_at(give_up_at):
                        att, item = await queue.get()
                except TimeoutError:
                    log.warning("%s took longer than %g s in total", cand.label, self.cfg.total_timeout_s)
                    yield Delta(text=_note(cand), finish_reason="error")
                    return
                if att is not winner:
                    continue
                if isinstance(item, Delta):
                    yield item
                    continue
                if item is _END:
                    return
                log.warning("%s broke after its first token: %s", cand.label, _reason(item))
                if cand.region is not None:
                    cand.region.record_failure(_reason(item))
                yield Delta(text=_note(cand), finish_reason="error")
                return
        finally:
            tasks = [a.task for a in attempts if a.task is not None and not a.task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)


def _reason(item: object) -> str:
    if isinstance(item, RegionError):
        return item.detail  # the attempt's label already names the region
    if isinstance(item, LlmError):
        return item.message
    return f"unexpected {type(item).__name__}"


def _failover_reason(failed: Candidate, nxt: Candidate) -> str:
    if failed.backend == "local":
        return "local_failed"
    return "region_failed" if nxt.backend == "cloud" else "cloud_failed"


def _note(cand: Candidate) -> str:
    return LOST_CONNECTION_NOTE if cand.backend == "cloud" else LOCAL_BROKE_NOTE


def _nothing_to_try(policy: LlmPolicy) -> str:
    if policy is LlmPolicy.CLOUD_ONLY:
        return "no cloud region is available (none configured, or every circuit breaker is open)"
    if policy is LlmPolicy.LOCAL_ONLY:
        return "llm.policy is local_only but no local model is loaded"
    return "no LLM backend is available: no local model and no reachable cloud region"

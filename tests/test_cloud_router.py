"""The router's policy, failover and hedging with in-process fakes that have scripted timing (fast)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from edge_agent.config import CloudConfig, LlmConfig
from edge_agent.errors import LlmError
from edge_agent.events import Event, LlmFirstToken, LlmRoute
from edge_agent.llm.regions import BreakerState, CircuitBreaker, RegionMonitor
from edge_agent.llm.router import LOCAL_BROKE_NOTE, LOST_CONNECTION_NOTE, LlmRouter
from edge_agent.testing.cloud_rig import FakeRegionModel, Script, ScriptedModel

MESSAGES = [{"role": "user", "content": "hello there"}]


class Rig:
    def __init__(self, policy: str = "local_first", local: Script | None = None,
                 regions: dict[str, tuple[float, Script]] | None = None, budget_ms: int = 150, **cloud: Any) -> None:
        keywords = cloud.pop("escalate_keywords", [])
        self.cfg = LlmConfig(policy=policy, first_token_budget_ms=budget_ms, total_timeout_s=5, escalate_keywords=keywords,
                             cloud=CloudConfig(**cloud))
        self.local = ScriptedModel("local", local) if local is not None else None
        self.regions = {n: FakeRegionModel(n, rtt, s) for n, (rtt, s) in (regions or {}).items()}
        self.monitor = RegionMonitor(self.cfg.cloud, list(self.regions.values()))
        self.events: list[Event] = []
        self.router = LlmRouter(self.cfg, self.local, self.monitor, self.events.append)

    async def turn(self, messages: list[dict[str, Any]] = MESSAGES) -> str:
        return "".join([d.text async for d in self.router.stream(messages)])

    def routes(self) -> list[tuple[str, str | None, str]]:
        return [(e.backend, e.region, e.reason) for e in self.events if isinstance(e, LlmRoute)]

    def first_token(self) -> LlmFirstToken:
        return [e for e in self.events if isinstance(e, LlmFirstToken)][-1]


def run(coro_fn: Any) -> Any:
    """Run an async test body and check that it leaves no task behind."""

    async def body() -> Any:
        result = await coro_fn()
        await asyncio.sleep(0)
        leaked = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        assert not leaked, f"leaked tasks: {leaked}"
        return result

    return asyncio.run(body())


async def started(rig: Rig) -> Rig:
    await rig.router.start()
    await rig.monitor.wait_first_round(2)
    return rig


def test_local_first_answers_locally_without_touching_the_cloud() -> None:
    async def body() -> None:
        rig = await started(Rig(local=Script(), regions={"eu": (10, Script())}))
        assert await rig.turn() == "Hello from the fake."
        assert rig.routes() == [("local", None, "policy")]
        assert rig.regions["eu"].calls == 0
        assert rig.first_token().backend == "local"
        assert rig.router.last_route is not None and rig.router.last_route.backend == "local"
        await rig.router.stop()

    run(body)


def test_local_failure_goes_to_the_nearest_region() -> None:
    async def body() -> None:
        rig = await started(Rig(local=Script(fail="before"), regions={"far": (40, Script()), "near": (5, Script())}))
        assert await rig.turn() == "Hello from the fake."
        assert rig.routes() == [("local", None, "policy"), ("cloud", "near", "local_failed")]
        await rig.router.stop()

    run(body)


def test_slow_local_model_hands_over_to_the_cloud_at_the_budget() -> None:
    async def body() -> None:
        rig = await started(Rig(local=Script(first_token_ms=2000), regions={"eu": (5, Script(first_token_ms=5))}, budget_ms=100))
        t0 = asyncio.get_running_loop().time()
        assert await rig.turn() == "Hello from the fake."
        assert rig.routes() == [("local", None, "policy"), ("cloud", "eu", "budget_missed")]
        assert rig.first_token().backend == "cloud"
        assert rig.local is not None and rig.local.cancelled == 1
        assert asyncio.get_running_loop().time() - t0 < 2.0  # long before the local model's 2 s
        await rig.router.stop()

    run(body)


def test_slow_local_still_wins_if_it_answers_before_the_cloud() -> None:
    async def body() -> None:
        rig = await started(Rig(local=Script(first_token_ms=150), regions={"eu": (5, Script(first_token_ms=1000))}, budget_ms=100))
        await rig.turn()
        assert rig.first_token().backend == "local"
        assert rig.regions["eu"].cancelled == 1
        await rig.router.stop()

    run(body)


def test_escalation_keyword_goes_to_the_cloud_first() -> None:
    async def body() -> None:
        rig = await started(Rig(local=Script(), regions={"eu": (5, Script())}, escalate_keywords=["translate", "legal advice"]))
        await rig.turn([{"role": "user", "content": "Please TRANSLATE this"}])
        assert rig.routes() == [("cloud", "eu", "escalation")]
        rig.events.clear()
        await rig.turn([{"role": "user", "content": "mistranslated?"}])  # whole words only
        assert rig.routes() == [("local", None, "policy")]
        await rig.router.stop()

    run(body)


def test_cloud_first_picks_the_lowest_latency_region() -> None:
    async def body() -> None:
        rig = await started(Rig("cloud_first", local=Script(), regions={"a": (60, Script()), "b": (20, Script()), "c": (40, Script())}))
        await rig.turn()
        assert rig.routes() == [("cloud", "b", "policy")]
        assert [r.name for r in rig.monitor.ranked()] == ["b", "c", "a"]
        await rig.router.stop()

    run(body)


def test_region_error_before_first_token_moves_to_the_next_region() -> None:
    async def body() -> None:
        rig = await started(Rig("cloud_first", local=Script(), regions={"a": (5, Script(fail="before")), "b": (15, Script())}))
        assert await rig.turn() == "Hello from the fake."
        assert rig.routes() == [("cloud", "a", "policy"), ("cloud", "b", "region_failed")]
        await rig.router.stop()

    run(body)


def test_every_region_failing_falls_back_to_local() -> None:
    async def body() -> None:
        rig = await started(Rig("cloud_first", local=Script(), regions={"a": (5, Script(fail="before")), "b": (15, Script(fail="crash"))}))
        assert await rig.turn() == "Hello from the fake."
        assert rig.routes()[-1] == ("local", None, "cloud_failed")
        await rig.router.stop()

    run(body)


def test_cloud_first_with_no_healthy_region_uses_local() -> None:
    async def body() -> None:
        rig = Rig("cloud_first", local=Script(), regions={"a": (5, Script())}, breaker_failures=1)
        rig.regions["a"].probe_fails = True
        await started(rig)
        assert rig.monitor.statuses()[0].breaker is BreakerState.OPEN
        await rig.turn()
        assert rig.routes() == [("local", None, "no_healthy_region")]
        await rig.router.stop()

    run(body)


def test_hanging_region_gives_way_to_local_within_the_budget() -> None:
    async def body() -> None:
        rig = await started(Rig("cloud_first", local=Script(first_token_ms=5), regions={"a": (5, Script(fail="hang")), "b": (9, Script())}, budget_ms=100))
        await rig.turn()
        assert rig.routes() == [("cloud", "a", "policy"), ("local", None, "budget_missed")]
        assert rig.first_token().ms >= 100  # not before the budget
        assert rig.monitor.get("a").breaker.consecutive_failures == 1
        await rig.router.stop()

    run(body)


def test_cloud_only_tries_the_next_region_when_one_misses_the_budget() -> None:
    async def body() -> None:
        rig = await started(Rig("cloud_only", local=Script(), regions={"a": (5, Script(fail="hang")), "b": (9, Script())}, budget_ms=80))
        await rig.turn()
        assert rig.routes() == [("cloud", "a", "policy"), ("cloud", "b", "budget_missed")]
        assert rig.local is not None and rig.local.calls == 0
        await rig.router.stop()

    run(body)


@pytest.mark.parametrize("backend", ["cloud", "local"])
def test_a_break_after_the_first_token_ends_with_a_spoken_note(backend: str) -> None:
    async def body() -> None:
        policy = "cloud_only" if backend == "cloud" else "local_only"
        rig = await started(Rig(policy, local=Script(fail="after"), regions={"a": (5, Script(fail="after"))}))
        deltas = [d async for d in rig.router.stream(MESSAGES)]
        assert deltas[0].text == "Hello"
        assert deltas[-1].finish_reason == "error"
        assert deltas[-1].text == (LOST_CONNECTION_NOTE if backend == "cloud" else LOCAL_BROKE_NOTE)
        await rig.router.stop()

    run(body)


def test_nothing_answering_raises_llm_error_naming_each_backend() -> None:
    async def body() -> None:
        rig = await started(Rig(local=Script(fail="crash"), regions={"a": (5, Script(fail="before")), "b": (5, Script(fail="empty"))}))
        with pytest.raises(LlmError) as info:
            await rig.turn()
        msg = info.value.message
        assert "local model: unexpected RuntimeError" in msg and "'a'" in msg and "empty reply" in msg
        await rig.router.stop()

    run(body)


def test_cloud_only_with_every_breaker_open_says_so() -> None:
    async def body() -> None:
        rig = Rig("cloud_only", regions={"a": (5, Script())}, breaker_failures=1)
        rig.regions["a"].probe_fails = True
        await started(rig)
        with pytest.raises(LlmError, match="no cloud region is available"):
            await rig.turn()
        await rig.router.stop()

    run(body)


def test_local_only_never_touches_the_cloud() -> None:
    async def body() -> None:
        rig = await started(Rig("local_only", local=Script(fail="before"), regions={"a": (5, Script())}))
        with pytest.raises(LlmError):
            await rig.turn()
        assert rig.regions["a"].calls == 0
        await rig.router.stop()

    run(body)


def test_hedge_starts_the_next_region_at_the_usual_p95() -> None:
    async def body() -> None:
        rig = await started(Rig("cloud_only", regions={"a": (5, Script(first_token_ms=10)), "b": (9, Script(first_token_ms=10))},
                                budget_ms=500, hedge=True))
        for _ in range(6):  # a's usual first token: ~10 ms
            await rig.turn()
        rig.regions["a"].script = Script(first_token_ms=400)  # a is having a bad moment
        rig.events.clear()
        await rig.turn()
        assert rig.routes() == [("cloud", "a", "policy"), ("cloud", "b", "hedge")]
        assert rig.first_token().region == "b"
        await rig.router.stop()

    run(body)


def test_consumer_cancelling_mid_reply_stops_every_backend() -> None:
    async def body() -> None:
        rig = await started(Rig(local=Script(first_token_ms=5, token_ms=100, tokens=("a",) * 50), regions={"eu": (5, Script())}))
        gen = rig.router.stream(MESSAGES)
        assert (await anext(gen)).text == "a"
        await gen.aclose()
        assert rig.local is not None and rig.local.cancelled == 1
        await rig.router.stop()

    run(body)


def test_breaker_opens_after_n_failures_and_half_opens_after_the_cooldown() -> None:
    now = [0.0]
    b = CircuitBreaker(failures=3, cooldown_s=30, clock=lambda: now[0])
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN and not b.allows()
    now[0] = 29.9
    assert b.state is BreakerState.OPEN
    now[0] = 30.0
    assert b.state is BreakerState.HALF_OPEN and b.allows()
    b.record_failure()  # the trial failed: open for another cool-down
    assert b.state is BreakerState.OPEN
    now[0] = 60.0
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.consecutive_failures == 0


def test_ewma_smooths_rtt_and_background_probes_rerank() -> None:
    async def body() -> None:
        rig = Rig("cloud_first", regions={"a": (10, Script()), "b": (30, Script())}, ewma_alpha=0.5, probe_interval_s=0.02)
        await started(rig)
        assert [r.name for r in rig.monitor.ranked()] == ["a", "b"]
        rig.regions["a"].rtt_ms = 50
        for _ in range(100):
            await asyncio.sleep(0.02)
            if rig.monitor.ranked()[0].name == "b":
                break
        rtt = rig.monitor.get("a").rtt_ms
        assert rtt is not None and 30 < rtt <= 50
        assert [r.name for r in rig.monitor.ranked()] == ["b", "a"]
        await rig.router.stop()

    run(body)


def test_start_loads_the_local_model_while_probing_and_survives_a_missing_one() -> None:
    from edge_agent.errors import ModelError

    def missing() -> ScriptedModel:
        raise ModelError("LLM model file /nope.gguf does not exist")

    async def body() -> None:
        rig = Rig(regions={"eu": (5, Script())})
        rig.router._local_loader = lambda: ScriptedModel("loaded")
        await rig.router.start()
        assert rig.router.local is not None and rig.router.local.name == "loaded"
        await rig.router.stop()

        rig = Rig(regions={"eu": (5, Script())})
        rig.router._local_loader = missing
        await rig.router.start()  # the cloud can still answer: logged, not fatal
        await rig.monitor.wait_first_round(2)
        await rig.turn()
        assert rig.routes() == [("cloud", "eu", "no_local_model")]
        await rig.router.stop()

        rig = Rig("local_only", regions={"eu": (5, Script())})
        rig.router._local_loader = missing
        with pytest.raises(ModelError):
            await rig.router.start()
        await rig.router.stop()

    run(body)


def test_factory_refuses_a_cloud_policy_without_regions() -> None:
    from edge_agent.config import Settings
    from edge_agent.errors import ConfigError
    from edge_agent.llm.factory import build_chat_model

    with pytest.raises(ConfigError, match="no \\[\\[llm.cloud.regions\\]\\]"):
        build_chat_model(Settings(llm={"policy": "cloud_only"}), None)  # type: ignore[arg-type]


def test_events_reach_every_subscriber_until_it_unsubscribes() -> None:
    async def body() -> None:
        rig = await started(Rig(local=Script()))
        late: list[Event] = []
        unsubscribe = rig.router.subscribe(late.append)

        def broken(event: Event) -> None:
            raise RuntimeError("a subscriber's bug")

        rig.router.subscribe(broken)  # logged, and the others still hear every event
        assert await rig.turn() == "Hello from the fake."
        assert [type(e) for e in late] == [LlmRoute, LlmFirstToken] and late == rig.events
        unsubscribe()
        unsubscribe()  # twice is harmless
        await rig.turn()
        assert len(late) == 2 and len(rig.events) == 4
        await rig.router.stop()

    run(body)

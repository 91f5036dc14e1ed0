"""``edge-agent bench cloud``: the cloud fallback's targets, measured on loopback.

What runs where (say it in every report):
* region choice, failover and the faulted volume go through the real client stack (httpx, SSE parsing,
  probes, breakers, router) to a fast fake OpenAI-compatible server behind fault proxies (one proxy
  per "region"); the local model is a scripted fake with random faults;
* hedging uses in-process fake regions with a heavy-tailed first-token latency;
* ``real_server``: the same region-choice and fault cycle against a real ``llama_cpp.server`` with
  SmolLM2 (one process, 1 thread) behind the proxies, when the model is present (``--no-real`` skips).

Targets: the lowest-RTT healthy region chosen in 100% of trials when RTTs differ by >= 20 ms; failover
to the next region or to local within the first-token budget + 200 ms; 1,000 faulted requests with zero
unhandled exceptions, every turn answered or apologised for."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("cloud", help="benchmark: cloud fallback (nearest region, failover, faults, hedging)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--trials", type=int, default=20, help="region-choice trials (default 20)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each failover scenario (default 3)")
    p.add_argument("--faulted", type=int, default=1000, help="faulted requests (default 1000)")
    p.add_argument("--budget-ms", type=int, default=800, help="first-token budget for the failover runs (default 800)")
    p.add_argument("--no-real", action="store_true", help="skip the real llama_cpp.server part")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from edge_agent.errors import UsageError

    if args.trials < 1 or args.repeats < 1 or args.faulted < 0 or args.budget_ms < 50:
        raise UsageError("--trials and --repeats must be >= 1, --faulted >= 0, --budget-ms >= 50")
    result = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_text(result)
    return 0 if all(result["targets"].values()) else 1


# --- helpers ------------------------------------------------------------------------------------


def _summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "median": None, "p95": None, "max": None}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
        "max": round(ordered[-1], 1),
    }


def _cfg(urls: dict[str, str], policy: str, budget_ms: int, **cloud: Any) -> Any:
    from edge_agent.config import CloudConfig, CloudRegion, LlmConfig

    key = "sk-bench-not-a-real-key"
    cloud.setdefault("probe_timeout_s", 0.5)
    cloud.setdefault("connect_timeout_ms", 300)
    cloud.setdefault("stall_timeout_ms", 2000)
    regions = [CloudRegion(name=n, base_url=u, model="fake") for n, u in urls.items()]
    return LlmConfig(policy=policy, first_token_budget_ms=budget_ms, total_timeout_s=10,
                     cloud=CloudConfig(api_key=key, regions=regions, **cloud))


class _Turn:
    """One router plus what it reported."""

    def __init__(self, cfg: Any, local: Any) -> None:
        from edge_agent.bus import EventBus
        from edge_agent.llm.regions import RegionMonitor
        from edge_agent.llm.router import LlmRouter

        self.events: list[Any] = []
        bus = EventBus()  # stamps wall_t
        bus.subscribe(self.events.append)
        self.monitor = RegionMonitor(cfg.cloud)
        self.router = LlmRouter(cfg, local, self.monitor, bus.publish)

    async def start(self) -> None:
        await self.router.start()
        await self.monitor.wait_first_round(5)

    async def ask(self, text: str = "hello") -> tuple[str, str]:
        """(outcome, text): outcome is answered, apologised (a note or LlmError) or the exception's type."""
        from edge_agent.errors import LlmError

        self.events.clear()
        out: list[str] = []
        try:
            async for d in self.router.stream([{"role": "user", "content": text}]):
                out.append(d.text)
                if d.finish_reason == "error":
                    return "apologised", "".join(out)
        except LlmError:
            return "apologised", ""
        return ("answered" if "".join(out).strip() else "empty"), "".join(out)

    def route_ms(self, index: int) -> float | None:
        routes = [e for e in self.events if e.type == "llm_route"]
        if len(routes) <= index:
            return None
        t0 = routes[0].wall_t if routes[0].wall_t is not None else 0.0
        t = routes[index].wall_t
        return None if t is None else (t - t0) * 1000


# --- the parts ----------------------------------------------------------------------------------


async def _region_choice(target_port: int | None, trials: int, seed: int, model: str = "fake",
                         probe_timeout_s: float = 0.5) -> dict[str, Any]:
    """Fresh monitor per trial (a fresh process), one-way delays 0/10/20 ms (RTTs 20 ms apart),
    shuffled across region names and config order; is the first turn routed to the nearest?
    The proxies (and the fake server, when ``target_port`` is None) run in a process of their own."""
    import random

    from edge_agent.testing.cloud_rig import RigProcess, ScriptedModel

    rnd = random.Random(seed)
    delays = [0.0, 10.0, 20.0]
    servers = RigProcess(delays, target_port, api_key="sk-bench-not-a-real-key")
    correct = 0
    misses: list[dict[str, Any]] = []
    rtts: dict[float, list[float]] = {d: [] for d in delays}
    try:
        for _ in range(trials):
            names = ["eu", "us", "ap"]
            rnd.shuffle(names)
            order = list(range(3))
            rnd.shuffle(order)
            urls = {names[i]: servers.proxy_urls[i] for i in order}
            cfg = _cfg(urls, "cloud_first", 3000, probe_timeout_s=probe_timeout_s)
            for r in cfg.cloud.regions:
                r.model = model
            turn = _Turn(cfg, ScriptedModel("local"))
            await turn.start()
            outcome, _ = await turn.ask()
            route = next(e for e in turn.events if e.type == "llm_route")
            nearest = names[0]  # the first proxy has the smallest delay
            if route.region == nearest and outcome == "answered":
                correct += 1
            else:
                misses.append({"chosen": route.region, "nearest": nearest, "outcome": outcome,
                               "rtt_ms": {s.name: s.rtt_ms and round(s.rtt_ms, 1) for s in turn.monitor.statuses()},
                               "errors": {s.name: s.last_error for s in turn.monitor.statuses() if s.last_error}})
            for i, name in enumerate(names):
                rtt = turn.monitor.get(name).rtt_ms
                if rtt is not None:
                    rtts[delays[i]].append(rtt)
            await turn.router.stop()
    finally:
        servers.close()
    return {
        "trials": trials, "nearest_chosen": correct, "pct": round(100 * correct / trials, 1), "misses": misses,
        "one_way_delays_ms": delays,
        "probe_rtt_ms_by_delay": {str(int(d)): _summary(v) for d, v in rtts.items()},
    }


async def _failover(rig: Any, target_port: int, budget_ms: int, repeats: int) -> dict[str, Any]:
    """Each fault on the nearest region, with a healthy region (or only the local model) behind it."""
    from edge_agent.testing.cloud_rig import FaultProxy, Script, ScriptedModel

    faults = ["http500", "killed", "blackhole", "slow", "cut_before_token"]
    out: dict[str, Any] = {}
    ok = True
    for target in ("region", "local"):
        for fault in faults:
            switch, first = [], []
            for _ in range(repeats):
                bad, good = FaultProxy(target_port, 0), FaultProxy(target_port, 40)  # bad clearly leads
                await _on(rig, bad.start())
                await _on(rig, good.start())
                # to a region: cloud_only, bad nearest; to local: cloud_first with the bad region alone
                # (cloud_first goes to local as soon as the cloud misses its budget, by design)
                if target == "region":
                    urls, policy = {"bad": bad.base_url, "good": good.base_url}, "cloud_only"
                else:
                    urls, policy = {"bad": bad.base_url}, "cloud_first"
                turn = _Turn(_cfg(urls, policy, budget_ms, breaker_failures=5), ScriptedModel("local", Script(first_token_ms=5)))
                await turn.start()
                if fault == "killed":
                    await _on(rig, bad.kill())
                elif fault == "slow":
                    bad.first_byte_delay_ms = budget_ms + 1000
                    await _on(rig, bad.set_mode("pass"))
                elif fault == "cut_before_token":
                    bad.cut_after = 40
                    await _on(rig, bad.set_mode("cut"))
                else:
                    await _on(rig, bad.set_mode(fault))
                outcome, _ = await turn.ask()
                routes = [e for e in turn.events if e.type == "llm_route"]
                ft = next((e for e in turn.events if e.type == "llm_first_token"), None)
                expected = "cloud" if target == "region" else "local"
                if outcome != "answered" or len(routes) < 2 or routes[-1].backend != expected or ft is None:
                    ok = False
                else:
                    switch.append(turn.route_ms(len(routes) - 1) or 0.0)
                    first.append((ft.wall_t - routes[0].wall_t) * 1000)
                await turn.router.stop()
                await _on(rig, bad.kill())
                await _on(rig, good.kill())
            within = bool(first) and max(first) <= budget_ms + 200 and len(first) == repeats
            ok = ok and within
            out[f"{fault}->{target}"] = {"switch_ms": _summary(switch), "first_token_ms": _summary(first),
                                         "within_budget_plus_200ms": within}
    return {"budget_ms": budget_ms, "repeats": repeats, "scenarios": out, "all_within": ok}


async def _faulted(rig: Any, target_port: int, n: int, seed: int) -> dict[str, Any]:
    """n requests, 20 at a time, every policy, while a chaos task flips the 3 regions between healthy,
    500, blackhole, killed, slow and cut mid-stream, and the local model fails at random."""
    import asyncio
    import random

    from edge_agent.testing.cloud_rig import FaultProxy, Script, ScriptedModel

    rnd = random.Random(seed)
    proxies = [FaultProxy(target_port, d) for d in (0.0, 5.0, 10.0)]
    for p in proxies:
        await _on(rig, p.start())
    budget = 200
    scripts = [Script(first_token_ms=5), Script(first_token_ms=5), Script(fail="before"), Script(fail="after"),
               Script(fail="hang"), Script(fail="crash"), Script(fail="empty"), Script(first_token_ms=400)]

    class ChaosLocal(ScriptedModel):
        def stream(self, messages: Any, tools: Any = None) -> Any:
            self.script = rnd.choice(scripts)
            return super().stream(messages, tools)

    local = ChaosLocal("local")
    policies = ["local_first", "cloud_first", "local_only", "cloud_only"]
    turns = {}
    for policy in policies:
        urls = {f"r{i}": p.base_url for i, p in enumerate(proxies)}
        cfg = _cfg(urls, policy, budget, breaker_failures=3, breaker_cooldown_s=0.5, probe_interval_s=0.25,
                   probe_timeout_s=0.3, stall_timeout_ms=500)
        cfg.total_timeout_s = 2.0  # a hung local model (the last resort) is given up on after this
        turns[policy] = _Turn(cfg, local)
        await turns[policy].start()

    async def chaos() -> None:
        modes = ["pass", "pass", "pass", "http500", "blackhole", "killed", "slow", "cut"]
        while True:
            await asyncio.sleep(0.05)
            p = rnd.choice(proxies)
            mode = rnd.choice(modes)
            if mode == "killed":
                await _on(rig, p.kill())
                continue
            await _on(rig, p.revive())
            p.first_byte_delay_ms = 600.0 if mode == "slow" else 0.0
            p.cut_after = rnd.choice([40, 400, 900])
            await _on(rig, p.set_mode("pass" if mode == "slow" else mode))

    counts: dict[str, int] = {}
    unhandled: list[str] = []
    sem = asyncio.Semaphore(20)

    async def one(i: int) -> None:
        async with sem:
            turn = turns[policies[i % len(policies)]]
            try:
                outcome, _ = await turn.ask(f"question {i}")
            except Exception as exc:  # counted: the target is zero
                outcome = f"unhandled:{type(exc).__name__}"
                unhandled.append(repr(exc)[:200])
            counts[outcome] = counts.get(outcome, 0) + 1

    loop = asyncio.get_running_loop()
    chaos_task = loop.create_task(chaos())
    t0 = loop.time()
    try:
        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        chaos_task.cancel()
        await asyncio.gather(chaos_task, return_exceptions=True)
        for turn in turns.values():
            await turn.router.stop()
        for p in proxies:
            await _on(rig, p.kill())
    elapsed = loop.time() - t0
    answered = counts.get("answered", 0)
    apologised = counts.get("apologised", 0)
    return {
        "requests": n, "answered": answered, "apologised": apologised,
        "other": {k: v for k, v in counts.items() if k not in ("answered", "apologised")},
        "unhandled_exceptions": len(unhandled), "unhandled_examples": unhandled[:5],
        "every_turn_answered_or_apologised": answered + apologised == n and not unhandled,
        "budget_ms": budget, "seconds": round(elapsed, 1),
    }


async def _hedging(n: int, seed: int) -> dict[str, Any]:
    """Region a: first token 30 ms, 4% of the time 400 ms (a tail beyond its p95); region b: 60 ms.
    Hedge off vs on; ``hedged_requests`` is what hedging costs in extra requests."""
    import random

    from edge_agent.config import CloudConfig, LlmConfig
    from edge_agent.llm.regions import RegionMonitor
    from edge_agent.llm.router import LlmRouter
    from edge_agent.testing.cloud_rig import FakeRegionModel, Script

    out: dict[str, Any] = {}
    for hedge in (False, True):
        rnd = random.Random(seed)
        a, b = FakeRegionModel("a", 5), FakeRegionModel("b", 15, Script(first_token_ms=60))
        cfg = LlmConfig(policy="cloud_only", first_token_budget_ms=800, cloud=CloudConfig(hedge=hedge))
        monitor = RegionMonitor(cfg.cloud, [a, b])
        events: list[Any] = []
        router = LlmRouter(cfg, None, monitor, events.append)
        await router.start()
        await monitor.wait_first_round(2)
        firsts, hedges = [], 0
        for _ in range(n):
            a.script = Script(first_token_ms=400 if rnd.random() < 0.04 else 30)
            events.clear()
            _ = [d async for d in router.stream([{"role": "user", "content": "hi"}])]
            firsts += [e.ms for e in events if e.type == "llm_first_token"]
            hedges += sum(1 for e in events if e.type == "llm_route" and e.reason == "hedge")
        await router.stop()
        out["hedge_on" if hedge else "hedge_off"] = {"first_token_ms": _summary(firsts), "hedged_requests": hedges}
    return {"requests": n, **out}


async def _real(rig: Any, trials: int, repeats: int, seed: int) -> dict[str, Any]:
    from edge_agent.config import Settings
    from edge_agent.models import ModelManager
    from edge_agent.testing.cloud_rig import FaultProxy, LlamaServer, ScriptedModel

    manager = ModelManager(Settings().paths.models_dir)
    name, file = "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not manager.is_ok(name):
        return {"skipped": f"model {name} missing: run `edge-agent models pull {name}`"}
    server = LlamaServer(manager.require(name, file), api_key="sk-bench-not-a-real-key", threads=1)
    server.start(timeout_s=120)
    try:
        choice = await _region_choice(server.port, trials, seed, model="smollm2", probe_timeout_s=2.0)
        budget = 1500
        cycle = ["pass", "http500", "blackhole", "killed_mid_stream", "cut_before_token"]
        outcomes: dict[str, dict[str, Any]] = {}
        for fault in cycle:
            firsts, results = [], []
            for _ in range(repeats):
                near, far = FaultProxy(server.port, 0), FaultProxy(server.port, 15)
                await _on(rig, near.start())
                await _on(rig, far.start())
                long_reply = fault == "killed_mid_stream"  # so the kill lands while it still streams
                turn = _Turn(_cfg({"near": near.base_url, "far": far.base_url}, "cloud_first", budget,
                                  max_tokens=100 if long_reply else 48, stall_timeout_ms=15000), ScriptedModel("local"))
                await turn.start()
                if fault == "cut_before_token":
                    near.cut_after = 40
                    await _on(rig, near.set_mode("cut"))
                elif fault not in ("pass", "killed_mid_stream"):
                    await _on(rig, near.set_mode(fault))
                if fault == "killed_mid_stream":
                    gen = turn.router.stream([{"role": "user", "content": "Count from one to one hundred, in words."}])
                    first = await anext(gen)
                    await _on(rig, near.kill())
                    rest = [d async for d in gen]
                    outcome = "apologised" if rest and rest[-1].finish_reason == "error" else "answered"
                    results.append(outcome if first.text else "empty")
                else:
                    outcome, _ = await turn.ask("Say hello in five words.")
                    results.append(outcome)
                routes = [e for e in turn.events if e.type == "llm_route"]
                ft = next((e for e in turn.events if e.type == "llm_first_token"), None)
                if ft is not None and routes:
                    firsts.append((ft.wall_t - routes[0].wall_t) * 1000)
                await turn.router.stop()
                await _on(rig, near.kill())
                await _on(rig, far.kill())
            outcomes[fault] = {"outcomes": results, "first_token_ms": _summary(firsts)}
        return {"server": "llama_cpp.server, SmolLM2-135M Q4_1, n_threads=1", "region_choice": choice,
                "fault_cycle_budget_ms": budget, "fault_cycle": outcomes}
    finally:
        server.stop()


async def _timed(coro: Any) -> dict[str, Any]:
    import time

    t0 = time.perf_counter()
    out: dict[str, Any] = await coro
    out.setdefault("seconds", round(time.perf_counter() - t0, 1))
    return out


async def _on(rig: Any, coro: Any) -> Any:
    import asyncio

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, rig.loop))


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    from edge_agent.testing.cloud_rig import FakeOpenAiServer, LoopThread

    logging.getLogger("edge_agent.llm").setLevel(logging.ERROR)  # thousands of expected failures
    logging.getLogger("httpx").setLevel(logging.WARNING)
    rig = LoopThread()
    fake = FakeOpenAiServer(api_key="sk-bench-not-a-real-key")
    rig.run(fake.start())
    try:
        choice = await _timed(_region_choice(None, args.trials, args.seed))
        failover = await _timed(_failover(rig, fake.port, args.budget_ms, args.repeats))
        faulted = await _timed(_faulted(rig, fake.port, args.faulted, args.seed)) if args.faulted else {"requests": 0}
        hedging = await _timed(_hedging(200, args.seed))
        real: dict[str, Any] = (
            {"skipped": "--no-real"} if args.no_real
            else await _timed(_real(rig, max(5, args.trials // 2), args.repeats, args.seed))
        )
    finally:
        rig.run(fake.stop())
        rig.close()
    real_choice: dict[str, Any] = real.get("region_choice") or {}
    targets = {
        "nearest_region_100pct": choice["pct"] == 100.0 and real_choice.get("pct", 100.0) == 100.0,
        "failover_within_budget_plus_200ms": failover["all_within"],
        "faulted_zero_unhandled_all_answered_or_apologised": bool(faulted.get("every_turn_answered_or_apologised", True)),
    }
    return {"region_choice": choice, "failover": failover, "faulted": faulted, "hedging": hedging,
            "real_server": real, "targets": targets}


def _print_text(r: dict[str, Any]) -> None:
    w = sys.stdout.write
    c = r["region_choice"]
    w(f"nearest region chosen: {c['nearest_chosen']}/{c['trials']} ({c['pct']}%), one-way delays {c['one_way_delays_ms']} ms\n")
    f = r["failover"]
    w(f"failover (budget {f['budget_ms']} ms, {f['repeats']} runs each): first token median / max ms\n")
    for name, s in f["scenarios"].items():
        ft = s["first_token_ms"]
        w(f"  {name:28s} switch {s['switch_ms']['median']} ms, first token {ft['median']} / {ft['max']} {'ok' if s['within_budget_plus_200ms'] else 'MISSED'}\n")
    q = r["faulted"]
    if q.get("requests"):
        w(f"faulted: {q['requests']} requests, {q['answered']} answered, {q['apologised']} apologised, other {q['other']}, "
          f"{q['unhandled_exceptions']} unhandled, {q['seconds']} s\n")
    h = r["hedging"]
    for k in ("hedge_off", "hedge_on"):
        ft = h[k]["first_token_ms"]
        w(f"{k}: first token median {ft['median']} p95 {ft['p95']} max {ft['max']} ms, hedged {h[k]['hedged_requests']}/{h['requests']}\n")
    real = r["real_server"]
    if "skipped" in real:
        w(f"real server: skipped ({real['skipped']})\n")
    else:
        rc = real["region_choice"]
        w(f"real server ({real['server']}): nearest {rc['nearest_chosen']}/{rc['trials']}; faults: "
          + ", ".join(f"{k}={v['outcomes']}" for k, v in real["fault_cycle"].items()) + "\n")
    w("targets: " + ", ".join(f"{k}={'met' if v else 'MISSED'}" for k, v in r["targets"].items()) + "\n")

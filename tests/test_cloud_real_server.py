"""The cloud fallback against a real OpenAI-compatible server: llama-cpp-python's own ``llama_cpp.server``
with SmolLM2, one process for the session, fronted by fault proxies that act as regions."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from llm_servers import *  # noqa: F403 (the fixtures)
from llm_servers import API_KEY, SMOLLM, MakeProxy

from edge_agent.config import CloudConfig, CloudRegion, LlmConfig, Settings
from edge_agent.events import Event, LlmFirstToken, LlmRoute
from edge_agent.llm.factory import build_chat_model
from edge_agent.llm.regions import RegionMonitor
from edge_agent.llm.router import LOST_CONNECTION_NOTE, LlmRouter
from edge_agent.models import ModelManager
from edge_agent.testing.cloud_rig import LlamaServer, LoopThread

pytestmark = [pytest.mark.real_server, pytest.mark.slow]

QUESTION = [{"role": "user", "content": "Say hello in five words."}]


def regions(proxies: dict[str, Any]) -> list[CloudRegion]:
    return [CloudRegion(name=n, base_url=p.base_url, model="smollm2") for n, p in proxies.items()]


def on_rig(rig: LoopThread, coro: Any) -> Any:
    return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, rig.loop))


def wait_until_idle(server: LlamaServer) -> None:
    """The server runs one generation at a time: a tiny request answered means it is free."""
    body = {"model": "x", "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}
    httpx.post(f"{server.base_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)


def routes(events: list[Event]) -> list[tuple[str, str | None, str]]:
    return [(e.backend, e.region, e.reason) for e in events if isinstance(e, LlmRoute)]


def test_nearest_region_answers_and_faults_fail_over(llama_server: LlamaServer, proxies: MakeProxy, rig: LoopThread) -> None:
    # one-way delays 50 / 0 / 25 ms: round trips differ by >= 50 ms (margin for a busy CI machine)
    far, near, mid = proxies(llama_server.port, 50), proxies(llama_server.port, 0), proxies(llama_server.port, 25)
    cloud = CloudConfig(api_key=API_KEY, regions=regions({"far": far, "near": near, "mid": mid}), max_tokens=24,
                        probe_timeout_s=2, connect_timeout_ms=500, breaker_failures=2,
                        stall_timeout_ms=30000)  # one server: a request may queue behind an abandoned one
    # a generous budget: this machine may be busy; only the blackhole step below is about the budget
    cfg = LlmConfig(policy="cloud_only", first_token_budget_ms=30000, total_timeout_s=90, cloud=cloud)
    events: list[Event] = []
    monitor = RegionMonitor(cloud)
    router = LlmRouter(cfg, None, monitor, events.append)

    async def ask(messages: list[dict[str, Any]] = QUESTION) -> list[Any]:
        events.clear()
        return [d async for d in router.stream(messages)]

    async def body() -> None:
        await router.start()
        await monitor.wait_first_round(10)
        assert [r.name for r in monitor.ranked()] == ["near", "mid", "far"]

        reply = await ask()
        assert "".join(d.text for d in reply).strip()
        assert routes(events) == [("cloud", "near", "policy")]
        first = [e for e in events if isinstance(e, LlmFirstToken)]
        assert len(first) == 1 and first[0].region == "near" and first[0].ms > 0

        await on_rig(rig, near.set_mode("http500"))  # the nearest answers 500: the next one, at once
        reply = await ask()
        assert "".join(d.text for d in reply).strip()
        assert routes(events) == [("cloud", "near", "policy"), ("cloud", "mid", "region_failed")]

        # mid is killed while it streams: the reply ends with a short note
        router.cfg.cloud.max_tokens = 80
        gen = router.stream([{"role": "user", "content": "Count slowly from one to one hundred, in words."}])
        deltas = [await anext(gen)]
        await on_rig(rig, mid.kill())
        deltas += [d async for d in gen]
        router.cfg.cloud.max_tokens = 24
        assert deltas[0].text and deltas[-1].text == LOST_CONNECTION_NOTE and deltas[-1].finish_reason == "error"
        await asyncio.to_thread(wait_until_idle, llama_server)  # it may still be writing for the dead client

        # far, the one healthy region left, accepts and never answers: when the budget passes, near
        # (back up, but ranked behind far since its last failure) takes over
        await on_rig(rig, near.set_mode("pass"))
        await on_rig(rig, far.set_mode("blackhole"))
        router.cfg.first_token_budget_ms = 1500
        reply = await ask()
        assert "".join(d.text for d in reply).strip()
        assert routes(events)[:2] == [("cloud", "far", "policy"), ("cloud", "near", "budget_missed")]
        assert [e.region for e in events if isinstance(e, LlmFirstToken)] == ["near"]
        statuses = {s.name: s for s in monitor.statuses()}
        assert statuses["mid"].healthy is False
        await router.stop()

    asyncio.run(body())


def test_factory_local_first_with_escalation_to_a_real_region(llama_server: LlamaServer, proxies: MakeProxy,
                                                              model_path: Any, model_manager: ModelManager) -> None:
    proxy = proxies(llama_server.port, 5)
    settings = Settings(
        llm={"policy": "local_first", "first_token_budget_ms": 30000, "escalate_keywords": ["lawyer"],
             "local": {"model": str(model_path(*SMOLLM)), "threads": 1, "max_tokens": 24},
             "cloud": {"api_key": API_KEY, "max_tokens": 24, "stall_timeout_ms": 30000,
                       "regions": [{"name": "eu", "base_url": proxy.base_url, "model": "smollm2"}]}},
    )
    events: list[Event] = []

    async def body() -> None:
        model = build_chat_model(settings, model_manager, events.append)
        await model.start()  # probes while the local model loads
        text = "".join([d.text async for d in model.stream(QUESTION)])
        assert text.strip() and routes(events) == [("local", None, "policy")]
        events.clear()
        text = "".join([d.text async for d in model.stream([{"role": "user", "content": "Do I need a lawyer?"}])])
        assert text.strip() and routes(events) == [("cloud", "eu", "escalation")]
        assert model.last_route is not None and model.last_route.region == "eu"
        assert model.monitor is not None and model.monitor.statuses()[0].rtt_ms is not None
        await model.stop()

    asyncio.run(body())


def test_ask_command_prints_route_events_and_the_reply(llama_server: LlamaServer, proxies: MakeProxy, tmp_path: Path) -> None:
    proxy = proxies(llama_server.port)
    config = tmp_path / "config.toml"
    config.write_text(f"""
[llm]
policy = "cloud_only"
first_token_budget_ms = 30000   # generous: this machine may be busy

[llm.cloud]
max_tokens = 24
stall_timeout_ms = 30000

[[llm.cloud.regions]]
name = "eu-west"
base_url = "{proxy.base_url}"
model = "smollm2"
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_AGENT_")}
    env["EDGE_AGENT_LLM__CLOUD__API_KEY"] = API_KEY
    env.pop("CREDENTIALS_DIRECTORY", None)
    cli = [sys.executable, "-m", "edge_agent", "--config", str(config), "--log-level", "debug", "ask", "--events", "-", "Say hello."]
    proc = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    events = [json.loads(ln) for ln in lines if ln.startswith("{")]
    routed = [e for e in events if e["type"] == "answer_routed"]  # the answer router handed the turn to the cloud
    assert len(routed) == 1 and routed[0]["source"] == "cloud"
    events = [e for e in events if e["type"] != "answer_routed"]
    assert events[0]["type"] == "llm_route" and events[0]["backend"] == "cloud" and events[0]["region"] == "eu-west"
    assert events[0]["reason"] == "policy"
    assert events[1]["type"] == "llm_first_token" and events[1]["ms"] > 0 and events[1]["region"] == "eu-west"
    reply = [ln for ln in lines if not ln.startswith("{")]
    assert reply and reply[0].strip()
    assert API_KEY not in proc.stdout and API_KEY not in proc.stderr

    # a wrong key: an expected error, one line, no traceback, no key
    env["EDGE_AGENT_LLM__CLOUD__API_KEY"] = "sk-wrong-secret-42"
    proc = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert "HTTP 401" in proc.stderr and "Traceback" not in proc.stderr and "sk-wrong-secret-42" not in proc.stderr + proc.stdout

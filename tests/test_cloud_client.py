"""The HTTP client, probes and failover over real sockets: a fast fake OpenAI server behind fault proxies."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from llm_servers import *  # noqa: F403 (the fixtures)
from llm_servers import API_KEY, MakeProxy

from edge_agent.config import CloudConfig, CloudRegion, LlmConfig, load_settings
from edge_agent.errors import LlmError
from edge_agent.events import Event, LlmFirstToken, LlmRoute
from edge_agent.llm.cloud import CloudRegionModel, RegionError
from edge_agent.llm.regions import RegionMonitor
from edge_agent.llm.router import LOST_CONNECTION_NOTE, LlmRouter
from edge_agent.testing.cloud_rig import FakeOpenAiServer, LoopThread, Script, ScriptedModel

MESSAGES = [{"role": "user", "content": "hello"}]
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}


def cloud_cfg(urls: dict[str, str], key: str | None = API_KEY, **kw: Any) -> CloudConfig:
    kw.setdefault("probe_timeout_s", 0.5)
    kw.setdefault("connect_timeout_ms", 300)
    kw.setdefault("stall_timeout_ms", 1000)
    return CloudConfig(api_key=key, regions=[CloudRegion(name=n, base_url=u, model="fake") for n, u in urls.items()], **kw)


async def collect(model: Any, messages: list[dict[str, Any]] = MESSAGES, tools: Any = None) -> list[Any]:
    return [d async for d in model.stream(messages, tools)]


def test_streams_text_and_sends_the_key_as_bearer(fake_openai: FakeOpenAiServer, proxies: MakeProxy) -> None:
    proxy = proxies(fake_openai.port)
    cfg = cloud_cfg({"eu": proxy.base_url})

    async def body() -> None:
        model = CloudRegionModel(cfg, cfg.regions[0], system_prompt="Be brief.")
        deltas = await collect(model)
        assert "".join(d.text for d in deltas) == "Hello from the cloud."
        assert deltas[-1].finish_reason == "stop"
        assert await model.probe() > 0
        await model.aclose()

    fake_openai.auth_headers.clear()
    asyncio.run(body())
    assert fake_openai.auth_headers and set(fake_openai.auth_headers) == {f"Bearer {API_KEY}"}


def test_assembles_a_streamed_tool_call(fake_openai: FakeOpenAiServer) -> None:
    cfg = cloud_cfg({"eu": fake_openai.base_url})

    async def body() -> None:
        model = CloudRegionModel(cfg, cfg.regions[0])
        deltas = await collect(model, [{"role": "user", "content": "What's the weather?"}], [WEATHER_TOOL])
        calls = [d.tool_call for d in deltas if d.tool_call is not None]
        assert len(calls) == 1 and calls[0].name == "get_weather" and calls[0].arguments == {"city": "Oslo"}
        assert calls[0].id == "call_1"
        assert deltas[-1].finish_reason == "tool_calls"
        await model.aclose()

    asyncio.run(body())


def test_wrong_key_and_http_500_are_region_errors(fake_openai: FakeOpenAiServer, proxies: MakeProxy) -> None:
    bad = proxies(fake_openai.port)
    bad.mode = "http500"
    cfg_wrong = cloud_cfg({"eu": fake_openai.base_url}, key="sk-wrong-key-123")
    cfg_500 = cloud_cfg({"us": bad.base_url})

    async def body() -> None:
        for cfg, expected in ((cfg_wrong, "HTTP 401: bad key"), (cfg_500, "HTTP 500: region overloaded")):
            model = CloudRegionModel(cfg, cfg.regions[0])
            with pytest.raises(RegionError) as info:
                await collect(model)
            assert expected in info.value.message and "sk-" not in info.value.message
            with pytest.raises(RegionError):
                await model.probe()
            await model.aclose()

    asyncio.run(body())


def test_probes_rank_regions_by_round_trip_time(fake_openai: FakeOpenAiServer, proxies: MakeProxy) -> None:
    far, near, mid = proxies(fake_openai.port, 50), proxies(fake_openai.port, 0), proxies(fake_openai.port, 25)
    dead = proxies(fake_openai.port)
    dead.mode = "blackhole"
    cfg = cloud_cfg({"far": far.base_url, "dead": dead.base_url, "near": near.base_url, "mid": mid.base_url}, probe_timeout_s=0.3)

    async def body() -> None:
        monitor = RegionMonitor(cfg)
        monitor.start()
        await monitor.wait_first_round(5)
        assert [r.name for r in monitor.ranked()] == ["near", "mid", "far", "dead"]
        status = {s.name: s for s in monitor.statuses()}
        assert status["dead"].healthy is False and status["dead"].rtt_ms is None and status["dead"].last_error
        assert status["near"].rtt_ms is not None and status["far"].rtt_ms is not None
        assert status["far"].rtt_ms > status["near"].rtt_ms + 40
        await monitor.stop()

    asyncio.run(body())


_RIG: list[LoopThread] = []


async def on_rig(coro: Any) -> Any:
    """Run a coroutine on the servers' loop (proxies live there) from a test's own loop."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, _RIG[0].loop))


@pytest.fixture(autouse=True)
def _rig_for_helpers(rig: LoopThread) -> None:
    _RIG[:] = [rig]


class Turn:
    """A router over real regions (proxies) and a scripted local model."""

    def __init__(self, urls: dict[str, str], policy: str = "cloud_first", budget_ms: int = 300,
                 local: Script | None = None, **cloud: Any) -> None:
        self.cfg = LlmConfig(policy=policy, first_token_budget_ms=budget_ms, total_timeout_s=10, cloud=cloud_cfg(urls, **cloud))
        self.local = ScriptedModel("local", local or Script())
        self.monitor = RegionMonitor(self.cfg.cloud)
        self.events: list[Event] = []
        self.router = LlmRouter(self.cfg, self.local, self.monitor, self.events.append)

    async def start(self) -> None:
        await self.router.start()
        await self.monitor.wait_first_round(5)

    async def ask(self) -> str:
        return "".join([d.text async for d in self.router.stream(MESSAGES)])

    def routes(self) -> list[tuple[str, str | None, str]]:
        return [(e.backend, e.region, e.reason) for e in self.events if isinstance(e, LlmRoute)]


def test_failover_from_500_killed_and_silent_regions(fake_openai: FakeOpenAiServer, proxies: MakeProxy, rig: LoopThread) -> None:
    a, b, c = proxies(fake_openai.port, 0), proxies(fake_openai.port, 10), proxies(fake_openai.port, 20)
    turn = Turn({"a": a.base_url, "b": b.base_url, "c": c.base_url}, policy="cloud_only", budget_ms=5000, breaker_failures=2)

    async def body() -> None:
        await turn.start()
        assert await turn.ask() == "Hello from the cloud."
        assert turn.routes() == [("cloud", "a", "policy")]

        await on_rig(a.set_mode("http500"))  # the nearest answers 500: the next region, at once
        turn.events.clear()
        assert await turn.ask() == "Hello from the cloud."
        assert turn.routes() == [("cloud", "a", "policy"), ("cloud", "b", "region_failed")]

        turn.events.clear()  # a failed last: b, healthy, now leads
        assert await turn.ask() == "Hello from the cloud."
        assert turn.routes() == [("cloud", "b", "policy")]

        await on_rig(b.kill())  # killed mid-test: connection refused, the next region at once
        turn.events.clear()
        assert await turn.ask() == "Hello from the cloud."
        assert turn.routes() == [("cloud", "b", "policy"), ("cloud", "c", "region_failed")]

        await on_rig(a.set_mode("pass"))
        await on_rig(c.set_mode("blackhole"))  # accepts and never answers: the next region when the budget passes
        turn.events.clear()
        turn.cfg.first_token_budget_ms = 300
        assert await turn.ask() == "Hello from the cloud."
        assert turn.routes() == [("cloud", "c", "policy"), ("cloud", "a", "budget_missed")]
        first = [e for e in turn.events if isinstance(e, LlmFirstToken)][0]
        assert first.region == "a" and first.ms >= 300
        await turn.router.stop()

    asyncio.run(body())


def test_cloud_first_falls_back_to_local_when_the_cloud_is_silent(fake_openai: FakeOpenAiServer, proxies: MakeProxy) -> None:
    a = proxies(fake_openai.port)
    turn = Turn({"a": a.base_url}, policy="cloud_first", budget_ms=200)

    async def body() -> None:
        await turn.start()
        await on_rig(a.set_mode("blackhole"))
        assert await turn.ask() == "Hello from the fake."
        assert turn.routes() == [("cloud", "a", "policy"), ("local", None, "budget_missed")]
        await turn.router.stop()

    asyncio.run(body())


def test_a_stream_cut_after_the_first_token_ends_with_a_note(fake_openai: FakeOpenAiServer, proxies: MakeProxy) -> None:
    a = proxies(fake_openai.port)
    turn = Turn({"a": a.base_url}, policy="cloud_only")

    async def body() -> None:
        await turn.start()
        a.cut_after = 520
        await on_rig(a.set_mode("cut"))  # the response head and the first content chunk or so
        fake_openai.token_ms = 20
        try:
            deltas = [d async for d in turn.router.stream(MESSAGES)]
        finally:
            fake_openai.token_ms = 1.0
        assert deltas[0].text and deltas[-1].text == LOST_CONNECTION_NOTE and deltas[-1].finish_reason == "error"
        await turn.router.stop()

    asyncio.run(body())


def test_nothing_reachable_raises_llm_error(proxies: MakeProxy, fake_openai: FakeOpenAiServer, rig: LoopThread) -> None:
    a = proxies(fake_openai.port)
    rig.run(a.kill())
    turn = Turn({"a": a.base_url}, policy="cloud_only", breaker_failures=5)

    async def body() -> None:
        await turn.start()
        with pytest.raises(LlmError, match="cannot connect"):
            await turn.ask()
        await turn.router.stop()

    asyncio.run(body())


def test_the_api_key_never_reaches_logs_or_events(fake_openai: FakeOpenAiServer, proxies: MakeProxy,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    ok, bad = proxies(fake_openai.port), proxies(fake_openai.port)
    turn = Turn({"bad": bad.base_url, "ok": ok.base_url}, policy="cloud_only", budget_ms=300)

    async def body() -> None:
        await turn.start()
        await on_rig(bad.set_mode("http500"))
        await turn.ask()
        ok.cut_after = 50  # inside the response head: before any token
        await on_rig(ok.set_mode("cut"))
        with pytest.raises(LlmError) as info:
            await turn.ask()
        assert API_KEY not in info.value.message
        await turn.router.stop()

    with caplog.at_level(logging.DEBUG):
        asyncio.run(body())
    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert "HTTP Request" in logged or "cloud region" in logged  # httpx / our own lines were captured
    assert API_KEY not in logged and API_KEY not in caplog.text
    assert turn.events and all(API_KEY not in e.to_json() for e in turn.events)
    assert all(API_KEY not in str(s.to_dict()) for s in turn.monitor.statuses())


def test_the_api_key_comes_from_the_environment_or_a_credentials_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_AGENT_CONFIG", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("EDGE_AGENT_LLM__CLOUD__API_KEY", "sk-from-env")
    settings = load_settings(None)
    assert settings.llm.cloud.api_key is not None and settings.llm.cloud.api_key.get_secret_value() == "sk-from-env"
    assert "sk-from-env" not in repr(settings) and "sk-from-env" not in str(settings.llm.cloud)
    monkeypatch.delenv("EDGE_AGENT_LLM__CLOUD__API_KEY")
    (tmp_path / "llm__cloud__api_key").write_text("sk-from-file\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    settings = load_settings(None)
    assert settings.llm.cloud.api_key is not None and settings.llm.cloud.api_key.get_secret_value() == "sk-from-file"

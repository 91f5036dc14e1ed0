"""Fixtures for the cloud-fallback tests: servers on loopback that outlive each test's event loop.

* ``rig``: an asyncio loop in a daemon thread where every server and proxy runs;
* ``fake_openai``: a fast fake OpenAI-compatible server (canned replies, checks the API key);
* ``llama_server``: ONE real ``python -m llama_cpp.server`` with SmolLM2 for the whole session (the
  machine has 2 cores: one server process, fronted by several proxies acting as regions);
* ``proxies``: make :class:`FaultProxy` "regions" in front of a port; all are killed after the test.

Import the fixtures into a test module with ``from llm_servers import *``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge_agent.testing.cloud_rig import FakeOpenAiServer, FaultProxy, LlamaServer, LoopThread

__all__ = ["API_KEY", "SMOLLM", "MakeProxy", "fake_openai", "llama_server", "proxies", "rig"]

API_KEY = "sk-test-9f8e7d6c5b4a-do-not-log"
SMOLLM = ("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")

MakeProxy = Callable[..., FaultProxy]


@pytest.fixture(scope="session")
def rig() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def fake_openai(rig: LoopThread) -> Iterator[FakeOpenAiServer]:
    server = FakeOpenAiServer(api_key=API_KEY)
    rig.run(server.start())
    yield server
    rig.run(server.stop())


@pytest.fixture(scope="session")
def llama_server(model_path: Callable[..., Path]) -> Iterator[LlamaServer]:
    server = LlamaServer(model_path(*SMOLLM), api_key=API_KEY, threads=1)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def proxies(rig: LoopThread) -> Iterator[MakeProxy]:
    made: list[FaultProxy] = []

    def make(target_port: int, delay_ms: float = 0.0, name: str = "region") -> FaultProxy:
        proxy = FaultProxy(target_port, delay_ms, name)
        rig.run(proxy.start())
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        rig.run(proxy.kill())

"""Tools that run a local program instead of an MQTT publish (``command``), and the demo's light
panel: "done" only on the program's exit status 0, and an honest "couldn't" otherwise."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from edge_agent.app.ask_session import AskSession
from edge_agent.config import Settings, ToolConfig
from edge_agent.demo_light import read_panel
from edge_agent.events import Event, ToolCall
from edge_agent.mqtt.tools import MqttToolRunner

ROOM = {"type": "object", "required": ["room"],
        "properties": {"room": {"type": "string", "enum": ["lobby", "cafe", "-rf"]}}}


def _tool(script: str, timeout_s: float = 5.0) -> ToolConfig:
    return ToolConfig(name="relay", command=[sys.executable, "-c", script, "{room}"], parameters=ROOM,
                      timeout_s=timeout_s)


def _run(tool: ToolConfig, room: str = "cafe") -> tuple[str, list[Event]]:
    events: list[Event] = []
    runner = MqttToolRunner([tool], lambda *a: pytest.fail("no MQTT publish for a command tool"), emit=events.append)
    return asyncio.run(runner.run("relay", {"room": room})), events


def test_a_tool_has_a_topic_or_a_command() -> None:
    for fields in ({}, {"topic": "a/b", "command": ["true"]}):
        with pytest.raises(ValidationError, match="exactly one of topic"):
            ToolConfig(name="t", **fields)  # type: ignore[arg-type]


def test_exit_status_0_is_done_and_its_output_says_what_happened() -> None:
    result, events = _run(_tool("import sys; print('relay', sys.argv[1], 'closed')"))
    assert result.startswith("done: ") and "relay cafe closed" in result
    assert isinstance(events[-1], ToolCall) and events[-1].ok and events[-1].arguments == {"room": "cafe"}


@pytest.mark.parametrize(("script", "timeout_s", "why"), [
    ("import sys; sys.exit('relay board not found')", 5.0, "failed (exit status 1): relay board not found"),
    ("import time; time.sleep(30)", 0.5, "did not finish within 0.5 s"),
])
def test_anything_else_is_not_done_with_the_reason(script: str, timeout_s: float, why: str) -> None:
    result, events = _run(_tool(script, timeout_s))
    assert result.startswith("not done: ") and why in result
    assert isinstance(events[-1], ToolCall) and not events[-1].ok


def test_a_missing_program_is_not_done() -> None:
    tool = ToolConfig(name="relay", command=["/nonexistent/relay", "{room}"], parameters=ROOM)
    result, _ = _run(tool)
    assert result.startswith("not done: could not start relay")


def test_a_value_cannot_become_an_option_of_the_program() -> None:
    with pytest.raises(ValueError, match="may not start with '-'"):
        _run(_tool("pass"), room="-rf")


def _ask(text: str, settings: Settings) -> str:
    async def scenario() -> str:
        async with AskSession(settings) as session:
            return (await session.ask(text))[1]

    return asyncio.run(scenario())


def test_the_demo_light_needs_no_broker_and_is_really_switched(tmp_path: Path, monkeypatch: Any) -> None:
    panel = tmp_path / "lights.txt"
    monkeypatch.setenv("EDGE_AGENT_DEMO_LIGHTS", str(panel))
    settings = Settings(answers={"demo_tool": True})  # type: ignore[arg-type]
    assert _ask("Turn on the cafe light.", settings) == "Done: the cafe light is on."
    assert read_panel(panel) == {"lobby": "OFF", "cafe": "ON"}


def test_a_demo_light_that_cannot_be_switched_is_not_claimed(tmp_path: Path, monkeypatch: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("EDGE_AGENT_DEMO_LIGHTS", str(blocker / "lights.txt"))  # its directory is a file
    reply = _ask("Turn on the cafe light.", Settings(answers={"demo_tool": True}))  # type: ignore[arg-type]
    assert reply.startswith("I couldn't switch the cafe light on: edge_agent.demo_light failed (exit status 1)")

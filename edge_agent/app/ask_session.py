"""Answering typed questions as ``edge-agent ask`` does: the answer router first, the LLM only when
the router hands a turn to it, and tools run through the MQTT bridge exactly as in the daemon.

:class:`AskSession` holds what one or many questions share (the router, the bridge, the chat
model, built on first need), so ``edge-agent bench answers`` measures the same path a user meets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge_agent.answers.answer import Answer
from edge_agent.answers.brevity import Bound, bounded
from edge_agent.answers.router import AnswerRouter, declared_tools
from edge_agent.bus import EventBus
from edge_agent.control import AgentControl
from edge_agent.events import ErrorEvent

log = logging.getLogger(__name__)

BROKER_WAIT_S = 3.0
"""How long ``ask`` waits for the MQTT broker before a tool is reported as not run."""


@dataclass
class ToolsOnlyHost:
    """What the MQTT service is started with here: the bus, and no agent to command."""

    bus: EventBus
    control: AgentControl | None = None


class AskSession:
    """``async with AskSession(settings, bus) as s: answer, reply = await s.ask(text, write)``."""

    def __init__(self, settings: Any, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.bus = bus or EventBus()
        self.publish = self.bus.publish
        self.mqtt: Any = None
        self.model: Any = None
        self.router: AnswerRouter | None = None

    async def __aenter__(self) -> AskSession:
        tools = None
        if self.settings.mqtt.enabled:
            from edge_agent.app.mqtt_service import MqttService

            cfg = self.settings.mqtt.model_copy(update={"tools": declared_tools(self.settings)})
            self.mqtt = MqttService(cfg, self.bus)
            await self.mqtt.start(ToolsOnlyHost(self.bus))
            tools = self.mqtt.tools
        elif any(tool.command for tool in declared_tools(self.settings)):
            from edge_agent.app.local_tools import local_tool_runner

            tools = local_tool_runner(declared_tools(self.settings), self.bus)
        self.router = await asyncio.to_thread(AnswerRouter, self.settings, tools, self.publish,
                                              lambda text: log.info("timer: %s", text))
        for problem in self.router.problems:
            self.publish(ErrorEvent(stage="knowledge", message=problem))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.router is not None and self.router.timers.running:
            log.warning("the timer ends with this command: timers ring only in the running agent (edge-agent run)")
        if self.model is not None:
            await self.model.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()

    def _wait_for_broker(self) -> None:
        """Blocking (run in a thread): the bridge has no connected event to await."""
        deadline = time.monotonic() + BROKER_WAIT_S
        while self.mqtt is not None and not self.mqtt.bridge.connected and time.monotonic() < deadline:
            time.sleep(0.02)

    async def ask(self, text: str, write: Callable[[str], Any] = lambda s: None) -> tuple[Answer, str]:
        """Route ``text``, then speak its text or stream the LLM's reply into ``write``; returns the
        answer and the whole reply."""
        assert self.router is not None, "use AskSession as an async context manager"
        if self.mqtt is not None and self.router.devices:
            await asyncio.to_thread(self._wait_for_broker)
        answer = await self.router.answer(text)
        self.publish(answer.event())
        if answer.llm is None:
            write(answer.text or "")
            return answer, answer.text or ""
        return answer, await self.complete(answer.llm.messages, answer.llm.policy, write, answer.llm.bound)

    async def complete(self, messages: list[dict[str, Any]], policy: str, write: Callable[[str], Any],
                       bound: Bound | None = None) -> str:
        """Stream the LLM's reply to ``messages`` under ``policy`` into ``write`` (cut at ``bound``,
        as the daemon cuts small talk); returns it whole."""
        from edge_agent.errors import LlmError
        from edge_agent.llm.factory import build_chat_model
        from edge_agent.models import ModelManager

        self.settings.llm.policy = policy
        if self.model is None:
            self.model = build_chat_model(self.settings, ModelManager(self.settings.paths.models_dir), self.publish,
                                          warm_system=messages[0]["content"] if messages[0]["role"] == "system" else None)
            await self.model.start()
        parts: list[str] = []
        try:
            stream = self.model.stream(messages)
            async for delta in (bounded(stream, bound) if bound is not None else stream):
                if delta.text:
                    piece = delta.text.lstrip() if not parts else delta.text
                    parts.append(piece)
                    write(piece)
        except LlmError as exc:
            self.publish(ErrorEvent(stage="llm", message=exc.message))
            raise
        return "".join(parts)



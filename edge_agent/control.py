"""What integrators (MQTT commands, the CLI) may ask of a running agent.

The daemon implements this; the MQTT bridge only calls it. Every method is safe to call from the
asyncio loop and returns quickly: long work (speaking, answering) is started, not awaited."""

from __future__ import annotations

from typing import Any, Protocol

from edge_agent.events import AgentState


class AgentControl(Protocol):
    @property
    def state(self) -> AgentState: ...

    def say(self, text: str) -> None:
        """Speak ``text`` as it is (no LLM)."""

    def ask(self, text: str, reply_to: Any = None) -> None:
        """Answer ``text`` through the LLM as if the user had said it; the reply is spoken and
        published as a ``reply_text`` event (``reply_to`` is passed back on it for MQTT 5 responses)."""

    def wake(self) -> None:
        """Start listening now, as if the wake word was heard (push-to-talk)."""

    def cancel(self) -> None:
        """Stop speaking and drop the current turn."""

    def mute(self) -> None: ...

    def unmute(self) -> None: ...

    def set_volume(self, level: float) -> None:
        """Output gain, 0.0 to 1.0 (values above 1 amplify, up to 2)."""

    def reload(self) -> None:
        """Re-read the config (as on SIGHUP); an invalid config keeps the old one and emits an error event."""


class ToolRunner(Protocol):
    """Runs the tools the config declares (MQTT publishes). The conversation offers ``specs()`` to
    the LLM and calls ``run`` for each tool call the LLM makes."""

    def specs(self) -> list[dict[str, Any]]:
        """OpenAI-style tool definitions: ``[{"type": "function", "function": {...}}]``."""
        ...

    def needs_confirmation(self, name: str) -> bool: ...

    @property
    def publishes_events(self) -> bool:
        """True when ``run`` puts its own ``tool`` events on the bus (it knows the topic and the
        payload); the conversation then doesn't publish a second one."""
        ...

    async def run(self, name: str, arguments: dict[str, Any]) -> str:
        """Run one tool; returns a short result for the LLM. Raises ValueError for an unknown tool
        or invalid arguments (the conversation reports it to the LLM and on the ``tool`` event)."""
        ...

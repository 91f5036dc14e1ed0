"""The one interface every chat backend (local llama.cpp, a cloud region, the router) implements.

Messages are OpenAI-style dicts (``{"role": "user", "content": "..."}``) because both llama.cpp's
``create_chat_completion`` and every OpenAI-compatible API take them as they are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, Any]


@dataclass(frozen=True)
class ToolCallRequest:
    """The model asks to run a tool."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""


@dataclass(frozen=True)
class Delta:
    """One piece of a streamed reply: some text, or a tool call, or the end."""

    text: str = ""
    tool_call: ToolCallRequest | None = None
    finish_reason: str | None = None


class ChatModel(Protocol):
    """A streaming chat backend. A fallback router is itself a ChatModel."""

    name: str

    def stream(self, messages: list[Message], tools: list[dict[str, Any]] | None = None) -> AsyncIterator[Delta]:
        """Yield deltas as they arrive. Raises :class:`edge_agent.errors.LlmError` on failure;
        cancelling the consumer's task stops generation promptly."""
        ...

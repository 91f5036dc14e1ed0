"""Tool calls inside a reply: running one and handing its result back to the LLM, and asking the
user first for a tool that needs confirmation."""

from __future__ import annotations

import json
import re

from edge_agent.control import ToolRunner
from edge_agent.errors import EdgeAgentError
from edge_agent.llm.base import Message, ToolCallRequest

MAX_TOOL_ROUNDS = 3
"""LLM calls per reply: a tool call, then the answer (bounded: no endless tool loops)."""


async def run_tool(tools: ToolRunner, call: ToolCallRequest) -> tuple[bool, str]:
    """(ok, result); an unknown tool or bad arguments is a result the LLM reads, not a failure."""
    try:
        return True, await tools.run(call.name, call.arguments)
    except (ValueError, EdgeAgentError) as exc:
        return False, f"error: {exc}"


def with_tool_result(messages: list[Message], call: ToolCallRequest, result: str) -> list[Message]:
    """The messages followed by the model's tool call and the tool's result (OpenAI style)."""
    call_id = call.id or "call_1"
    return [
        *messages,
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": call_id, "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}]},
        {"role": "tool", "tool_call_id": call_id, "content": result},
    ]


def confirm_question(call: ToolCallRequest) -> str:
    args = ", ".join(f"{k} {v}" for k, v in call.arguments.items())
    action = call.name.replace("_", " ")
    return f"Should I {action}{' with ' + args if args else ''}? Say yes to confirm."


def is_yes(text: str, words: tuple[str, ...]) -> bool:
    """The user confirmed: one of ``words`` (a phrase: anywhere in the text), and no "no"."""
    said = re.sub(r"[^a-z ]", " ", text.lower()).split()
    joined = " ".join(said)
    return any((w in said) if " " not in w else (w in joined) for w in words) and "no" not in said

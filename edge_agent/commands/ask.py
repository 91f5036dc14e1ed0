"""``edge-agent ask TEXT``: one question through the LLM router (local and/or cloud, per ``llm.policy``).

The reply is printed as it streams. ``--events -`` also writes the router's ``llm_route`` and
``llm_first_token`` events as JSON lines (``-`` = stdout, before the reply; or a file)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_agent.events import Event


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ask", help="ask the LLM one question and print the reply",
                       description="Ask the LLM one question and print the reply. The route (local or which cloud "
                                   "region, and why) is reported with --events.")
    p.add_argument("text", nargs="+", metavar="TEXT", help="the question")
    p.add_argument("--events", metavar="FILE", help="write events as JSON lines to FILE (- = stdout)")
    p.add_argument("--policy", choices=["local_first", "cloud_first", "local_only", "cloud_only"],
                   help="override llm.policy for this question")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from edge_agent.config import load_settings
    from edge_agent.errors import UsageError

    text = " ".join(args.text).strip()
    if not text:
        raise UsageError("nothing to ask: give the question as TEXT, e.g. `edge-agent ask \"what time is it?\"`")
    settings = load_settings(getattr(args, "config", None))
    if args.policy:
        settings.llm.policy = args.policy
    from edge_agent.event_log import EventWriter

    writer = EventWriter(args.events) if args.events else None
    try:
        return asyncio.run(_ask(settings, text, writer))
    finally:
        if writer is not None:
            writer.close()


async def _ask(settings: Any, text: str, writer: Callable[[Event], None] | None) -> int:
    from edge_agent.bus import EventBus
    from edge_agent.errors import LlmError
    from edge_agent.events import ErrorEvent
    from edge_agent.llm.factory import build_chat_model
    from edge_agent.models import ModelManager

    bus = EventBus()
    if writer is not None:
        bus.subscribe(writer)
    model = build_chat_model(settings, ModelManager(settings.paths.models_dir), bus.publish)
    try:
        await model.start()
        out = sys.stdout
        wrote = False
        try:
            async for delta in model.stream([{"role": "user", "content": text}]):
                if delta.text:
                    out.write(delta.text.lstrip() if not wrote else delta.text)
                    out.flush()
                    wrote = True
                if delta.tool_call is not None:
                    out.write(f"[tool call] {delta.tool_call.name} {delta.tool_call.arguments}\n")
        except LlmError as exc:
            bus.publish(ErrorEvent(stage="llm", message=exc.message))
            raise
        if wrote:
            out.write("\n")
        return 0
    finally:
        await model.stop()

"""``edge-agent ask TEXT``: one question through the answer router (local intents, the knowledge
files, then the LLM router: local and/or cloud, per ``llm.policy``), as the daemon answers a turn.

The reply is printed as it streams. ``--events -`` also writes the ``answer_routed`` event (what
answered and why), the tool and timer events, and the LLM router's ``llm_route`` and
``llm_first_token`` events as JSON lines (``-`` = stdout, before the reply; or a file)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge_agent.events import Event


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ask", help="ask one question and print the reply",
                       description="Ask one question and print the reply: a local intent, the knowledge files, or "
                                   "the LLM. What answered (and, for the LLM, local or which cloud region), and why, "
                                   "is reported with --events.")
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

    bus = EventBus()
    if writer is not None:
        bus.subscribe(writer)
    # answers: the answer router (intents, knowledge, or which LLM with which prompt), then the reply
    from edge_agent.app.ask_session import AskSession

    out = sys.stdout
    async with AskSession(settings, bus) as session:
        _answer, reply = await session.ask(text, lambda piece: (out.write(piece), out.flush()))
    if reply:
        out.write("\n")
    return 0

"""``edge-agent chat``: a text conversation through the same LLM path as the voice (the router,
the system prompt, the history), one line in, one reply out; ends at EOF."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("chat", help="a text conversation through the same LLM path as the voice",
                       description="A text conversation through the same LLM path as the voice: type a line, "
                                   "read the reply; Ctrl-D (end of input) ends it.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from edge_agent.config import load_settings

    settings = load_settings(getattr(args, "config", None))
    return asyncio.run(_chat(settings))


async def _chat(settings: Any) -> int:
    import asyncio

    from edge_agent.bus import EventBus
    from edge_agent.errors import LlmError
    from edge_agent.llm.factory import build_chat_model
    from edge_agent.llm.local import system_prompt
    from edge_agent.models import manager_from_settings

    model = build_chat_model(settings, manager_from_settings(settings), EventBus().publish)
    await model.start()
    interactive = sys.stdin.isatty()
    history: list[dict[str, str]] = []
    system = {"role": "system", "content": system_prompt(settings)}
    loop = asyncio.get_running_loop()
    try:
        while True:
            if interactive:
                print("you> ", end="", flush=True)
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if interactive:
                print("agent> ", end="", flush=True)
            reply: list[str] = []
            try:
                async for delta in model.stream([system, *history, {"role": "user", "content": text}]):
                    if delta.text:
                        piece = delta.text.lstrip() if not reply else delta.text
                        reply.append(piece)
                        print(piece, end="", flush=True)
            except LlmError as exc:
                print(f"\n{settings.conversation.apology} ({exc.message})", flush=True)
                continue
            print(flush=True)
            history += [{"role": "user", "content": text}, {"role": "assistant", "content": "".join(reply)}]
            del history[: max(0, len(history) - 16)]
    finally:
        await model.stop()
    return 0

"""``edge-agent ask`` (filled in by issue 7)."""

from __future__ import annotations

import argparse

from edge_agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ask", help="ask the LLM one question and print the reply", description="Ask the LLM one question and print the reply.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("`edge-agent ask` is not implemented yet")

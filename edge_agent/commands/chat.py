"""``edge-agent chat`` (filled in by issue 4)."""

from __future__ import annotations

import argparse

from edge_agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("chat", help="a text conversation through the same LLM path as the voice", description="A text conversation through the same LLM path as the voice.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("`edge-agent chat` is not implemented yet")

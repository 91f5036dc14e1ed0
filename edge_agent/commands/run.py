"""``edge-agent run`` (filled in by issue 4)."""

from __future__ import annotations

import argparse

from edge_agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the agent (microphone and speaker; with no microphone, the built-in demo conversation)", description="Run the agent (microphone and speaker; with no microphone, the built-in demo conversation).")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("`edge-agent run` is not implemented yet")

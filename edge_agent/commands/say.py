"""``edge-agent say`` (filled in by issue 4)."""

from __future__ import annotations

import argparse

from edge_agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("say", help="speak TEXT with the configured voice into a WAV file", description="Speak TEXT with the configured voice into a WAV file.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("`edge-agent say` is not implemented yet")

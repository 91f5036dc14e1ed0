"""``edge-agent listen`` (filled in by issue 3)."""

from __future__ import annotations

import argparse

from edge_agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("listen", help="run the listening front end on WAV files and print its events", description="Run the listening front end on WAV files and print its events.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("`edge-agent listen` is not implemented yet")

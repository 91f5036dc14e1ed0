"""``edge-agent doctor`` (filled in by issue 6)."""

from __future__ import annotations

import argparse

from edge_agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("doctor", help="check audio devices, models, broker, cloud regions and the service; one fix per problem", description="Check audio devices, models, broker, cloud regions and the service; one fix per problem.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("`edge-agent doctor` is not implemented yet")

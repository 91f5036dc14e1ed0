"""``edge-agent bench ringbuf`` (stub)."""

from __future__ import annotations

import argparse

from edge_agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ringbuf", help="benchmark: ringbuf")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("`edge-agent bench ringbuf` is not implemented yet")

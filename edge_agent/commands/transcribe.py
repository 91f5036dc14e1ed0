"""``edge-agent transcribe`` (filled in by issue 4)."""

from __future__ import annotations

import argparse

from edge_agent.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("transcribe", help="transcribe WAV files with the configured speech-to-text engine", description="Transcribe WAV files with the configured speech-to-text engine.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("`edge-agent transcribe` is not implemented yet")

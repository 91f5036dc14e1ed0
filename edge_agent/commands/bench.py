"""``edge-agent bench NAME``: the benchmarks that hold the speed and memory targets.

Each benchmark lives in ``edge_agent/bench/<name>.py`` and exposes ``add_parser(subparsers)``."""

from __future__ import annotations

import argparse
import importlib

BENCHES = ("ringbuf", "listen", "latency", "mqtt", "cloud", "answers", "duplex")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="run a benchmark (ringbuf, listen, latency, mqtt, cloud, answers, duplex)",
                       description="Benchmarks for the speed, accuracy and memory targets. Add --json for machine-readable output.")
    bsub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name in BENCHES:
        importlib.import_module(f"edge_agent.bench.{name}").add_parser(bsub)

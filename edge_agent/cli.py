"""The ``edge-agent`` command. Each subcommand lives in ``edge_agent/commands/<name>.py`` and
exposes ``add_parser(subparsers)``; heavy engines are imported only when a command runs, so
``--help`` stays instant on a Raspberry Pi."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from edge_agent import __version__
from edge_agent.errors import EdgeAgentError

# Order is the order `--help` lists them in.
COMMANDS = ("run", "listen", "transcribe", "say", "chat", "ask", "bench", "models", "config", "doctor")

DESCRIPTION = """\
edge-agent: an offline voice agent for kiosks and appliances.

Start with `edge-agent run` (with no microphone it plays the built-in demo conversation).
Models are fetched with `edge-agent models pull`; settings are checked with `edge-agent config check`."""


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options every subcommand accepts (so they may come after the subcommand's name)."""
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="TOML settings file (default: $EDGE_AGENT_CONFIG, else /etc/edge-agent/config.toml)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=argparse.SUPPRESS,
                        help="log verbosity (default: the config's logging.level)")
    parser.add_argument("--log-format", choices=["text", "json"], default=argparse.SUPPRESS,
                        help="log lines as text or JSON (default: the config's logging.format)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-agent", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    add_common_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"edge_agent.commands.{name}")
        module.add_parser(sub)
    for action in sub.choices.values():
        add_common_options(action)
    return parser


def limit_blas_threads() -> None:
    """One OpenBLAS thread unless the user set it. OpenBLAS reads this once, when numpy is first
    imported, so it must run before any command module loads. Multi-threaded OpenBLAS spins beside
    onnxruntime and the listener on a 2-core board, slowing both. (OMP_NUM_THREADS is left alone:
    CTranslate2, onnxruntime and llama.cpp each take their thread count from the config.)"""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    limit_blas_threads()  # first: build_parser() imports the command modules, and some import numpy
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from edge_agent.logs import setup_logging

    setup_logging(getattr(args, "log_level", None), getattr(args, "log_format", None))
    try:
        return int(args.func(args) or 0)
    except EdgeAgentError as exc:
        print(f"edge-agent: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    finally:
        logging.shutdown()


if __name__ == "__main__":
    sys.exit(main())

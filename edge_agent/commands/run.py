"""``edge-agent run``: the agent. Microphone and speaker by default; ``--input``/``--output`` WAV
files instead; with no microphone and no ``--input``, the built-in demo conversation."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def process_start() -> float:
    """When this process started, on the ``time.monotonic()`` clock (the cold start's zero)."""
    try:
        import psutil

        age = time.time() - psutil.Process().create_time()
    except Exception:
        age = 0.0
    return time.monotonic() - max(0.0, age)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run", help="run the agent (microphone and speaker; with no microphone, the built-in demo conversation)",
        description="Run the agent: microphone and speaker, or WAV files. With no microphone and no --input, "
                    "play the built-in demo conversation and write the reply to a WAV file.")
    p.add_argument("--input", metavar="WAV", type=Path, help="read the user's side from a WAV file instead of the microphone")
    p.add_argument("--output", metavar="WAV", type=Path, help="write the agent's voice to a WAV file instead of the speaker")
    p.add_argument("--fast", action="store_true", help="feed --input as fast as it is processed (default: paced in real time)")
    p.add_argument("--stay", action="store_true", help="keep running after --input ends, until SIGTERM")
    p.add_argument("--room", metavar="PRESET|WAV",  # issue 17 (aec)
                   help="hear the agent's replies back through a simulated room (kiosk, living_room, hall, or an "
                        "impulse-response WAV); needs --input and --output")
    p.add_argument("--events", metavar="-|FILE", help="write every event as a JSON line to stdout (-) or FILE")
    p.add_argument("--demo", action="store_true", help="play the built-in demo conversation even if there is a microphone")
    p.add_argument("--no-demo", action="store_true",
                   help="with no microphone, fail (exit 74) instead of playing the demo: the systemd unit uses "
                        "this, so the service is retried until the microphone appears")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_agent.app.lifecycle import RunOptions, run_daemon
    from edge_agent.audio.microphone import has_input_device
    from edge_agent.config import load_settings

    settings = load_settings(getattr(args, "config", None))
    from edge_agent.logs import apply_settings

    # The config's [logging] section, unless --log-level/--log-format said otherwise.
    apply_settings(settings, getattr(args, "log_level", None), getattr(args, "log_format", None))
    if args.stay and args.input is None:
        from edge_agent.errors import UsageError

        raise UsageError("--stay only applies with --input (the microphone never ends)")
    if args.room and (args.input is None or args.output is None):  # issue 17 (aec)
        from edge_agent.errors import UsageError

        raise UsageError("--room needs --input WAV (the user) and --output WAV (the agent's replies)")
    if args.input is None and (args.demo or (not args.no_demo and not has_input_device())):
        from edge_agent.demo import run_demo

        return run_demo(settings, args, process_start())
    options = RunOptions(input_wav=args.input, output_wav=args.output, fast=args.fast, stay=args.stay,
                         events=args.events, config_path=getattr(args, "config", None),
                         room=args.room)  # issue 17 (aec)
    status, _ = run_daemon(settings, options, process_start=process_start())
    return status

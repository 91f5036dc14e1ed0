"""``edge-agent listen WAV... [--no-wake] [--events -|FILE]``: the listening front end on files.

The files are processed as fast as the CPU allows (not paced), through the same
:class:`~edge_agent.listen.listener.ListenerCore` the daemon runs on the microphone. One JSON object
per line per event: ``{"file": ..., "type": "wake"|"speech_start"|"speech_end"|"turn_end",
"audio_t": seconds into the file, ...}`` with ``keyword`` on ``wake`` and ``probability`` on
``turn_end``. A file that ends inside a turn gets a ``turn_end`` with reason ``end_of_input``.

Any sample rate or channel count is converted to 16 kHz mono. A bad file is reported on stderr
(``edge-agent: FILE: why``) and the others are still done; the exit status is then 65. A missing
model stops before any file, naming ``edge-agent models pull``."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("listen", help="run the listening front end on WAV files and print its events",
                       description="Run the listening front end (wake word, VAD, end of turn) on WAV files, "
                                   "unpaced, and write one JSON object per event.")
    p.add_argument("wavs", nargs="+", metavar="WAV", help="PCM WAV files (any rate or channels; converted)")
    p.add_argument("--no-wake", action="store_true", help="treat each file as already woken (no wake word)")
    p.add_argument("--events", metavar="-|FILE", default="-", help="where the JSON lines go (default: stdout)")
    p.add_argument("--vad-precision", choices=["int8", "fp32"], help="override vad.precision")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_agent.audio.wav import read_wav
    from edge_agent.config import load_settings
    from edge_agent.errors import InputDataError
    from edge_agent.event_log import EventWriter
    from edge_agent.listen.listener import build_listener_core
    from edge_agent.models import manager_from_settings

    overrides: dict[str, Any] = {}
    if args.vad_precision:
        overrides["vad"] = {"precision": args.vad_precision}
    settings = load_settings(getattr(args, "config", None), **overrides)
    models = manager_from_settings(settings)
    current = {"file": ""}
    write = EventWriter(args.events, prefix=lambda: {"file": current["file"]})
    core = build_listener_core(settings, models, write, wake=not args.no_wake, always_listen=args.no_wake)
    status = 0
    with write:
        for path in args.wavs:
            try:
                audio, _ = read_wav(path, rate=16000)
            except InputDataError as exc:
                print(f"edge-agent: {exc.message}", file=sys.stderr)
                status = exc.exit_code
                continue
            current["file"] = str(path)
            run_file(core, audio)
    return status


def run_file(core: Any, audio: Any) -> None:
    """One file through the core from a fresh state (models are reused)."""
    from edge_agent.listen.listener import HOP, ListenerCore

    assert isinstance(core, ListenerCore)
    core.reset()
    for start in range(0, len(audio) - HOP + 1, HOP):
        core.process_hop(audio[start:start + HOP])
    core.end_turn("end_of_input")

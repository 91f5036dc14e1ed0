"""``edge-agent say TEXT``: speak TEXT with the configured voice, into a WAV file or the speaker."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("say", help="speak TEXT with the configured voice into a WAV file",
                       description="Speak TEXT with the configured voice (numbers, symbols and markdown are "
                                   "read sensibly) into a WAV file, or on the speaker without --output.")
    p.add_argument("text", nargs="+", metavar="TEXT", help="what to say")
    p.add_argument("--output", "-o", metavar="WAV", type=Path, help="write the speech to this WAV file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from edge_agent.app.wiring import build_tts
    from edge_agent.config import load_settings
    from edge_agent.errors import UsageError
    from edge_agent.models import manager_from_settings

    text = " ".join(args.text).strip()
    from edge_agent.tts.text import speakable

    spoken = speakable(text)
    if not any(ch.isalnum() for ch in spoken):
        raise UsageError("nothing to say: TEXT has no words (e.g. `edge-agent say \"Hello there\" --output hi.wav`)")
    settings = load_settings(getattr(args, "config", None))
    tts = build_tts(settings, manager_from_settings(settings))
    audio = tts.synthesize_all(spoken)
    if audio.size == 0:
        audio = np.zeros(0, np.int16)
    if args.output is not None:
        from edge_agent.audio.wav import write_wav

        try:
            write_wav(args.output, audio, tts.sample_rate)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror}") from None
        return 0
    import asyncio

    from edge_agent.audio.playback import open_speaker

    async def play() -> None:
        sink = open_speaker(settings, tts.sample_rate)
        try:
            await sink.write(audio)
            await sink.drain()
        finally:
            sink.close()

    asyncio.run(play())
    return 0

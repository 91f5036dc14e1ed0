"""``edge-agent transcribe WAV...``: one line per file, ``file<TAB>text``.

A bad file is reported on stderr (``edge-agent: FILE: why``) and the others are still done; the
exit status is then 65 (EX_DATAERR). A missing model stops before any file, naming the fix."""

from __future__ import annotations

import argparse
import sys

from edge_agent.errors import InputDataError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("transcribe", help="transcribe WAV files with the configured speech-to-text engine",
                       description="Transcribe WAV files with the configured speech-to-text engine; "
                                   "prints one line per file: FILE<TAB>TEXT.")
    p.add_argument("wavs", nargs="+", metavar="WAV", help="PCM WAV files (any rate; resampled to 16 kHz)")
    p.add_argument("--engine", choices=["whisper", "vosk"], help="override stt.engine")
    p.add_argument("--model", metavar="NAME|DIR", help="override stt.model (manifest name or model directory)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_agent.audio.wav import read_wav
    from edge_agent.config import load_settings
    from edge_agent.stt.factory import create_stt

    overrides: dict[str, object] = {}
    if args.engine:
        overrides["engine"] = args.engine
    if args.model:
        overrides["model"] = args.model
    settings = load_settings(getattr(args, "config", None), **({"stt": overrides} if overrides else {}))
    stt = create_stt(settings)
    status = 0
    for path in args.wavs:
        try:
            audio, _ = read_wav(path, rate=stt.sample_rate)
        except InputDataError as exc:
            print(f"edge-agent: {exc.message}", file=sys.stderr)
            status = exc.exit_code
            continue
        text = stt.transcribe(audio)
        print(f"{path}\t{text}", flush=True)
    return status

"""Whisper tiny.en: what one STT call costs under each option, and what it does to accuracy.

    .venv/bin/python tools/stt_timings.py [--runs 7] [--threads 1]

Utterances are Piper speech (speechgen's commands) padded with silence to 2 s and 5 s; the WER
column is over the 16 spoken commands. Options:

- ``faster-whisper transcribe()``: the library's own call (30 s window, its defaults minus VAD).
- ``ours, window 30 s / 15 s / 10 s / 5 s / tight``: :class:`edge_agent.stt.whisper.WhisperStt`
  with ``min_encoder_s`` 30, 15 (the default), 10, 5, and 1 (the utterance + 2 s of silence only).
- ``int8`` vs ``float32`` compute types.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

import numpy as np

from edge_agent import speechgen
from edge_agent.config import default_models_dir
from edge_agent.models import ModelManager
from edge_agent.stt.whisper import WhisperStt
from edge_agent.tts.text import speakable


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", speakable(text).lower().replace("-", " ")).split()


def edits(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[:], i
        for j, y in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x != y))
    return row[-1]


def padded(audio: np.ndarray, seconds: float) -> np.ndarray:
    n = int(seconds * 16000)
    return np.concatenate([audio, np.zeros(max(0, n - audio.size), np.int16)])[:n]


def median_ms(fn, runs: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median wall ms and median process-CPU ms (with one compute thread, CPU time is what the
    call costs on an idle machine; wall time also counts waiting for a busy machine's cores)."""
    fn()
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall) * 1000, statistics.median(cpu) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compute", nargs="+", default=["int8", "float32"], help="compute types to try")
    args = ap.parse_args()
    model_dir = ModelManager(default_models_dir()).require("whisper-tiny-en")
    cmds = speechgen.commands(16, voices=speechgen.PIPER_VOICES)
    hard = speechgen.commands(16, voices=speechgen.ESPEAK_VOICES)
    speech = sorted((c.samples[: int(c.segments[-1].end_t * 16000)] for c in cmds), key=len)  # lead kept, tail cut
    two = padded(speech[len(speech) // 2], 2.0)  # a median command + silence
    five = np.zeros(0, np.int16)
    for a in speech:
        if five.size + a.size < 4.6 * 16000:
            five = np.concatenate([five, a])
    five = padded(five, 5.0)
    print(f"{'option':38s} {'2 s wall/cpu ms':>16s} {'5 s wall/cpu ms':>16s} {'WER piper':>9s} {'WER espeak':>10s}")
    for compute in args.compute:
        for label, min_s in (("30 s", 30.0), ("15 s (default)", 15.0), ("10 s", 10.0), ("5 s", 5.0),
                             ("tight", 1.0)):
            stt = WhisperStt(model_dir, compute_type=compute, threads=args.threads, min_encoder_s=min_s)
            if min_s == 30.0:
                def direct(a: np.ndarray, stt: WhisperStt = stt) -> str:
                    texts = stt.backend.segment_texts(a.astype(np.float32) / 32768, language="en", beam_size=1,
                                                      vad_filter=False, without_timestamps=True,
                                                      condition_on_previous_text=False)
                    return " ".join(t.strip() for t in texts)
                report(f"{compute} faster-whisper transcribe()", direct, two, five, cmds, hard, args.runs)
            report(f"{compute} ours, window {label}", stt.transcribe, two, five, cmds, hard, args.runs)


def wer(fn, items) -> float:  # type: ignore[no-untyped-def]
    errors = sum(edits(words(c.text), words(fn(c.samples))) for c in items)
    return errors / sum(len(words(c.text)) for c in items)


def report(label: str, fn, two: np.ndarray, five: np.ndarray, cmds, hard, runs: int) -> None:  # type: ignore[no-untyped-def]
    w2, c2 = median_ms(lambda: fn(two), runs)
    w5, c5 = median_ms(lambda: fn(five), runs)
    print(f"{label:38s} {w2:8.0f}/{c2:<7.0f} {w5:8.0f}/{c5:<7.0f} {wer(fn, cmds):9.3f} {wer(fn, hard):10.3f}", flush=True)


if __name__ == "__main__":
    main()

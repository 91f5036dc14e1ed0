#!/usr/bin/env python3
"""Load each engine the listening and speaking path uses, through the project's own loaders, and run
it once on a short input: onnxruntime (the int8 VAD and Smart Turn), microWakeWord, openWakeWord,
CTranslate2 (Whisper), Piper, and the echo canceller (our AEC3 shim and pywebrtc-audio's). With ``--speech WAV``, also the int8 VAD against the fp32 one on
that speech: both must hear it, and agree on nearly every frame (an int8 kernel that computes wrong
on some CPU shows up here). Prints one line per engine with its time; exits 1 naming the engine that
failed. tools/ci_emulated_aarch64.sh runs it inside the emulated arm64 root, where a wheel built for
the wrong CPU or a missing shared library shows up first.

Usage: engines_check.py [--speech WAV] [--only NAME ...]"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.config import load_settings
from edge_agent.models import manager_from_settings

settings = load_settings(None)
models = manager_from_settings(settings)
# one second of a 220 Hz tone: not speech, but real samples through every stage
TONE = (0.1 * np.sin(2 * np.pi * 220 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
TONE_INT16 = (TONE * 32767).astype(np.int16)


def onnxruntime_models() -> str:
    import onnxruntime

    from edge_agent.listen.turn import load_turn_detector
    from edge_agent.listen.vad import load_vad

    vad = load_vad(settings, models, precision="int8")
    probs = [vad.process(TONE[i:i + vad.frame_samples]) for i in range(0, len(TONE) - vad.frame_samples, vad.frame_samples)]
    turn = load_turn_detector(settings, models).predict(TONE)
    return f"onnxruntime {onnxruntime.__version__}: int8 VAD max P(speech) {max(probs):.2f}, Smart Turn P(done) {turn:.2f}"


def wake_engine(engine: type) -> str:
    det = engine.from_keywords(["okay_nabu"], models)
    out = np.zeros((64, 1), np.float32)
    rows = sum(det.step(TONE_INT16[i:i + det.chunk_samples], out)
               for i in range(0, len(TONE_INT16) - det.chunk_samples + 1, det.chunk_samples))
    det.close()
    return f"{engine.__name__} okay_nabu: {rows} score rows"


def micro_wake_word() -> str:
    from edge_agent.listen.wake.micro import MicroEngine

    return wake_engine(MicroEngine)


def open_wake_word() -> str:
    from edge_agent.listen.wake.open import OpenEngine

    return wake_engine(OpenEngine)


def ctranslate2_whisper() -> str:
    import ctranslate2

    from edge_agent.stt.factory import create_stt

    stt = create_stt(settings, models)
    return f"CTranslate2 {ctranslate2.__version__}: Whisper on a tone reads {stt.transcribe(TONE)!r}"


def piper() -> str:
    from edge_agent.tts.piper_tts import PiperTts

    tts = PiperTts(models.require("piper-joe-medium", "en_US-joe-medium.onnx"))
    audio = tts.synthesize_all("Hello from an arm board.")
    return f"Piper: {len(audio) / tts.sample_rate:.2f} s of speech"


def echo_canceller(linear: bool) -> str:
    """Four seconds of a speech-like reference and its echo (40 ms late, one reflection): ERLE over
    the last two seconds, from AEC3 through our shim (the daemon's) or through pywebrtc-audio (its
    fallback)."""
    from edge_agent.audio.echo import Aec3LinearEchoCanceller, EchoCanceller, WebRtcEchoCanceller
    from edge_agent.audio.echo_path import linear_library

    rng = np.random.default_rng(0)
    n = 4 * SAMPLE_RATE
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * np.arange(n) / SAMPLE_RATE) ** 2
    ref = (np.convolve(rng.standard_normal(n), np.ones(6) / 6, mode="same") * env * 8000).astype(np.int16)
    echo = 0.5 * np.roll(ref.astype(float), 640) + 0.2 * np.roll(ref.astype(float), 900)
    mic = np.clip(echo + rng.standard_normal(n) * 30, -32768, 32767).astype(np.int16)
    c: EchoCanceller
    if linear:
        library = linear_library(settings)
        if library is None:
            raise RuntimeError("libedge_aec3.so is not built: edge-agent models pull webrtc-aec3")
        c = Aec3LinearEchoCanceller(library, max_hop=512)
    else:
        c = WebRtcEchoCanceller(max_hop=512)
    out = np.zeros(n // 512 * 512, np.int16)
    lin = np.zeros_like(out)
    for i in range(0, len(out), 512):
        out[i:i + 512] = c.process(mic[i:i + 512], ref[i:i + 512])
        lin[i:i + 512] = c.linear
    a = 2 * SAMPLE_RATE

    def erle(x: np.ndarray) -> float:
        return float(10 * np.log10(np.sum(mic[a:len(x)].astype(float) ** 2) / max(1.0, np.sum(x[a:].astype(float) ** 2))))

    if erle(out) < 20 or (linear and erle(lin) < 10):
        raise RuntimeError(f"{c.name} cancels too little: ERLE {erle(out):.1f} dB (linear {erle(lin):.1f} dB)")
    return f"{c.name}: ERLE {erle(out):.1f} dB" + (f", linear output {erle(lin):.1f} dB" if linear else "")


def vad_agreement(wav: str) -> str:
    from edge_agent.audio.wav import read_wav
    from edge_agent.listen.vad import load_vad

    audio, _ = read_wav(wav, rate=SAMPLE_RATE)
    heard = {}
    for precision in ("fp32", "int8"):
        vad = load_vad(settings, models, precision=precision)
        n = vad.frame_samples
        heard[precision] = np.array([vad.process(audio[i:i + n]) > 0.5 for i in range(0, len(audio) - n + 1, n)])
    speech = int(heard["fp32"].sum())
    agree = float((heard["fp32"] == heard["int8"]).mean())
    if speech == 0 or heard["int8"].sum() == 0 or agree < 0.95:
        raise RuntimeError(f"the int8 VAD disagrees with fp32: speech frames fp32 {speech}, int8 "
                           f"{int(heard['int8'].sum())}, agreement {agree:.1%} of {len(heard['fp32'])} frames")
    return f"int8 VAD agrees with fp32 on {agree:.1%} of {len(heard['fp32'])} frames ({speech} speech)"


ENGINES: list[tuple[str, Callable[[], str]]] = [
    ("onnxruntime", onnxruntime_models), ("microWakeWord", micro_wake_word), ("openWakeWord", open_wake_word),
    ("CTranslate2", ctranslate2_whisper), ("Piper", piper),
    ("AEC3 shim", lambda: echo_canceller(True)), ("pywebrtc-audio", lambda: echo_canceller(False)),
]


def main() -> int:
    parser = argparse.ArgumentParser(description="Load and run each engine once.")
    parser.add_argument("--speech", metavar="WAV", help="also check the int8 VAD against fp32 on this speech")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these engines (names as printed)")
    args = parser.parse_args()
    engines = list(ENGINES)
    if args.speech:
        engines.append(("VAD agreement", lambda: vad_agreement(args.speech)))
    if args.only:
        engines = [(name, run) for name, run in engines if name in args.only]
    for name, run in engines:
        t0 = time.monotonic()
        try:
            what = run()
        except Exception as exc:  # report which engine, whatever it raised
            print(f"engine {name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
            return 1
        print(f"engine {name}: {what} ({time.monotonic() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

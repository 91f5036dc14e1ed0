"""Speech synthesis for generated audio: voices, speaking a text, noise, and joining pieces with
their timings. Deterministic: Piper runs without its random noise, and every random choice comes
from a generator seeded by what it is for (:func:`seeded_rng`). Everything is 16 kHz mono int16.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.wav import read_wav, resample
from edge_agent.errors import InputDataError, ModelError

# --- what an item is -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One spoken piece inside an utterance, with where its speech starts and ends (seconds)."""

    text: str
    start_t: float
    end_t: float


@dataclass(frozen=True)
class Utterance:
    samples: np.ndarray = field(repr=False, compare=False)
    """16 kHz mono int16."""
    text: str
    """Everything said, in order (the STT reference)."""
    kind: str
    """wake, confusable, ordinary, pause, complete, command, demo."""
    voice: str
    noise: str = "none"
    snr_db: float | None = None
    keyword: str | None = None
    """The wake keyword said (kind wake), or the keyword this is confusable with."""
    segments: tuple[Segment, ...] = ()
    last_word_t: float | None = None
    """End of the last word's audio (seconds into ``samples``)."""
    pause_at: float | None = None
    """Start of the mid-sentence pause (kind pause)."""
    reference: str = ""
    """What an STT should transcribe, without the wake phrase (kind command, demo)."""

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


# --- voices ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Voice:
    engine: str
    """``piper`` or ``espeak``."""
    name: str = ""
    """espeak-ng voice, e.g. ``en-us+f3``."""
    speed: float = 1.0
    """Piper length_scale, or espeak words per minute."""
    pitch: float = 1.0
    """Piper: resampling factor (>1 raises pitch); espeak: ``-p`` 0..99."""

    @property
    def label(self) -> str:
        if self.engine == "piper":
            return f"piper:joe:ls{self.speed:g}:p{self.pitch:g}"
        return f"espeak:{self.name}:s{self.speed:g}:p{self.pitch:g}"


PIPER_VOICES = tuple(
    Voice("piper", speed=ls, pitch=p) for ls in (0.8, 1.0, 1.25) for p in (0.9, 1.0, 1.12)
)
ESPEAK_VOICES = (
    Voice("espeak", "en-us", 150, 50),
    Voice("espeak", "en-us+f3", 150, 60),
    Voice("espeak", "en-us+m3", 170, 40),
    Voice("espeak", "en-gb+f2", 140, 70),
    Voice("espeak", "en-gb-scotland", 160, 45),
    Voice("espeak", "en-029+m2", 135, 50),
    Voice("espeak", "en-gb-x-rp+f4", 180, 55),
    Voice("espeak", "en-us+m1", 125, 30),
)
ALL_VOICES = PIPER_VOICES + ESPEAK_VOICES


def models_dir() -> Path:
    from edge_agent.config import default_models_dir

    return Path(os.environ.get("EDGE_AGENT_PATHS__MODELS_DIR", default_models_dir()))


@lru_cache(maxsize=1)
def _piper() -> Any:
    from edge_agent.models import ModelManager
    from edge_agent.tts.piper_tts import PiperTts

    path = ModelManager(models_dir()).require("piper-joe-medium", "en_US-joe-medium.onnx")
    return PiperTts(path, threads=1)


def _espeak(text: str, voice: Voice) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="edge-agent-espeak-") as tmp:
        out = Path(tmp) / "out.wav"
        cmd = ["espeak-ng", "-v", voice.name, "-s", str(int(voice.speed)), "-p", str(int(voice.pitch)),
               "-w", str(out), text]
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        except FileNotFoundError:
            raise ModelError("espeak-ng is not installed (apt-get install espeak-ng)") from None
        except subprocess.CalledProcessError as exc:
            raise InputDataError(f"espeak-ng failed for voice {voice.name}: {exc.stderr.decode(errors='replace')}") from None
        audio, _ = read_wav(out, SAMPLE_RATE)
    return audio


def speech_bounds(audio: np.ndarray) -> tuple[int, int]:
    """Where the speech in ``audio`` starts and ends (samples, 10 ms steps): leading and trailing
    silence excluded, so that timings are those of the words themselves."""
    hop = SAMPLE_RATE // 100
    n = len(audio) // hop
    if n == 0:
        return 0, len(audio)
    frames = audio[: n * hop].astype(np.float32).reshape(n, hop)
    rms = np.sqrt((frames**2).mean(axis=1))
    loud = np.nonzero(rms > max(rms.max() * 0.02, 30.0))[0]
    if loud.size == 0:
        return 0, 0
    return int(loud[0]) * hop, (int(loud[-1]) + 1) * hop


def _trim(audio: np.ndarray) -> np.ndarray:
    start, end = speech_bounds(audio)
    return audio[start:end]


def speak(text: str, voice: Voice) -> np.ndarray:
    """``text`` said by ``voice``: 16 kHz int16, silence trimmed at both ends."""
    if voice.engine == "piper":
        from piper.config import SynthesisConfig

        tts = _piper()
        # Playing audio `pitch` times faster raises pitch and shortens it by the same factor;
        # lengthening synthesis by that factor first keeps the speaking rate of `speed`.
        # Piper's noise comes from an unseeded random op: zero noise makes the audio deterministic.
        cfg = SynthesisConfig(length_scale=voice.speed * voice.pitch, noise_scale=0.0, noise_w_scale=0.0)
        chunks = [c.audio_int16_array for c in tts.voice.synthesize(text, syn_config=cfg)]
        raw = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
        audio = resample(raw, int(round(tts.sample_rate * voice.pitch)), SAMPLE_RATE)
    elif voice.engine == "espeak":
        audio = _espeak(text, voice)
    else:
        raise ValueError(f"unknown voice engine {voice.engine!r}")
    return _trim(np.asarray(audio, dtype=np.int16))


# --- noise ----------------------------------------------------------------------------------------

NOISES = ("white", "pink", "babble")
BABBLE_TEXT = (
    "The committee will meet again next week to discuss the budget.",
    "She told me the train was late again this morning.",
    "We should probably paint the fence before the summer ends.",
    "Prices at the market went up by almost ten percent.",
    "He keeps his bicycle in the hallway next to the door.",
    "Nobody expected the match to go into extra time.",
)


@lru_cache(maxsize=1)
def _babble_bed() -> np.ndarray:
    """Several espeak talkers at once: speech-like noise with no intelligible words."""
    return talker_bed([speak(t, ESPEAK_VOICES[i % len(ESPEAK_VOICES)]) for i, t in enumerate(BABBLE_TEXT)], 3217)


def talker_bed(talkers: Sequence[np.ndarray], offset: int) -> np.ndarray:
    """Unit-RMS float32 mix of several talkers at once, each shifted by ``offset`` samples more than
    the one before (so no two start together)."""
    layers = [x.astype(np.float32) for x in talkers]
    n = max(len(x) for x in layers)
    bed = np.zeros(n, np.float32)
    for i, x in enumerate(layers):
        bed += np.roll(np.pad(x, (0, n - len(x))), i * offset)
    return bed / (np.sqrt((bed**2).mean()) + 1e-9)


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS float32 noise of ``kind`` (white, pink, babble)."""
    if kind == "white":
        x = rng.standard_normal(n).astype(np.float32)
    elif kind == "pink":
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1.0
        x = np.fft.irfft(spec / np.sqrt(f), n).astype(np.float32)
    elif kind == "babble":
        bed = _babble_bed()
        start = int(rng.integers(0, len(bed)))
        x = np.resize(np.roll(bed, -start), n).astype(np.float32)
    else:
        raise ValueError(f"unknown noise {kind!r}")
    return x / (np.sqrt((x**2).mean()) + 1e-9)


def _speech_rms(audio: np.ndarray) -> float:
    a = audio.astype(np.float32)
    loud = np.abs(a) > 100
    return float(np.sqrt((a[loud] ** 2).mean())) if loud.any() else 1.0


def mix_noise(audio: np.ndarray, kind: str, snr_db: float | None, rng: np.random.Generator,
              speech_rms: float | None = None) -> np.ndarray:
    """Noise of ``kind`` added at ``snr_db`` below the speech level (None: a faint floor only)."""
    level = speech_rms if speech_rms is not None else _speech_rms(audio)
    gain = level * 10 ** (-snr_db / 20) if snr_db is not None else 3.0
    mixed = audio.astype(np.float32) + gain * noise(kind if snr_db is not None else "white", len(audio), rng)
    return np.clip(np.round(mixed), -32768, 32767).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * SAMPLE_RATE)), np.int16)


def compose(pieces: Sequence[tuple[str, np.ndarray] | float]) -> tuple[np.ndarray, tuple[Segment, ...]]:
    """Join spoken pieces ``(text, audio)`` and gaps (seconds), recording each piece's timing."""
    parts: list[np.ndarray] = []
    segs: list[Segment] = []
    pos = 0
    for p in pieces:
        if isinstance(p, tuple):
            text, audio = p
            segs.append(Segment(text, pos / SAMPLE_RATE, (pos + len(audio)) / SAMPLE_RATE))
        else:
            text, audio = "", silence(p)
        parts.append(audio)
        pos += len(audio)
    return np.concatenate(parts) if parts else np.zeros(0, np.int16), tuple(segs)


def seeded_rng(*parts: object) -> np.random.Generator:
    """A generator seeded by ``parts`` (what the randomness is for): the same parts, the same draws."""
    seed = int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")
    return np.random.default_rng(seed)

"""The speech-to-text interface every engine implements.

Two ways in:

- ``transcribe(audio_16k) -> str`` for a whole utterance (the ``transcribe`` command, tests, WER).
- ``stream()`` for the live turn: the listener ``feed``\\ s 16 kHz int16 frames as they arrive,
  ``partial()`` is the best guess so far (Vosk has real partials; Whisper returns ""), ``final()``
  ends the utterance and returns its text. ``speculate()`` is a hint that silence has begun, which
  an engine may use or ignore (Whisper ignores it: the conversation speculates on whole turns).

Streams are single-use and not thread-safe: one thread feeds, then one caller asks ``final()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Transcription:
    """A transcript with the decoder's own measure of how sure it was (None: the engine has none)."""

    text: str
    avg_logprob: float | None = None
    """Mean log-probability of the decoded tokens (Whisper: length-normalised, end token included)."""
    no_speech_prob: float | None = None
    """The decoder's probability that the audio holds no speech at all."""


@runtime_checkable
class ScoredSpeechToText(Protocol):
    """An engine that can say how sure it is of a transcript (the turn policy weighs its hint by it)."""

    def transcribe_scored(self, audio: np.ndarray) -> Transcription:
        """Like ``transcribe``, with the decoder's confidence."""
        ...


@runtime_checkable
class SttStream(Protocol):
    def feed(self, frame: np.ndarray) -> None:
        """Append mono int16 samples at 16 kHz."""

    def speculate(self) -> None:
        """Silence has begun: start decoding what is buffered, if the engine benefits from it."""

    def partial(self) -> str:
        """The text so far (may change); "" if the engine has none yet."""

    def final(self) -> str:
        """End of the utterance: the text of everything fed (blocks while decoding)."""


@runtime_checkable
class SpeechToText(Protocol):
    name: str
    sample_rate: int

    def stream(self) -> SttStream:
        """A new single-use stream for one utterance."""

    def transcribe(self, audio: np.ndarray) -> str:
        """The text of one utterance of mono int16 (or float32 in [-1, 1]) audio at 16 kHz."""


def as_float32(audio: np.ndarray) -> np.ndarray:
    """Whisper wants float32 in [-1, 1]; int16 is scaled, float input is passed through."""
    if audio.dtype == np.int16:
        return audio.astype(np.float32) / 32768.0
    return np.asarray(audio, dtype=np.float32)


def as_int16(audio: np.ndarray) -> np.ndarray:
    if audio.dtype == np.int16:
        return audio
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


class UtteranceBuffer:
    """A preallocated, bounded buffer of int16 samples: ``feed`` copies in without allocating.

    Samples beyond ``capacity`` are dropped (a 60 s monologue must not grow memory without bound;
    the turn policy cuts turns long before this)."""

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, dtype=np.int16)
        self.length = 0
        self.dropped = 0

    def feed(self, frame: np.ndarray) -> None:
        n = min(len(frame), len(self._buf) - self.length)
        if n > 0:
            self._buf[self.length : self.length + n] = frame[:n]
            self.length += n
        self.dropped += len(frame) - max(n, 0)

    def audio(self) -> np.ndarray:
        """A view of the samples fed so far (valid until the next ``feed``)."""
        return self._buf[: self.length]

"""Where audio comes from and where it goes.

Sources (:class:`AudioSource`) produce mono int16 at ``sample_rate`` (16 kHz) into the C ring
buffer :class:`edge_agent.audio.ringbuf.RingBuffer`; the listener thread reads it in fixed hops.
A microphone (``pa.MicSource``) is fed by the PortAudio callback. A WAV file (``files.WavInput``)
is not an AudioSource: its own thread writes each hop and steps the listener itself (paced in real
time, or as fast as the listener goes).

Sinks (:class:`AudioSink`) take the voice's int16 chunks at ``sample_rate`` (22,050 Hz for the
default voice) and play them: the speaker (``pa.SpeakerSink``). A WAV file (``files.WavPlayback``) is written
by the conversation directly (its ``Playback``), on the input's clock.
Playback is interruptible: ``stop()`` drops everything queued and the device falls silent
within one callback period (barge-in must take effect within 100 ms).

Timing for voice-to-voice latency: call ``begin_reply()`` before writing a reply's first chunk;
the sink records when that reply's first sample was handed to the device (``first_sample_t``,
``time.monotonic()`` seconds) and calls ``on_first_sample(t)`` from the writer's thread (the next
``write``/``drain`` after it happened: never from the audio callback).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from edge_agent.audio.ringbuf import RingBuffer


@runtime_checkable
class AudioSource(Protocol):
    sample_rate: int
    ring: RingBuffer
    """Where the samples go (single producer: this source)."""

    def start(self) -> None:
        """Start producing (returns at once; a thread or the PortAudio callback does the work)."""

    def stop(self) -> None:
        """Stop producing and release the device or file. Idempotent."""

    @property
    def finished(self) -> bool:
        """True once a finite source (a file) has delivered everything; a microphone never finishes."""


@runtime_checkable
class AudioSink(Protocol):
    sample_rate: int
    """The rate ``write`` expects (the voice's rate)."""
    on_first_sample: Callable[[float], None] | None

    def start(self) -> None:
        """Open the device or file (idempotent; ``write`` starts it too)."""

    def begin_reply(self) -> None:
        """The next sample written is a reply's first: time it (see the module docstring)."""

    def write(self, chunk: np.ndarray) -> None:
        """Queue int16 samples at ``sample_rate``; blocks while the queue is full (backpressure).
        Returns at once, dropping the chunk, while a ``stop()`` is in effect for this reply."""

    def stop(self) -> None:
        """Barge-in: drop everything queued; silence within one device period. Safe from any thread."""

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything written has been played; False on timeout."""

    def set_volume(self, gain: float) -> None:
        """Linear gain applied to what is written from now on (0 = mute, 1 = as synthesized)."""

    @property
    def first_sample_t(self) -> float | None:
        """``time.monotonic()`` when the current reply's first sample reached the device, else None."""

    @property
    def playing(self) -> bool:
        """Audio is queued or being played (the listener raises its barge-in threshold meanwhile)."""

    def close(self) -> None:
        """Stop and release the device or file. Idempotent."""


def apply_gain(chunk: np.ndarray, gain: float) -> np.ndarray:
    """int16 samples scaled by ``gain`` with clipping (a new array unless gain is 1)."""
    if gain == 1.0:
        return chunk
    return np.clip(chunk.astype(np.float32) * gain, -32768, 32767).astype(np.int16)


def as_int16(chunk: np.ndarray | bytes) -> np.ndarray:
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return np.frombuffer(chunk, dtype=np.int16)
    if chunk.dtype == np.int16:
        return chunk
    return (np.clip(chunk, -1.0, 1.0) * 32767.0).astype(np.int16)

"""The microphone ring buffer: the C extension's :class:`RingBuffer` plus small helpers.

See ``_ringbuf.pyi`` for the threading contract (one producer, one consumer, peeks from anywhere).
"""

from __future__ import annotations

from edge_agent.audio._ringbuf import GIL_RELEASE_MIN_SAMPLES, RingBuffer

__all__ = ["GIL_RELEASE_MIN_SAMPLES", "RingBuffer", "ring_for_seconds"]


def ring_for_seconds(seconds: float, sample_rate: int) -> RingBuffer:
    """A ring holding ``seconds`` of mono audio at ``sample_rate`` (e.g. ``audio.ring_seconds``)."""
    if seconds <= 0 or sample_rate <= 0:
        raise ValueError(f"ring size must be positive, got {seconds} s at {sample_rate} Hz")
    return RingBuffer(max(1, round(seconds * sample_rate)))

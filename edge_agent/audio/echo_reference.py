"""The echo reference: what the speaker path played, at 16 kHz, in a second C ring buffer.

The listener reads it alongside the microphone and gives both to the echo canceller. Two
producers feed it, one at a time:

  - the speaker's PortAudio callback (``pa.SpeakerSink``) ``append``s every 16 kHz sample it
    plays, silence included, so the reference runs continuously on the output device's clock,
    and records the device's output latency (``outputBufferDacTime - currentTime``) in
    ``dac_latency_s``; the listener reads it in sequence (``read_next_into``), a hop for each
    microphone hop, and drops what runs too far ahead (the two devices' clocks drift apart);
  - the WAV sink (``files.WavPlayback``) ``write_at``s each reply at the input time it plays,
    padding with silence, so file runs line up with the input's timeline; the listener reads
    it by position (``read_at_into``). The sink writes only what has played by the position
    read (through ``feeder``, on the reader's thread), so a reply cut by barge-in is cut in the
    reference too.

One producer thread and one consumer thread, as for every :class:`RingBuffer`. Reads and
writes copy into and out of preallocated arrays only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.ringbuf import RingBuffer


class EchoReference:
    """A ring of ``seconds`` of reference audio with its timeline (see the module docstring)."""

    def __init__(self, seconds: float = 30.0, max_lead_s: float = 0.5, max_hop: int = 4096,
                 timeline: bool = False) -> None:
        self.ring = RingBuffer(int(seconds * SAMPLE_RATE))
        self.timeline = timeline
        """True: written with ``write_at`` and read by position (file runs); False: in sequence."""
        self.feeder: Callable[[int], None] | None = None
        """Timeline mode: called with a position before a read, so the producer can ``write_at``
        everything that has played until then (the WAV sink writes as its clock plays)."""
        self.max_lead = int(max_lead_s * SAMPLE_RATE)
        """Sequential reads drop reference older than this much ahead of the microphone."""
        self.base = 0
        """Timeline position of the ring's first sample ever written (``write_at`` moves it once)."""
        self.dac_latency_s: float | None = None
        """Output latency the device reported for the last period (None: it reports none)."""
        self.written = 0
        """Samples played into the reference (after alignment), for the bench and tests."""
        self._zeros = np.zeros(max_hop, np.int16)
        self._scratch = np.zeros(max_hop, np.int16)

    # --- producers ------------------------------------------------------------------------------

    def append(self, samples: np.ndarray) -> None:
        """The next samples played (the speaker's callback: a copy, nothing else)."""
        self.ring.write(samples)
        self.written += len(samples)

    @property
    def end(self) -> int:
        """Timeline position just after the last sample written."""
        return self.base + self.ring.total_written

    def write_at(self, samples: np.ndarray, position: int) -> None:
        """``samples`` played from timeline ``position`` on; silence fills any gap before it.
        Samples before ``end`` (an overlap) are dropped: what was written first stands."""
        if self.ring.total_written == 0 and position > 0:
            self.base = position  # the first write needs no padding
        gap = position - self.end
        while gap > 0:
            n = min(gap, len(self._zeros))
            self.ring.write(self._zeros[:n])
            gap -= n
        skip = max(0, -gap)
        if skip < len(samples):
            self.ring.write(np.ascontiguousarray(samples[skip:], np.int16))
            self.written += len(samples) - skip

    # --- the consumer ---------------------------------------------------------------------------

    def _discard(self, n: int) -> None:
        while n > 0:
            got = self.ring.read_into(self._scratch[: min(n, len(self._scratch))])
            if got == 0:
                return
            n -= got

    def skip(self, n: int) -> None:
        """``n`` microphone samples were lost: drop as much reference, to stay in step (sequential)."""
        if not self.timeline:
            self._discard(n)

    def read_hop_into(self, out: np.ndarray, position: int) -> int:
        """The reference for the microphone hop at timeline ``position``: by position when the
        producer writes a timeline, else the next samples in sequence."""
        return self.read_at_into(out, position) if self.timeline else self.read_next_into(out)

    def read_next_into(self, out: np.ndarray) -> int:
        """The next ``len(out)`` reference samples in sequence (silence where none were played);
        returns how many were real. Reference more than ``max_lead`` ahead is dropped first."""
        lead = self.ring.available - len(out)
        if lead > self.max_lead:
            self._discard(lead - self.max_lead // 2)
        got = self.ring.read_into(out) if self.ring.available else 0
        out[got:] = 0
        return got

    def read_at_into(self, out: np.ndarray, position: int) -> int:
        """Reference samples for timeline ``[position, position + len(out))`` into ``out``
        (silence where nothing was played); returns how many were real."""
        n = len(out)
        if self.feeder is not None:
            self.feeder(position + n)
        start = self.end - self.ring.available  # the oldest unread sample's position
        if position > start:
            self._discard(position - start)
            start = self.end - self.ring.available
        lead = min(n, max(0, start - position))  # nothing was written for these
        out[:lead] = 0
        got = self.ring.read_into(out[lead:]) if lead < n and self.ring.available else 0
        out[lead + got :] = 0
        return got

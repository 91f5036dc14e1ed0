"""WAV files as the daemon's audio input and output (``--input WAV`` / ``--output WAV``, tests,
benchmarks).

:class:`WavInput` stands in for the microphone. Its own thread writes the file hop by hop into the
listener's ring and steps the listener right after each write, so however fast it runs (``--fast``)
the ring never overruns, and a paced hop reaches the listener exactly when its last sample would
have been captured. :class:`PacedInput` is that loop for any source of hops (the latency bench
splices utterances into silence with it).

:class:`WavPlayback` stands in for the speaker: the conversation's ``Playback`` into a WAV file.
Paced, audio "plays" in real time after it is written (``played()`` grows with the clock, ``drain``
waits for the end, ``stop`` cuts what was not heard yet); unpaced, everything written is heard at
once. Given the input's clock (``position``) it places each reply at the input time it was played,
so the output lines up with the input. ``add_reference`` makes it the producer of an echo
reference (:class:`edge_agent.audio.echo_reference.EchoReference`) on that same timeline: the
listener (and a simulated room) read what played at each input position, a reply cut by
``stop()`` cut there too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.base import apply_gain, as_int16
from edge_agent.audio.echo_reference import EchoReference
from edge_agent.audio.wav import read_wav, resample, write_wav

log = logging.getLogger(__name__)



class PacedInput:
    """Feeds :meth:`hops` into ``listener.ring`` from its own thread, stepping the listener after
    each hop; paced in real time unless ``paced`` is false. When the hops run out the listener is
    told the input is over (``end_turn``: a turn in progress ends). ``now()`` is the input clock."""

    def __init__(self, paced: bool = True) -> None:
        self.paced = paced
        self.written = 0
        """Samples delivered to the listener so far."""
        self._t0: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done = threading.Event()

    def hops(self, hop: int) -> Iterator[np.ndarray]:
        """The input as ``hop``-sample int16 frames (it may never end)."""
        raise NotImplementedError

    def now(self) -> float:
        """Seconds of input 'captured' so far: wall time since the start when paced (it goes on
        past the end, so latency after the input ends is still wall latency)."""
        if self.paced and self._t0 is not None:
            return time.monotonic() - self._t0
        return self.written / SAMPLE_RATE

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the input is over (or stopped)."""
        return self._done.wait(timeout)

    def start(self, listener: Any, on_done: Callable[[], None] | None = None) -> None:
        from edge_agent.listen.listener import HOP

        self._thread = threading.Thread(target=self._run, args=(listener, HOP, on_done),
                                        name=f"{type(self).__name__}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)

    def _run(self, listener: Any, hop: int, on_done: Callable[[], None] | None) -> None:
        self._t0 = time.monotonic()
        try:
            for frame in self.hops(hop):
                if self.paced:  # a hop exists only once its last sample has been 'captured'
                    delay = self._t0 + (self.written + frame.size) / SAMPLE_RATE - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                if self._stop.is_set():
                    return
                listener.ring.write(frame)
                self.written += frame.size
                listener.step()
            listener.end_turn()  # input over mid-turn: end it (a no-op when nobody spoke)
            listener.step()
        except Exception:
            log.exception("the %s thread failed", type(self).__name__)
        finally:
            self._done.set()
            if on_done is not None:
                on_done()


class WavInput(PacedInput):
    """A WAV file (any rate, width or channels; converted to 16 kHz mono) as the microphone."""

    def __init__(self, path: str | Path, paced: bool = True) -> None:
        super().__init__(paced)
        self.path = Path(path)
        self.audio, _ = read_wav(self.path, SAMPLE_RATE)  # a missing, empty or broken file: InputDataError naming it

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def hops(self, hop: int) -> Iterator[np.ndarray]:
        return self.frames(hop)

    def frames(self, hop: int) -> Iterator[np.ndarray]:
        """The audio as consecutive ``hop``-sample frames, the last one zero-padded (nothing is lost)."""
        for i in range(0, self.audio.size, hop):
            frame = self.audio[i : i + hop]
            if frame.size < hop:
                frame = np.concatenate([frame, np.zeros(hop - frame.size, np.int16)])
            yield frame


@dataclass
class ReplyMark:
    """Where a reply starts in the output."""

    sample: int
    """Position of the reply's first sample in the output (at ``sample_rate``)."""
    t: float
    """``time.monotonic()`` when that sample starts playing."""
    wall_t: float
    """The same moment as ``time.time()`` (for logs and events)."""
    stopped_at: int | None = None
    """Output position where ``stop()`` cut it, if it was interrupted."""


class WavPlayback:
    """The reply into a WAV file at ``output_rate`` (default: ``sample_rate``, the voice's).

    ``position`` (the input clock, seconds) places a reply that starts while nothing plays at that
    input time, padding with silence. After ``stop()`` the rest of the reply is dropped until the
    next ``begin_reply()``, as the speaker does. Each reply's start is in :attr:`replies`."""

    def __init__(self, path: str | Path, sample_rate: int, paced: bool = True,
                 position: Callable[[], float] | None = None, output_rate: int | None = None) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.output_rate = output_rate or sample_rate
        self.paced = paced
        self.position = position
        self.replies: list[ReplyMark] = []
        self.reply_samples = 0
        """Reply samples in the file (not counting the silence placed between replies)."""
        self._parts: list[np.ndarray] = []
        self._length = 0
        self._play_end = 0.0  # monotonic time the queued audio finishes playing
        self._gain = 1.0
        self._reply_pending = False
        self._dropping = False
        self._references: list[tuple[EchoReference, list[int]]] = []  # each with how far it was fed
        self._ref_segments: list[tuple[int, np.ndarray]] = []  # (16 kHz timeline position, audio)
        self._ref_lock = threading.Lock()

    def add_reference(self, reference: EchoReference) -> None:
        """Feed ``reference`` with what plays, on the input's timeline (see the module docstring)."""
        fed = [0]
        reference.timeline = True
        reference.feeder = lambda upto: self._feed(reference, fed, upto)
        self._references.append((reference, fed))

    def _feed(self, reference: EchoReference, fed: list[int], upto: int) -> None:
        """On the reader's thread: write what has played before ``upto`` and was not written yet."""
        with self._ref_lock:
            for start, audio in self._ref_segments:
                a, b = max(start, fed[0]), min(start + len(audio), upto)
                if b > a:
                    reference.write_at(audio[a - start : b - start], a)
            fed[0] = max(fed[0], upto)
            done = min(f[0] for _, f in self._references)
            while self._ref_segments and self._ref_segments[0][0] + len(self._ref_segments[0][1]) <= done:
                self._ref_segments.pop(0)

    def _to_reference(self, audio: np.ndarray, position: int) -> None:
        if not self._references:
            return
        pos16 = round(position * SAMPLE_RATE / self.sample_rate)
        audio16 = resample(audio, self.sample_rate, SAMPLE_RATE) if self.sample_rate != SAMPLE_RATE else audio
        with self._ref_lock:
            self._ref_segments.append((pos16, np.ascontiguousarray(audio16, np.int16)))

    def _cut_reference(self, position: int) -> None:
        cut16 = round(position * SAMPLE_RATE / self.sample_rate)
        with self._ref_lock:
            kept = []
            for start, audio in self._ref_segments:
                if start < cut16:
                    kept.append((start, audio[: cut16 - start]))
            self._ref_segments = kept

    def _remaining(self) -> int:
        if not self.paced:
            return 0
        return max(0, int((self._play_end - time.monotonic()) * self.sample_rate))

    def played(self) -> int:
        return self.reply_samples - min(self._remaining(), self.reply_samples)

    @property
    def playing(self) -> bool:
        return self._remaining() > 0

    def begin_reply(self) -> None:
        self._reply_pending = True
        self._dropping = False

    def set_volume(self, gain: float) -> None:
        self._gain = max(0.0, gain)

    async def write(self, chunk: np.ndarray) -> None:
        if self._dropping:
            return
        now = time.monotonic()
        if self._remaining() == 0 and self.position is not None:
            pad = int(self.position() * self.sample_rate) - self._length
            if pad > 0:
                self._append(np.zeros(pad, np.int16))
        start = max(self._play_end, now)
        if self._reply_pending:
            self._reply_pending = False
            self.replies.append(ReplyMark(self._length, start, time.time() + (start - now)))
        audio = apply_gain(as_int16(chunk), self._gain)
        self._to_reference(audio, self._length)
        self._append(audio)
        self.reply_samples += len(chunk)
        self._play_end = start + len(chunk) / self.sample_rate

    def _append(self, a: np.ndarray) -> None:
        self._parts.append(a)
        self._length += len(a)

    async def drain(self) -> None:
        if self.paced:
            await asyncio.sleep(max(0.0, self._play_end - time.monotonic()))

    def stop(self) -> None:
        cut = self._remaining()
        if cut:
            audio = np.concatenate(self._parts)[: self._length - cut]
            self._parts, self._length = [audio], len(audio)
            self.reply_samples -= cut
            if self.replies:
                self.replies[-1].stopped_at = self._length
            self._cut_reference(self._length)
        self._play_end = time.monotonic()
        self._dropping = True
        self._reply_pending = False

    def close(self) -> None:
        audio = np.concatenate(self._parts) if self._parts else np.zeros(0, np.int16)
        if self.output_rate != self.sample_rate:
            audio = resample(audio, self.sample_rate, self.output_rate)
        write_wav(self.path, audio, self.output_rate)

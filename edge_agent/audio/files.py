"""WAV files as audio source and sink (``--input WAV`` / ``--output WAV``, tests, benchmarks).

:class:`WavSource` feeds the same ring buffer a microphone would, paced in real time by default
(so latency figures mean what they would with a microphone) or as fast as the reader drains the
ring with ``fast=True`` (it then waits for room instead of overwriting unread samples).
:meth:`WavSource.frames` gives the samples as fixed hops with no thread or ring at all.

:class:`WavSink` writes what a speaker would have played. It models a device clock when
``paced`` (the default): samples are "played" in real time after they are written, so ``stop()``
(barge-in) cuts the reply where playback had got to, ``drain()`` waits for the end, and
``first_sample_t`` is when the reply's first sample would have reached the speaker. Unpaced, every
write is played at once. ``timeline=True`` fills the time between replies with silence, so the
file lines up with the input. Each reply's start is recorded in :attr:`WavSink.replies`.
"""

from __future__ import annotations

import logging
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_agent.audio.base import apply_gain, as_int16
from edge_agent.audio.ringbuf import RingBuffer
from edge_agent.audio.wav import read_wav
from edge_agent.errors import AudioError

log = logging.getLogger(__name__)


class WavSource:
    """A WAV file (any rate/width/channels; converted by ``read_wav``) into ``ring`` at ``sample_rate``.

    ``tail_s`` of silence is appended so a turn that ends with the file still sees its silence.
    ``position`` is how many samples have been delivered; ``audio_t`` the same in seconds."""

    def __init__(self, path: str | Path, ring: RingBuffer | None = None, sample_rate: int = 16000,
                 fast: bool = False, chunk_ms: int = 10, tail_s: float = 0.0) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        audio, _ = read_wav(self.path, rate=sample_rate)  # InputDataError names the file
        if tail_s > 0:
            audio = np.concatenate([audio, np.zeros(int(tail_s * sample_rate), np.int16)])
        self.audio = audio
        self.fast = fast
        self.chunk = max(1, sample_rate * chunk_ms // 1000)
        self.ring = ring if ring is not None else RingBuffer(max(self.chunk * 4, 30 * sample_rate))
        if self.ring.capacity < self.chunk:
            raise AudioError(f"ring buffer of {self.ring.capacity} samples is smaller than one chunk ({self.chunk})")
        self.position = 0
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def duration_s(self) -> float:
        return self.audio.size / self.sample_rate

    @property
    def audio_t(self) -> float:
        return self.position / self.sample_rate

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the whole file has been delivered."""
        return self._done.wait(timeout)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="wav-source", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def frames(self, hop: int) -> Iterator[np.ndarray]:
        """The audio as consecutive ``hop``-sample frames (the last one zero-padded), no pacing."""
        for i in range(0, self.audio.size, hop):
            frame = self.audio[i : i + hop]
            if frame.size < hop:
                frame = np.concatenate([frame, np.zeros(hop - frame.size, np.int16)])
            yield frame

    def _run(self) -> None:
        t0 = time.monotonic()
        audio, ring, chunk = self.audio, self.ring, self.chunk
        try:
            for start in range(0, audio.size, chunk):
                if self._stop.is_set():
                    return
                piece = audio[start : start + chunk]
                if self.fast:
                    while ring.capacity - ring.available < piece.size:  # room, not overwrite
                        if self._stop.wait(0.001):
                            return
                else:
                    delay = t0 + start / self.sample_rate - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                ring.write(piece)
                self.position = start + piece.size
        finally:
            self._done.set()


@dataclass
class ReplyMark:
    """Where a reply starts in the output: its first sample and when it reached the "speaker"."""

    sample: int
    """Position of the reply's first sample in the output file (at the file's rate)."""
    t: float
    """``time.monotonic()`` when that sample would start playing."""
    wall_t: float = 0.0
    """The same moment as ``time.time()`` (for logs and events)."""
    stopped_at: int | None = None
    """Output position where ``stop()`` cut it, if it was interrupted."""


class WavSink:
    """Writes played audio to ``path`` at ``output_rate`` (default: ``sample_rate``, the voice's)."""

    def __init__(self, path: str | Path, sample_rate: int = 22050, output_rate: int | None = None,
                 paced: bool = True, timeline: bool = False, volume: float = 1.0,
                 max_queue_s: float = 2.0) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.output_rate = output_rate or sample_rate
        self.paced = paced
        self.timeline = timeline
        self.max_queue_s = max_queue_s
        self.on_first_sample: Callable[[float], None] | None = None
        self.replies: list[ReplyMark] = []
        self._gain = volume
        self._lock = threading.Lock()
        self._wave: wave.Wave_write | None = None
        self._pending: list[np.ndarray] = []  # written but not yet "played" (paced)
        self._pending_n = 0
        self._file_n = 0  # samples in the file
        self._play_end_t = 0.0  # when the last queued sample finishes playing
        self._start_t: float | None = None
        self._reply_pending = False
        self._dropping = False  # after stop(): drop writes until the next begin_reply()
        self._first_t: float | None = None
        self._notify = False
        self._resampler: object | None = None

    # --- AudioSink ------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._wave is not None:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                wf = wave.open(str(self.path), "wb")  # noqa: SIM115 (open until close())
            except OSError as exc:
                raise AudioError(f"cannot write the output WAV {self.path}: {exc.strerror or exc}") from None
            wf.setnchannels(1)
            wf.setsampwidth(2)
            wf.setframerate(self.output_rate)
            self._wave = wf
            self._start_t = time.monotonic()

    def begin_reply(self) -> None:
        self._finish_resampler()
        with self._lock:
            self._reply_pending = True
            self._dropping = False
            self._first_t = None
            self._resampler = self._new_resampler()

    def write(self, chunk: np.ndarray) -> None:
        self.start()
        data = as_int16(chunk)
        if data.size == 0:
            return
        with self._lock:
            if self._dropping:
                return
            data = self._convert(data)
            now = time.monotonic()
            self._flush_played(now)
            if self.paced and self._play_end_t <= now:
                self._pad_silence(now)
                self._play_end_t = now
            start_t = max(now, self._play_end_t) if self.paced else now
            if self.timeline and not self.paced and self._pending_n == 0:
                self._pad_silence(now)
            if self._reply_pending:
                self._reply_pending = False
                self._first_t = start_t
                self._notify = True
                self.replies.append(ReplyMark(self._file_n + self._pending_n, start_t,
                                              time.time() + (start_t - now)))
            self._append(data, start_t, now)
        self._fire_first_sample()
        while self.paced and not self._dropping and self._play_end_t - time.monotonic() > self.max_queue_s:
            time.sleep(0.005)  # backpressure, as a device's full buffer would give

    def stop(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._flush_played(now)
            if self._pending_n and self.replies:
                self.replies[-1].stopped_at = self._file_n
            self._pending.clear()
            self._pending_n = 0
            self._play_end_t = min(self._play_end_t, now)
            self._dropping = True
            self._reply_pending = False

    def drain(self, timeout: float | None = None) -> bool:
        self._finish_resampler()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.paced and time.monotonic() < self._play_end_t:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(min(0.01, max(0.0, self._play_end_t - time.monotonic())))
        with self._lock:
            self._flush_played(time.monotonic())
        self._fire_first_sample()
        return True

    def set_volume(self, gain: float) -> None:
        self._gain = max(0.0, gain)

    @property
    def first_sample_t(self) -> float | None:
        return self._first_t

    @property
    def playing(self) -> bool:
        return self.paced and time.monotonic() < self._play_end_t

    @property
    def samples_written(self) -> int:
        """Samples in the output so far, including what is still "playing"."""
        return self._file_n + self._pending_n

    def close(self) -> None:
        self._finish_resampler()
        with self._lock:
            if self._wave is None:
                return
            for piece in self._pending:  # close = the end of playback: what was queued is played
                self._wave.writeframes(piece.tobytes())
                self._file_n += piece.size
            self._pending.clear()
            self._pending_n = 0
            self._wave.close()
            self._wave = None

    # --- internals ------------------------------------------------------------------------------

    def _new_resampler(self) -> object | None:
        if self.output_rate == self.sample_rate:
            return None
        import soxr

        return soxr.ResampleStream(self.sample_rate, self.output_rate, 1, dtype="int16")

    def _finish_resampler(self) -> None:
        """The end of a reply: the streaming resampler still holds a few ms of it."""
        resampler, self._resampler = self._resampler, None
        if resampler is None or self._dropping:
            return
        tail = resampler.resample_chunk(np.zeros(0, np.int16), last=True)  # type: ignore[attr-defined]
        if tail.size:
            self._queue(apply_gain(tail, self._gain), time.monotonic())

    def _convert(self, data: np.ndarray) -> np.ndarray:
        if self.output_rate != self.sample_rate:
            resampler = self._resampler
            if resampler is None:
                resampler = self._resampler = self._new_resampler()
            data = resampler.resample_chunk(data)  # type: ignore[attr-defined]
        return apply_gain(data, self._gain)

    def _queue(self, data: np.ndarray, now: float) -> None:
        with self._lock:
            if self._wave is None:
                return
            self._flush_played(now)
            self._append(data, max(now, self._play_end_t) if self.paced else now, now)

    def _append(self, data: np.ndarray, start_t: float, now: float) -> None:
        self._pending.append(data)
        self._pending_n += data.size
        self._play_end_t = start_t + data.size / self.output_rate if self.paced else now
        if not self.paced:
            self._flush_played(now)

    def _flush_played(self, now: float) -> None:
        """Move what the modelled device has played from the queue into the file."""
        if self._wave is None or not self._pending_n:
            return
        unplayed = max(0, int(round((self._play_end_t - now) * self.output_rate))) if self.paced else 0
        played = self._pending_n - unplayed
        while played > 0 and self._pending:
            piece = self._pending[0]
            take = min(played, piece.size)
            self._wave.writeframes(piece[:take].tobytes())
            self._file_n += take
            self._pending_n -= take
            played -= take
            if take == piece.size:
                self._pending.pop(0)
            else:
                self._pending[0] = piece[take:]

    def _pad_silence(self, now: float) -> None:
        if not self.timeline or self._wave is None or self._start_t is None:
            return
        gap = int((now - self._start_t) * self.output_rate) - self._file_n - self._pending_n
        if gap > 0:
            self._wave.writeframes(bytes(2 * gap))
            self._file_n += gap

    def _fire_first_sample(self) -> None:
        if self._notify and self._first_t is not None:
            self._notify = False
            if self.on_first_sample is not None:
                self.on_first_sample(self._first_t)

"""The speaker through PortAudio: :class:`SpeakerSink`.

A callback-mode output stream fed from a ring buffer at the device's rate. ``write`` resamples
the voice (22,050 Hz) to the device rate and applies the volume on the caller's thread; the
callback copies from the ring into a preallocated array (PyAudio's callback API then needs one
``bytes`` per period). ``stop()`` asks the callback to clear the ring, so the speaker is silent
within one period (20 ms by default) plus the device's latency.

With an echo ``reference`` (:class:`edge_agent.audio.echo_reference.EchoReference`), ``write``
also queues a 16 kHz copy of each chunk, and the callback moves as much of it as it played
(silence included) into the reference ring, with the device's output latency
(``outputBufferDacTime - currentTime``), so the listener can cancel the agent's own voice.
A device that disappears is reopened with backoff, as the microphone is.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.base import apply_gain, as_int16
from edge_agent.audio.echo_reference import EchoReference
from edge_agent.audio.pa import (
    PA_CONTINUE,
    Backoff,
    close_stream,
    find_device,
    load_pyaudio,
    open_portaudio,
    supports_rate,
)
from edge_agent.audio.ringbuf import RingBuffer
from edge_agent.errors import AudioError

log = logging.getLogger(__name__)


class SpeakerSink:
    """The speaker: ``write`` voice chunks at ``sample_rate``; ``stop()`` silences within a period.

    Opens at ``output_rate`` if given, else at ``sample_rate`` if the device accepts it, else at
    the device's default rate (resampling on the writer's thread). ``queue_s`` is how much audio
    may be queued ahead of the device; ``write`` blocks beyond that."""

    def __init__(self, sample_rate: int = 22050, device: str | int | None = None, output_rate: int | None = None,
                 volume: float = 1.0, period_ms: int = 20, queue_s: float = 2.0,
                 reconnect_max_s: float = 30.0, pyaudio_module: Any = None,
                 reference: EchoReference | None = None) -> None:
        self.sample_rate = sample_rate
        self.reference: EchoReference | None = None
        self._ref_pending: RingBuffer | None = None
        self._ref_out = np.zeros(0, np.int16)
        self._ref_acc = 0  # device samples x 16 kHz not yet turned into whole reference samples
        self._ref_resampler: Any = None
        self.device = device
        self.output_rate = output_rate
        self.period_ms = period_ms
        self.queue_s = queue_s
        self.on_first_sample: Callable[[float], None] | None = None
        self.opened_rate: int | None = None
        self.device_name: str | None = None
        self.backoff = Backoff(0.5, reconnect_max_s)
        self._module = pyaudio_module
        self._gain = volume
        self._pa: Any = None
        self._stream: Any = None
        self._ring: RingBuffer | None = None
        self._out: np.ndarray = np.zeros(0, np.int16)
        self._flush_requested = 0  # stop() bumps it; the callback clears the ring and catches up
        self._flush_done = 0
        self._reply_pos: int | None = None  # ring position of the current reply's first sample
        self._first_t: float | None = None
        self._notified = True
        self._dropping = False
        self._resampler: Any = None
        self._next_reopen = 0.0
        self._lock = threading.Lock()
        if reference is not None:
            self.set_reference(reference)

    # the PortAudio callback: copy from the ring, nothing else

    def _callback(self, in_data: Any, frame_count: int, time_info: Any, status: int) -> tuple[bytes, int]:
        ring = self._ring
        out = self._out[:frame_count] if frame_count <= self._out.size else np.zeros(frame_count, np.int16)
        if ring is None:
            out[:] = 0
            return out.tobytes(), PA_CONTINUE
        if self._flush_done != self._flush_requested:
            self._flush_done = self._flush_requested
            ring.clear()
            if self._ref_pending is not None:
                self._ref_pending.clear()
        n = ring.read_into(out)
        if n < frame_count:
            out[n:] = 0
        if self._ref_pending is not None:
            self._reference_period(frame_count, n, time_info)
        if n and self._first_t is None and self._reply_pos is not None \
                and ring.total_written - ring.available > self._reply_pos:
            self._first_t = time.monotonic()
        return out.tobytes(), PA_CONTINUE

    def set_reference(self, reference: EchoReference) -> None:
        """Feed ``reference`` with everything played from now on (call before playing)."""
        self.reference = reference  # before the pending ring: the callback checks that one
        self._ref_pending = RingBuffer(int((self.queue_s + 1.0) * SAMPLE_RATE))

    def _reference_period(self, frame_count: int, played: int, time_info: Any) -> None:
        """Callback side of the echo reference: copies only (see the module docstring)."""
        pending, ref, rate = self._ref_pending, self.reference, self.opened_rate or self.sample_rate
        assert pending is not None and ref is not None
        self._ref_acc += frame_count * SAMPLE_RATE
        total = min(self._ref_acc // rate, self._ref_out.size)
        self._ref_acc -= total * rate
        want = total if played == frame_count else min(total, played * SAMPLE_RATE // rate)
        got = pending.read_into(self._ref_out[:want]) if want and pending.available else 0
        self._ref_out[got:total] = 0
        if total:
            ref.append(self._ref_out[:total])
        if isinstance(time_info, dict):
            latency = time_info.get("output_buffer_dac_time", 0.0) - time_info.get("current_time", 0.0)
            if 0.0 < latency < 1.0:
                ref.dac_latency_s = latency

    # AudioSink

    def start(self) -> None:
        if self._stream is None:
            self._open()

    def _open(self) -> None:
        pyaudio = load_pyaudio(self._module)
        pa = open_portaudio(self._module)
        try:
            info = find_device(pa, self.device, "output")
            rate = self.output_rate or self.sample_rate
            if not self.output_rate and not supports_rate(pa, info, rate, "output", pyaudio.paInt16):
                rate = int(info.get("defaultSampleRate") or 48000)
            period = max(1, rate * self.period_ms // 1000)
            if self._ring is None or self.opened_rate != rate:
                self._ring = RingBuffer(max(period * 4, int(self.queue_s * rate)))
            self._out = np.zeros(period * 4, np.int16)
            self._ref_out = np.zeros(period * 4 * SAMPLE_RATE // rate + 2, np.int16)
            self.opened_rate = rate
            stream = pa.open(format=pyaudio.paInt16, channels=1, rate=rate, output=True,
                             output_device_index=info["index"], frames_per_buffer=period,
                             stream_callback=self._callback, start=True)
        except AudioError:
            pa.terminate()
            raise
        except (OSError, ValueError) as exc:
            pa.terminate()
            raise AudioError(f"cannot open the speaker {self.device!r}: {exc}") from None
        with self._lock:
            self._pa, self._stream = pa, stream
        self.device_name = str(info.get("name"))
        log.info("speaker %r open at %d Hz", self.device_name, rate)

    def begin_reply(self) -> None:
        self.start()
        self._finish_resampler()
        assert self._ring is not None
        self._dropping = False
        self._first_t = None
        self._notified = False
        self._reply_pos = self._ring.total_written
        self._resampler = self._new_resampler()
        self._ref_resampler = None

    def write(self, chunk: np.ndarray) -> None:
        self.start()
        if self._dropping:
            return
        data = as_int16(chunk)
        if self.opened_rate != self.sample_rate:
            resampler = self._resampler  # stop() may drop it meanwhile: keep our own reference
            if resampler is None:
                resampler = self._resampler = self._new_resampler()
            data = resampler.resample_chunk(data)
        data = np.ascontiguousarray(apply_gain(data, self._gain), dtype=np.int16)
        self._queue_reference(as_int16(chunk))
        self._queue(data)

    def _queue_reference(self, voice: np.ndarray) -> None:
        """The 16 kHz copy the callback hands to the echo reference as it plays (writer's thread)."""
        if self._ref_pending is None:
            return
        if self.sample_rate != SAMPLE_RATE:
            if self._ref_resampler is None:
                import soxr

                self._ref_resampler = soxr.ResampleStream(self.sample_rate, SAMPLE_RATE, 1, dtype="int16")
            voice = self._ref_resampler.resample_chunk(voice)
        if voice.size:
            self._ref_pending.write(np.ascontiguousarray(apply_gain(voice, self._gain), dtype=np.int16))

    def _finish_resampler(self) -> None:
        """The end of a reply: the streaming resampler still holds a few ms of it."""
        resampler, self._resampler = self._resampler, None
        if resampler is not None and not self._dropping:
            tail = resampler.resample_chunk(np.zeros(0, np.int16), last=True)
            if tail.size:
                self._queue(np.ascontiguousarray(apply_gain(tail, self._gain), dtype=np.int16))

    def _queue(self, data: np.ndarray) -> None:
        """Into the ring as room frees up (backpressure)."""
        ring = self._ring
        assert ring is not None
        pos = 0
        while pos < data.size:
            if self._dropping or not self._check_stream():
                return  # barge-in, or the speaker is gone: this audio is lost, not queued forever
            free = ring.capacity - ring.available
            if free <= 0 or self._flush_done != self._flush_requested:
                time.sleep(self.period_ms / 4000)
                self._fire_first_sample()
                continue
            take = min(free, data.size - pos)
            ring.write(data[pos : pos + take])
            pos += take
        self._fire_first_sample()

    def stop(self, wait: bool = True) -> None:
        """Drop everything queued; with ``wait``, return once the callback has done it (<= ~2 periods)."""
        self._dropping = True
        if self._first_t is None:
            self._reply_pos = None  # a reply stopped before it was heard has no first sample
        self._flush_requested += 1
        self._resampler = None
        if wait and self._stream is not None:
            deadline = time.monotonic() + 4 * self.period_ms / 1000 + 0.05
            while self._flush_done != self._flush_requested and time.monotonic() < deadline:
                time.sleep(0.002)

    def drain(self, timeout: float | None = None) -> bool:
        self._finish_resampler()
        deadline = None if timeout is None else time.monotonic() + timeout
        ring = self._ring
        while ring is not None and ring.available > 0 and not self._dropping:
            self._fire_first_sample()
            if not self._check_stream():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(self.period_ms / 2000)
        if self._stream is not None:  # what the device itself still holds
            with contextlib.suppress(OSError, ValueError, AttributeError):
                time.sleep(min(0.2, float(self._stream.get_output_latency())))
        self._fire_first_sample()
        return True

    def set_volume(self, gain: float) -> None:
        self._gain = max(0.0, gain)

    @property
    def first_sample_t(self) -> float | None:
        return self._first_t

    @property
    def playing(self) -> bool:
        return self._ring is not None and self._ring.available > 0

    def close(self) -> None:
        self._dropping = True
        with self._lock:
            stream, pa = self._stream, self._pa
            self._stream = self._pa = None
        close_stream(stream, pa)

    # internals

    def _new_resampler(self) -> Any:
        if self.opened_rate is None or self.opened_rate == self.sample_rate:
            return None
        import soxr

        return soxr.ResampleStream(self.sample_rate, self.opened_rate, 1, dtype="int16")

    def _fire_first_sample(self) -> None:
        if not self._notified and self._first_t is not None:
            self._notified = True
            if self.on_first_sample is not None:
                self.on_first_sample(self._first_t)

    def _check_stream(self) -> bool:
        """Reopen a speaker that went away (USB unplugged), at most once per backoff delay.

        True if the stream is (again) running."""
        stream = self._stream
        try:
            alive = stream is not None and bool(stream.is_active())
        except (OSError, ValueError):
            alive = False
        if alive:
            return True
        if time.monotonic() < self._next_reopen:
            return False
        log.warning("speaker %r went away; reopening", self.device_name or self.device)
        self.close()
        self._dropping = False
        try:
            self._open()
        except AudioError as exc:
            self._next_reopen = time.monotonic() + self.backoff.delay()
            log.info("speaker not back yet: %s", exc.message)
            return False
        self.backoff.reset()
        return True

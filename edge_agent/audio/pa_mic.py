"""The microphone through PortAudio: :class:`MicSource`.

The audio path is sacred: the input callback writes the device's bytes into the C ring buffer
and returns. The device is opened at 16 kHz whenever it accepts that (ALSA's ``plug`` layer and
nearly every USB microphone do), so nothing else is needed. Only if the device refuses 16 kHz it
opens at ``device_rate`` (or the device's default rate), the callback writes into a second ring at
that rate, and a resampler thread moves audio from it into the 16 kHz ring with a streaming
libsoxr resampler (allocation-free resampling inside the callback is not possible with libsoxr,
so it is kept off the audio thread).

A device that disappears (USB unplugged: the stream stops, raises IOError, or stops delivering
audio) is reopened by a supervisor thread with exponential backoff, capped at
``reconnect_max_s``, until it is back; PortAudio is re-initialised for each attempt so a device
plugged in again is seen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

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


class MicSource:
    """A microphone into ``ring`` at ``sample_rate`` (mono int16), reopened if it disappears.

    ``on_event(kind, detail)`` (optional; called from the supervisor thread) hears about
    ``"audio_lost"`` and ``"audio_restored"`` so the daemon can publish them."""

    def __init__(self, ring: RingBuffer, sample_rate: int = 16000, device: str | int | None = None,
                 device_rate: int | None = None, frame_ms: int = 10, reconnect_max_s: float = 30.0,
                 reconnect_initial_s: float = 0.5, stall_s: float = 2.0, check_s: float = 0.2,
                 pyaudio_module: Any = None, on_event: Callable[[str, str], None] | None = None) -> None:
        self.ring = ring
        self.sample_rate = sample_rate
        self.device = device
        self.device_rate = device_rate
        self.frame_ms = frame_ms
        self.stall_s = stall_s
        self.check_s = check_s
        self.backoff = Backoff(reconnect_initial_s, reconnect_max_s)
        self.on_event = on_event
        self.reconnects = 0
        self.opened_rate: int | None = None
        self.device_name: str | None = None
        self._module = pyaudio_module
        self._pa: Any = None
        self._stream: Any = None
        self._raw: RingBuffer | None = None  # device-rate ring when the device refuses 16 kHz
        self._resampler_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def finished(self) -> bool:
        return False

    def start(self) -> None:
        """Open the device now (a missing device raises AudioError here), then supervise it."""
        if self._supervisor is not None:
            return
        self._open()
        self._stop.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="mic-supervisor", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        self._stop.set()
        for t in (self._supervisor, self._resampler_thread):
            if t is not None and t is not threading.current_thread():
                t.join(timeout=2.0)
        self._supervisor = None
        self._resampler_thread = None
        self._close()

    # the PortAudio callbacks: one ring write, nothing else

    def _callback(self, in_data: bytes, frame_count: int, time_info: Any, status: int) -> tuple[None, int]:
        self.ring.write(in_data)
        return None, PA_CONTINUE

    def _raw_callback(self, in_data: bytes, frame_count: int, time_info: Any, status: int) -> tuple[None, int]:
        self._raw.write(in_data)  # type: ignore[union-attr]
        return None, PA_CONTINUE

    # opening, closing, supervising

    def _open(self) -> None:
        pyaudio = load_pyaudio(self._module)
        pa = open_portaudio(self._module)
        try:
            info = find_device(pa, self.device, "input")
            rate = self.sample_rate
            resample = False
            if self.device_rate or not supports_rate(pa, info, rate, "input", pyaudio.paInt16):
                rate = int(self.device_rate or info.get("defaultSampleRate") or 48000)
                resample = rate != self.sample_rate
            if resample:
                self._raw = RingBuffer(rate * 2)
            callback = self._raw_callback if resample else self._callback
            stream = pa.open(format=pyaudio.paInt16, channels=1, rate=rate, input=True,
                             input_device_index=info["index"], frames_per_buffer=max(1, rate * self.frame_ms // 1000),
                             stream_callback=callback, start=True)
        except AudioError:
            pa.terminate()
            raise
        except (OSError, ValueError) as exc:
            pa.terminate()
            raise AudioError(f"cannot open the microphone {self.device!r}: {exc}") from None
        with self._lock:
            self._pa, self._stream = pa, stream
        self.opened_rate = rate
        self.device_name = str(info.get("name"))
        if resample and self._resampler_thread is None:
            self._resampler_thread = threading.Thread(target=self._resample_loop, args=(rate,),
                                                      name="mic-resampler", daemon=True)
            self._resampler_thread.start()
        log.info("microphone %r open at %d Hz%s", self.device_name, rate,
                 f" (resampled to {self.sample_rate} Hz)" if resample else "")

    def _close(self) -> None:
        with self._lock:
            stream, pa = self._stream, self._pa
            self._stream = self._pa = None
        close_stream(stream, pa)

    def _healthy(self, last_total: int, last_change: float) -> tuple[bool, int, float]:
        ring = self._raw if self._raw is not None else self.ring
        total = ring.total_written
        now = time.monotonic()
        if total != last_total:
            last_total, last_change = total, now
        stream = self._stream
        try:
            active = stream is not None and bool(stream.is_active())
        except (OSError, ValueError):
            active = False
        stalled = now - last_change > self.stall_s
        return active and not stalled, last_total, last_change

    def _supervise(self) -> None:
        last_total, last_change = -1, time.monotonic()
        while not self._stop.wait(self.check_s):
            ok, last_total, last_change = self._healthy(last_total, last_change)
            if ok:
                continue
            log.warning("microphone %r stopped delivering audio; reopening", self.device_name or self.device)
            self._event("audio_lost", str(self.device_name or self.device))
            self._close()
            while not self._stop.is_set():
                delay = self.backoff.delay()
                if self._stop.wait(delay):
                    return
                try:
                    self._open()
                except AudioError as exc:
                    log.info("microphone not back yet (next try in %.1f s): %s", self.backoff.next, exc.message)
                    continue
                self.reconnects += 1
                self.backoff.reset()
                self._event("audio_restored", str(self.device_name))
                last_total, last_change = -1, time.monotonic()
                break

    def _event(self, kind: str, detail: str) -> None:
        if self.on_event is not None:
            try:
                self.on_event(kind, detail)
            except Exception:  # a subscriber's bug must not kill the microphone
                log.exception("audio event handler failed")

    def _resample_loop(self, rate: int) -> None:
        import soxr

        stream = soxr.ResampleStream(rate, self.sample_rate, 1, dtype="int16")
        hop = max(1, rate * self.frame_ms // 1000)
        while not self._stop.is_set():
            raw = self._raw
            if raw is None or raw.available < hop:
                time.sleep(self.frame_ms / 2000)
                continue
            out = stream.resample_chunk(raw.read(hop))
            if out.size:
                self.ring.write(np.ascontiguousarray(out, dtype=np.int16))

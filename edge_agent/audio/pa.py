"""Microphone and speaker through PyAudio (PortAudio).

The audio path is sacred: the PortAudio callbacks do the least possible.

- :class:`MicSource`: the input callback writes the device's bytes into the C ring buffer and
  returns. It opens the device at 16 kHz whenever the device accepts that (ALSA's ``plug``
  layer and nearly every USB microphone do), so nothing else is needed. Only if the device
  refuses 16 kHz it opens at ``device_rate`` (or the device's default rate), the callback writes
  into a second ring at that rate, and a resampler thread moves audio from it into the 16 kHz
  ring with a streaming libsoxr resampler (allocation-free resampling inside the callback is not
  possible with libsoxr, so it is kept off the audio thread).
- :class:`SpeakerSink`: a callback-mode output stream fed from a ring buffer at the device's
  rate. ``write`` resamples the voice (22,050 Hz) to the device rate and applies the volume on
  the caller's thread; the callback copies from the ring into a preallocated array (PyAudio's
  callback API then needs one ``bytes`` per period). ``stop()`` asks the callback to clear the
  ring, so the speaker is silent within one period (20 ms by default) plus the device's latency.
  With an echo ``reference`` (:class:`edge_agent.audio.echo_reference.EchoReference`), ``write``
  also queues a 16 kHz copy of each chunk, and the callback moves as much of it as it played
  (silence included) into the reference ring, with the device's output latency
  (``outputBufferDacTime - currentTime``), so the listener can cancel the agent's own voice.

A device that disappears (USB unplugged: the stream stops, raises IOError, or stops delivering
audio) is reopened by a supervisor thread with exponential backoff, capped at
``reconnect_max_s``, until it is back; PortAudio is re-initialised for each attempt so a device
plugged in again is seen. Devices are chosen by index or by a case-insensitive substring of their
name; a missing one raises :class:`AudioError` listing the devices that exist.

``pyaudio_module`` (anything with PyAudio's ``PyAudio`` class and constants) is injectable, so
the reconnect logic is tested with a fake; the real path is tested through ALSA's file plugin.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.base import apply_gain, as_int16
from edge_agent.audio.echo_reference import EchoReference
from edge_agent.audio.ringbuf import RingBuffer
from edge_agent.errors import AudioError

log = logging.getLogger(__name__)

PA_CONTINUE = 0  # paContinue


# --- PortAudio set-up ------------------------------------------------------------------------------

_alsa_quiet: Any = None


def _silence_alsa() -> None:
    """ALSA prints a dozen lines to stderr for every config node it cannot evaluate while
    PortAudio enumerates devices; route them to a no-op handler (once per process)."""
    global _alsa_quiet
    if _alsa_quiet is not None:
        return
    import ctypes
    import ctypes.util

    try:
        lib = ctypes.cdll.LoadLibrary(ctypes.util.find_library("asound") or "libasound.so.2")
    except OSError:
        _alsa_quiet = False
        return
    handler_type = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p)
    _alsa_quiet = handler_type(lambda *_: None)
    lib.snd_lib_error_set_handler(_alsa_quiet)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """JACK's client library writes "server is not running" to fd 2 while PortAudio probes it."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _pyaudio(module: ModuleType | Any | None) -> Any:
    if module is not None:
        return module
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    try:
        import pyaudio
    except ImportError as exc:  # the wheel needs libportaudio2
        raise AudioError(f"PyAudio cannot be loaded ({exc}); install libportaudio2") from None
    return pyaudio


def open_portaudio(module: ModuleType | Any | None = None) -> Any:
    """A new ``PyAudio()`` instance, quietly (see :func:`_silence_alsa`)."""
    pyaudio = _pyaudio(module)
    if module is None:
        _silence_alsa()
        with _quiet_stderr():
            return pyaudio.PyAudio()
    return pyaudio.PyAudio()


def list_devices(pa: Any) -> list[dict[str, Any]]:
    out = []
    for i in range(pa.get_device_count()):
        try:
            info = dict(pa.get_device_info_by_index(i))
        except (OSError, ValueError):
            continue
        info["index"] = i
        out.append(info)
    return out


def available_devices(pyaudio_module: Any = None) -> list[dict[str, Any]]:
    """Every PortAudio device (``index``, ``name``, ``maxInputChannels``, ``maxOutputChannels``,
    ``defaultSampleRate``, ...), e.g. for ``edge-agent doctor``. Raises AudioError without PortAudio."""
    pa = open_portaudio(pyaudio_module)
    try:
        return list_devices(pa)
    finally:
        pa.terminate()


def close_stream(stream: Any, pa: Any) -> None:
    """Stop and close a stream, then its PyAudio; a device that is already gone is no error."""
    if stream is not None:
        for step in (stream.stop_stream, stream.close):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                step()
    if pa is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            pa.terminate()


def describe_devices(devices: list[dict[str, Any]]) -> str:
    if not devices:
        return "no audio devices at all (is the sound card or USB device connected?)"
    return "; ".join(
        f"{d['index']}: {d['name']!r} (in {int(d.get('maxInputChannels', 0))}, out {int(d.get('maxOutputChannels', 0))})"
        for d in devices)


def find_device(pa: Any, spec: str | int | None, kind: str) -> dict[str, Any]:
    """The device info for ``spec`` (index, digit string, or name substring; None = default).

    ``kind`` is "input" or "output". Raises AudioError listing the devices that exist."""
    channels_key = "maxInputChannels" if kind == "input" else "maxOutputChannels"
    devices = list_devices(pa)
    usable = [d for d in devices if d.get(channels_key, 0) > 0]
    if spec is None:
        try:
            info = dict(pa.get_default_input_device_info() if kind == "input" else pa.get_default_output_device_info())
            return info
        except (OSError, ValueError):
            if usable:
                return usable[0]
            raise AudioError(f"no default {kind} device; devices: {describe_devices(devices)}") from None
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        for d in usable:
            if d["index"] == index:
                return d
        raise AudioError(f"no {kind} device with index {index}; devices: {describe_devices(devices)} "
                         f"(set audio.{kind}_device to an index or a part of a name)")
    wanted = spec.lower()
    exact = [d for d in usable if str(d["name"]).lower() == wanted]
    matches = exact or [d for d in usable if wanted in str(d["name"]).lower()]
    if not matches:
        raise AudioError(f"no {kind} device matching {spec!r}; devices: {describe_devices(devices)} "
                         f"(set audio.{kind}_device to an index or a part of a name)")
    return matches[0]


def _supports(pa: Any, info: dict[str, Any], rate: int, kind: str, fmt: int) -> bool:
    try:
        if kind == "input":
            return bool(pa.is_format_supported(rate, input_device=info["index"], input_channels=1, input_format=fmt))
        return bool(pa.is_format_supported(rate, output_device=info["index"], output_channels=1, output_format=fmt))
    except (ValueError, OSError, KeyError):
        return False


class Backoff:
    """Exponential backoff: ``initial``, doubling, capped at ``maximum``; ``reset()`` after success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = min(initial, maximum)
        self.maximum = maximum
        self.next = self.initial

    def delay(self) -> float:
        d = self.next
        self.next = min(self.maximum, self.next * 2)
        return d

    def reset(self) -> None:
        self.next = self.initial


# --- microphone ------------------------------------------------------------------------------------


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
        pyaudio = _pyaudio(self._module)
        pa = open_portaudio(self._module)
        try:
            info = find_device(pa, self.device, "input")
            rate = self.sample_rate
            resample = False
            if self.device_rate or not _supports(pa, info, rate, "input", pyaudio.paInt16):
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


# --- speaker ---------------------------------------------------------------------------------------


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
        pyaudio = _pyaudio(self._module)
        pa = open_portaudio(self._module)
        try:
            info = find_device(pa, self.device, "output")
            rate = self.output_rate or self.sample_rate
            if not self.output_rate and not _supports(pa, info, rate, "output", pyaudio.paInt16):
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

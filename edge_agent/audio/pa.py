"""PortAudio (through PyAudio) set-up shared by the microphone and the speaker.

Opening PortAudio quietly (ALSA's and JACK's complaints about devices that are not there go to
/dev/null), listing and choosing devices (by index or by a case-insensitive substring of their
name; a missing one raises :class:`AudioError` listing the devices that exist), asking whether a
device takes a rate, and the reconnect backoff. The streams are in
:mod:`edge_agent.audio.pa_mic` and :mod:`edge_agent.audio.pa_speaker`.

``pyaudio_module`` (anything with PyAudio's ``PyAudio`` class and constants) is injectable, so
the reconnect logic is tested with a fake; the real path is tested through ALSA's file plugin.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

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


def load_pyaudio(module: ModuleType | Any | None) -> Any:
    """``module`` if given (a fake in tests), else the real PyAudio (JACK never started for it)."""
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
    pyaudio = load_pyaudio(module)
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


def supports_rate(pa: Any, info: dict[str, Any], rate: int, kind: str, fmt: int) -> bool:
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

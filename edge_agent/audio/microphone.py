"""The PortAudio microphone as the daemon's input: device checks (before the models load, so a
missing microphone fails fast) and :class:`Microphone`, which fills the listener's ring."""

from __future__ import annotations

import contextlib
import logging

from edge_agent.audio import SAMPLE_RATE, pa
from edge_agent.audio.pa_mic import MicSource
from edge_agent.audio.ringbuf import RingBuffer
from edge_agent.bus import EventBus
from edge_agent.config import Settings
from edge_agent.events import ErrorEvent

log = logging.getLogger(__name__)


def has_input_device() -> bool:
    """Whether PortAudio can see a microphone (any input device at all)."""
    try:
        portaudio = pa.open_portaudio()
    except Exception:
        return False
    try:
        return any(d.get("maxInputChannels", 0) > 0 for d in pa.list_devices(portaudio))
    finally:
        with contextlib.suppress(Exception):
            portaudio.terminate()


def check_input_device(settings: Settings) -> None:
    """Raise AudioError (listing the devices) if the configured microphone is not there."""
    portaudio = pa.open_portaudio()
    try:
        pa.find_device(portaudio, settings.audio.input_device, "input")
    finally:
        with contextlib.suppress(Exception):
            portaudio.terminate()


class Microphone:
    """The PortAudio microphone into the listener's ring; ``now()`` is the capture clock. A lost
    device is reported on the bus as an ``error`` event (stage ``audio``)."""

    def __init__(self, settings: Settings, bus: EventBus) -> None:
        self.settings = settings
        self.bus = bus
        self.source: MicSource | None = None

    def start(self, ring: RingBuffer) -> None:
        a = self.settings.audio
        self.source = MicSource(ring, sample_rate=SAMPLE_RATE, device=a.input_device,
                                device_rate=a.device_sample_rate, frame_ms=a.frame_ms,
                                reconnect_max_s=a.reconnect_max_s, on_event=self._event)
        self.source.start()  # a missing device raises AudioError listing the devices

    def now(self) -> float:
        return self.source.ring.total_written / SAMPLE_RATE if self.source is not None else 0.0

    def _event(self, kind: str, detail: str) -> None:
        if kind == "audio_lost":
            self.bus.publish(ErrorEvent(stage="audio", message=f"microphone lost: {detail}"))
        else:
            log.info("microphone %s: %s", kind, detail)

    def close(self) -> None:
        if self.source is not None:
            self.source.stop()

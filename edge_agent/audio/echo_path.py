"""The full-duplex audio path's parts, built from the settings, and how they attach.

:func:`build_echo_path` gives the echo canceller (or the pass-through when AEC is off or its
library does not load) and the echo reference ring; ``attach_sink`` makes the speaker or the WAV
sink feed that reference, ``attach_listener`` makes the listener read it. The daemon calls these
three; nothing else about echo cancellation is wired elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge_agent.audio.drift import ClockDriftCorrector
from edge_agent.audio.echo import EchoCanceller, load_echo_canceller
from edge_agent.audio.echo_reference import EchoReference

if TYPE_CHECKING:
    from edge_agent.config import Settings

log = logging.getLogger(__name__)


@dataclass
class EchoPath:
    echo: EchoCanceller | None
    """None when ``audio.echo_cancellation`` is off (the listener behaves as without AEC)."""
    reference: EchoReference
    reader: ClockDriftCorrector
    """How the listener reads ``reference``: through the clock-drift correction."""

    def attach_sink(self, sink: Any) -> None:
        """The sink that plays the replies feeds the reference: a ``WavPlayback`` on the input's
        timeline, a ``SpeakerSink`` (or a wrapper with ``.sink``) from its PortAudio callback."""
        target = getattr(sink, "sink", sink)
        if hasattr(target, "add_reference"):
            target.add_reference(self.reference)
        elif hasattr(target, "set_reference"):
            target.set_reference(self.reference)

    def attach_listener(self, listener: Any) -> None:
        listener.reference = self.reference
        listener.reader = self.reader


def build_echo_path(settings: Settings, acoustic: bool = True) -> EchoPath:
    """``acoustic``: the input can hear the output (a microphone, or a WAV through a simulated
    room); without it there is no echo and no canceller."""
    from edge_agent.listen.listener import HOP

    a = settings.audio
    echo = None
    if a.echo_cancellation and acoustic:
        echo = load_echo_canceller(True, max_hop=HOP, noise_suppression=a.echo_noise_suppression,
                                   gain_control=a.echo_gain_control, linear_library=linear_library(settings),
                                   filter_blocks=max(1, round(a.echo_filter_ms / 4)))
    reference = EchoReference()
    return EchoPath(echo, reference, ClockDriftCorrector(reference, HOP))


_told = False


def linear_library(settings: Settings) -> str | None:
    """The built AEC3-with-linear-output library, or None (said once) when it is not built."""
    global _told
    from edge_agent.audio.echo import AEC3_LIBRARY_FILE, AEC3_LIBRARY_MODEL
    from edge_agent.errors import ModelError
    from edge_agent.models import ModelManager

    try:
        return str(ModelManager(settings.paths.models_dir).require(AEC3_LIBRARY_MODEL, AEC3_LIBRARY_FILE))
    except ModelError as exc:
        if not _told:
            _told = True
            log.warning("%s; until then pywebrtc-audio's AEC3 is used, whose suppressor leaves the wake word and the "
                        "STT less of the user over a reply", exc.message)
        return None

"""The wake/acknowledge chime (``audio.chime``): a short sound when the agent starts listening.

It is played through the conversation's playback like any reply, so it reaches the echo reference
and is cancelled before the listener hears it (a chime the STT hears comes back as "Ding!").
``tone`` is a built-in two-note chime; any other value is a WAV file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_agent.audio.wav import read_wav

TONE_NOTES = ((880.0, 0.07), (1320.0, 0.09))
"""(frequency Hz, seconds) of the built-in chime: a rising fifth, 160 ms in all."""
TONE_LEVEL = 0.25
"""Peak of the built-in chime (about -12 dBFS): audible, well under the voice."""


def tone(sample_rate: int) -> np.ndarray:
    """The built-in chime at ``sample_rate`` (mono int16), each note faded in and out (no clicks)."""
    notes = []
    for freq, seconds in TONE_NOTES:
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)  # 10 ms ramps
        notes.append(np.sin(2 * np.pi * freq * t) * fade * TONE_LEVEL)
    return (np.concatenate(notes) * 32767).astype(np.int16)


def chime_samples(spec: str, sample_rate: int) -> np.ndarray | None:
    """What ``audio.chime`` asks for at the playback's rate: None for ``off``. A WAV that cannot be
    read raises :class:`~edge_agent.errors.InputDataError` naming the file."""
    if spec == "off":
        return None
    if spec == "tone":
        return tone(sample_rate)
    samples, _ = read_wav(Path(spec).expanduser(), rate=sample_rate)
    return samples

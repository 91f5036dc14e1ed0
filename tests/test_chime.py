"""``audio.chime``: the built-in tone, a WAV of the operator's, and a clear error for anything else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent.audio.chime import TONE_LEVEL, chime_samples, tone
from edge_agent.audio.wav import write_wav
from edge_agent.config import ConfigError, load_settings


def test_the_tone_is_short_quiet_and_starts_and_ends_softly() -> None:
    t = tone(22050)
    assert 0.15 < t.size / 22050 < 0.2
    assert np.abs(t).max() <= TONE_LEVEL * 32767 + 1
    assert abs(int(t[0])) < 200 and abs(int(t[-1])) < 200  # faded: no click


def test_off_is_no_chime_and_a_wav_is_resampled_to_the_playback(tmp_path: Path) -> None:
    assert chime_samples("off", 22050) is None
    wav = tmp_path / "ding.wav"
    write_wav(wav, (np.sin(np.arange(1600) / 5) * 8000).astype(np.int16), 16000)
    samples = chime_samples(str(wav), 22050)
    assert samples is not None and abs(samples.size - 2205) <= 2


def test_an_unknown_chime_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, audio={"chime": str(tmp_path / "nope.wav")})
    assert "audio.chime" in str(err.value)

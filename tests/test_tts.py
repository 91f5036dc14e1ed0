"""TTS: Piper with the joe voice (speaking a reply clause by clause is in test_speech_out.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_agent.errors import ModelError

# --- the real voice -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def piper(model_path):  # type: ignore[no-untyped-def]
    from edge_agent.tts.piper_tts import PiperTts

    tts = PiperTts(model_path("piper-joe-medium", "en_US-joe-medium.onnx"))
    tts.warm_up()
    return tts


def test_missing_voice_names_the_fix(tmp_path: Path) -> None:
    from edge_agent.tts.piper_tts import PiperTts

    with pytest.raises(ModelError, match="models pull piper-joe-medium"):
        PiperTts(tmp_path / "nope.onnx")


@pytest.mark.real_model
def test_piper_speaks_a_clause(piper) -> None:  # type: ignore[no-untyped-def]
    audio = piper.synthesize_all("Sure, the kitchen lights are on now.")
    assert piper.sample_rate == 22050
    assert audio.dtype == np.int16 and 1.0 < audio.size / 22050 < 4.0
    assert np.abs(audio).max() > 3000

"""Silero VAD fp32 and int8: real models, speech + noise, agreement, no per-frame allocation,
and the int8 build being byte-for-byte what the manifest pins."""

from __future__ import annotations

import hashlib
import tracemalloc

import numpy as np
import pytest

from edge_agent import speechgen
from edge_agent.errors import ModelError
from edge_agent.listen.vad import FRAME_SAMPLES, SileroVad
from edge_agent.models import Manifest
from edge_agent.models.recipes.vad_int8 import OUTPUT_FILE, build

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def fp32(model_path) -> SileroVad:
    return SileroVad(model_path("silero-vad", "silero_vad.onnx"))


@pytest.fixture(scope="module")
def int8(model_path) -> SileroVad:
    return SileroVad(model_path("silero-vad-int8", "silero_vad_16k_int8.onnx"))


@pytest.fixture(scope="module")
def speech_and_noise() -> list[speechgen.Utterance]:
    return speechgen.complete_sentences(n=6) + speechgen.pause_sentences(n=4)


def probs(vad: SileroVad, audio: np.ndarray) -> np.ndarray:
    vad.reset()
    n = len(audio) // FRAME_SAMPLES
    return np.array([vad.process(audio[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES]) for i in range(n)])


def test_fp32_finds_the_speech(fp32: SileroVad, speech_and_noise) -> None:
    for utt in speech_and_noise[:6]:
        p = probs(fp32, utt.samples)
        t = (np.arange(len(p)) + 1) * FRAME_SAMPLES / 16000
        seg = utt.segments[0]
        inside = p[(t > seg.start_t + 0.2) & (t < seg.end_t - 0.1)]
        after = p[t > seg.end_t + 0.5]
        assert (inside >= 0.5).mean() > 0.7, utt.voice
        assert (after >= 0.5).mean() < (0.05 if utt.noise != "babble" else 0.2), utt.voice  # babble is speech-like


def test_int8_agrees_with_fp32(fp32: SileroVad, int8: SileroVad, speech_and_noise) -> None:
    rng = np.random.default_rng(3)
    clips = [u.samples for u in speech_and_noise]
    clips += [np.round(speechgen.noise(k, 16000 * 5, rng) * 800).astype(np.int16) for k in ("white", "pink", "babble")]
    a = np.concatenate([probs(fp32, c) for c in clips])
    b = np.concatenate([probs(int8, c) for c in clips])
    agreement = ((a >= 0.5) == (b >= 0.5)).mean()
    assert agreement >= 0.99, agreement
    assert np.abs(a - b).mean() < 0.01


def test_float_and_int16_frames_match_and_reset_restarts(fp32: SileroVad, speech_and_noise) -> None:
    audio = speech_and_noise[0].samples[: FRAME_SAMPLES * 40]
    first = probs(fp32, audio)
    fp32.reset()
    floats = np.array([fp32.process(audio[i * 512:(i + 1) * 512].astype(np.float32) / 32768) for i in range(40)])
    np.testing.assert_allclose(first, floats, atol=1e-5)
    with pytest.raises(ValueError, match="512"):
        fp32.process(np.zeros(320, np.int16))


def test_no_allocation_per_frame(int8: SileroVad) -> None:
    frame = (np.sin(np.arange(512) / 5.0) * 3000).astype(np.int16)
    for _ in range(20):
        int8.process(frame)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(300):
        int8.process(frame)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown < 4096, grown


def test_int8_build_is_deterministic_and_pinned(model_path, tmp_path) -> None:
    src = model_path("silero-vad")
    build({"silero-vad": src}, tmp_path / "a")
    build({"silero-vad": src}, tmp_path / "b")
    a, b = (tmp_path / "a" / OUTPUT_FILE).read_bytes(), (tmp_path / "b" / OUTPUT_FILE).read_bytes()
    assert a == b
    pinned = Manifest.load().get("silero-vad-int8").files[0]
    assert hashlib.sha256(a).hexdigest() == pinned.sha256 and len(a) == pinned.size


def test_not_a_vad_model(model_path) -> None:
    with pytest.raises(ModelError, match="not a Silero VAD"):
        SileroVad(model_path("smart-turn-v3.2", "smart-turn-v3.2-cpu.onnx"))

"""Whisper log-mel features against transformers' reference, and the Smart Turn detector."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent import speechgen
from edge_agent.errors import ModelError
from edge_agent.listen.features import LogMel, fit_to_length, mel_filterbank
from edge_agent.listen.turn import TurnDetector


@pytest.fixture(scope="module")
def reference():
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=8, n_fft=400)


def ref_features(fe, audio: np.ndarray) -> np.ndarray:
    return fe(audio, sampling_rate=16000, return_tensors="np", padding="max_length", max_length=128000,
              truncation=True, do_normalize=True).input_features[0]


def test_filterbank_matches_reference(reference) -> None:
    # transformers stores it as [freq bins, mels]
    np.testing.assert_allclose(mel_filterbank(), np.asarray(reference.mel_filters).T, rtol=1e-6, atol=1e-9)


@pytest.mark.real_model
def test_log_mel_matches_reference_on_speech(reference) -> None:
    mel = LogMel()
    utts = speechgen.pause_sentences(n=4)
    long = np.concatenate([u.samples for u in utts])  # > 8 s: keeps the end
    for audio in (utts[0].samples, utts[1].samples[:8000], long):
        x = fit_to_length(audio, 128000)
        ours = mel.compute(x)
        ref = ref_features(reference, x)
        assert ours.shape == ref.shape == (80, 800)
        assert np.abs(ours - ref).max() < 1e-3


def test_log_mel_on_noise_and_silence(reference) -> None:
    mel = LogMel()
    rng = np.random.default_rng(0)
    for x in (rng.standard_normal(128000).astype(np.float32) * 0.1, np.zeros(128000, np.float32)):
        assert np.abs(mel.compute(x) - ref_features(reference, x)).max() < 1e-3


def test_fit_to_length_pads_at_the_start() -> None:
    out = fit_to_length(np.full(10, 16384, np.int16), 16)
    assert out.dtype == np.float32 and (out[:6] == 0).all() and np.allclose(out[6:], 0.5)
    out = fit_to_length(np.arange(20, dtype=np.float32), 16)
    assert out[0] == 4 and out[-1] == 19
    with pytest.raises(ValueError):
        LogMel(1600).compute(np.zeros(100, np.float32))


@pytest.mark.real_model
def test_turn_detector_scores_complete_and_cut_speech(model_path) -> None:
    turn = TurnDetector(model_path("smart-turn-v3.2", "smart-turn-v3.2-cpu.onnx"))
    complete = [u for u in speechgen.complete_sentences(n=6) if u.voice.startswith("piper")]
    probs = []
    for u in complete:
        end = int((u.last_word_t + 0.3) * 16000)
        probs.append(turn.predict(u.samples[:end]))
    assert np.median(probs) > 0.5, probs
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert turn.predict(np.zeros(0, np.int16)) == 0.0
    # context is capped: a long input gives the same answer as its last 8 s
    long = np.concatenate([complete[0].samples] * 3)
    assert turn.predict(long) == pytest.approx(turn.predict(long[-128000:]), abs=1e-6)


@pytest.mark.real_model
def test_turn_detector_refuses_other_models(model_path) -> None:
    with pytest.raises(ModelError, match="not Smart Turn"):
        TurnDetector(model_path("silero-vad", "silero_vad.onnx"))


@pytest.mark.real_model
def test_language_model_completeness(model_path) -> None:
    from edge_agent.listen.semantic import LmCompleteness

    lm = LmCompleteness(model_path("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    unfinished = lm.probability("I would like to order.")
    finished = lm.probability("Set a timer for twenty minutes.")
    assert unfinished is not None and finished is not None
    assert unfinished < 0.05 < finished
    assert lm.probability(" ... ") is None
    assert lm.hint("Please remind me to") == pytest.approx(0.0, abs=0.2)
    scored = lm.scored_hint("Set a timer for twenty minutes.")  # what the daemon hands the policy
    assert scored is not None and scored.p_end == pytest.approx(finished) and scored.p == lm.hint(scored.text or "")
    assert lm.scored_hint(" ... ") is None


@pytest.mark.real_model
def test_completeness_shares_the_chat_models_weights(model_path) -> None:
    from llama_cpp import Llama

    from edge_agent.listen.semantic import LmCompleteness

    gguf = model_path("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
    chat = Llama(str(gguf), n_ctx=512, n_threads=1, verbose=False)
    chat.eval(chat.tokenize(b"The chat model's own context", add_bos=True))
    shared, own = LmCompleteness(chat), LmCompleteness(gguf)
    for text in ("I would like to order.", "Remind me to call my mother at 6."):
        assert shared.probability(text) == pytest.approx(own.probability(text), abs=0.01)
    assert chat.n_tokens > 0  # the chat model's KV cache was left alone
    # digits are judged as spoken ("at 6" -> "at six"), and a monologue is cut to its end
    assert shared.probability("Remind me to call my mother at 6.") == pytest.approx(
        shared.probability("Remind me to call my mother at six."), abs=0.01)
    assert shared.probability("and then " * 200 + "that is all.") is not None

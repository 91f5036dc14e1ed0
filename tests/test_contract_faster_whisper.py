"""The parts of faster-whisper (and CTranslate2's Whisper) that :mod:`edge_agent.stt.whisper_backend`
uses beyond ``WhisperModel.transcribe``.

``pyproject.toml`` bounds both libraries to the versions checked here. When a new release renames,
removes or re-signs one of these, a test fails and names the adapter to update before the bound
moves; nothing else in edge-agent touches these internals.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import numpy as np
import pytest

ADAPTER = "edge_agent/stt/whisper_backend.py"


def broken(what: str) -> str:
    return (f"faster-whisper {version('faster-whisper')} / ctranslate2 {version('ctranslate2')} changed {what}, "
            f"which {ADAPTER} relies on: update the adapter for this version (and the bounds in pyproject.toml)")


def parameters(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_whisper_model_methods_take_what_the_adapter_passes() -> None:
    from faster_whisper import WhisperModel

    assert parameters(WhisperModel.encode)[1:2] == ["features"], broken("WhisperModel.encode")
    assert parameters(WhisperModel.get_prompt)[1:4] == ["tokenizer", "previous_tokens", "without_timestamps"], \
        broken("WhisperModel.get_prompt")
    assert parameters(WhisperModel.find_alignment)[1:5] == ["tokenizer", "text_tokens", "encoder_output", "num_frames"], \
        broken("WhisperModel.find_alignment")
    used = {"language", "beam_size", "temperature", "condition_on_previous_text", "without_timestamps",
            "vad_filter", "initial_prompt"}
    assert used <= set(parameters(WhisperModel.transcribe)), broken("WhisperModel.transcribe's options")
    assert {"device", "compute_type", "cpu_threads", "num_workers"} <= set(parameters(WhisperModel.__init__)), \
        broken("WhisperModel's constructor")


def test_whisper_model_sets_the_attributes_the_adapter_reads() -> None:
    from faster_whisper import WhisperModel

    source = inspect.getsource(WhisperModel.__init__)
    for attribute in ("model", "hf_tokenizer", "feature_extractor", "max_length"):
        assert f"self.{attribute} =" in source, broken(f"WhisperModel.{attribute} (no longer set)")
    assert "ctranslate2.models.Whisper(" in source, broken("WhisperModel.model (no longer a CTranslate2 Whisper)")


def test_helpers_outside_the_model() -> None:
    from faster_whisper import transcribe
    from faster_whisper.feature_extractor import FeatureExtractor
    from faster_whisper.tokenizer import Tokenizer

    assert "padding" in parameters(FeatureExtractor.__call__), broken("FeatureExtractor.__call__'s padding")
    assert parameters(Tokenizer.__init__)[1:5] == ["tokenizer", "multilingual", "task", "language"], \
        broken("Tokenizer's constructor")
    for name in ("eot", "encode", "decode"):
        assert hasattr(Tokenizer, name), broken(f"Tokenizer.{name}")
    assert parameters(transcribe.get_suppressed_tokens) == ["tokenizer", "suppress_tokens"], \
        broken("faster_whisper.transcribe.get_suppressed_tokens")
    assert parameters(transcribe.merge_punctuations) == ["alignment", "prepended", "appended"], \
        broken("faster_whisper.transcribe.merge_punctuations")


def test_ctranslate2_whisper_generate_takes_the_options_used() -> None:
    import ctranslate2

    whisper = ctranslate2.models.Whisper
    for name in ("generate", "encode", "align", "is_multilingual"):
        assert hasattr(whisper, name), broken(f"ctranslate2.models.Whisper.{name}")
    doc = whisper.generate.__doc__ or ""
    for option in ("beam_size", "max_length", "return_scores", "return_no_speech_prob", "suppress_blank",
                   "suppress_tokens"):
        assert option in doc, broken(f"ctranslate2.models.Whisper.generate's option {option}")


@pytest.mark.real_model
def test_the_adapter_runs_on_the_real_model(model_path) -> None:  # type: ignore[no-untyped-def]
    from edge_agent.stt.whisper_backend import WhisperBackend

    backend = WhisperBackend(str(model_path("whisper-tiny-en")), workers=1)
    assert backend.is_multilingual is False and backend.max_length == 448, broken("tiny.en's model attributes")
    tokenizer, suppress = backend.tokenizer("en")
    assert suppress and isinstance(tokenizer.eot, int), broken("the tokenizer")
    prompt = backend.prompt(tokenizer, tokenizer.encode(" Okay Nabu."))
    mel = backend.mel(np.zeros(16000, np.float32))
    assert mel.shape[0] == 80, broken("the log-mel frames' shape")
    frames = np.pad(mel[:, :100], ((0, 0), (0, 3000 - 100)))
    encoded = backend.encode(frames)
    result = backend.generate(encoded, [prompt], beam_size=1, max_length=backend.max_length,
                              suppress_blank=True, suppress_tokens=suppress)[0]
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    assert isinstance(tokenizer.decode(tokens), str), broken("generate's result")
    if tokens:
        words = backend.words(tokenizer, tokens, encoded, 100)
        assert all({"word", "start", "end"} <= set(w) for w in words), broken("find_alignment's words")
    assert isinstance(backend.segment_texts(np.zeros(16000, np.float32), language="en", beam_size=1), list)

"""The parts of pyopen-wakeword that :mod:`edge_agent.listen.wake.open` uses beyond its public API.

The engine needs the TensorFlow Lite C library's path (the library's private ``_find_tensorflowlite_c``,
behind :func:`~edge_agent.listen.wake.open.tflite_c_library`) and primes the feature pipeline with
fewer zeros after a reset (its ``new_audio_samples`` counter). ``pyproject.toml`` bounds
pyopen-wakeword to the versions checked here; when a new release changes either, these tests fail
and say which adapter to look at before the bound moves.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest

ADAPTER = "edge_agent/listen/wake/open.py"


def broken(what: str) -> str:
    return (f"pyopen-wakeword {version('pyopen-wakeword')} changed {what}, which {ADAPTER} relies on: "
            f"update the adapter for this version (and the bound in pyproject.toml)")


def test_the_tflite_c_library_is_found_the_private_way() -> None:
    from pyopen_wakeword import openwakeword

    from edge_agent.listen.wake.open import tflite_c_library

    finder = getattr(openwakeword, "_find_tensorflowlite_c", None)
    assert callable(finder), broken("pyopen_wakeword.openwakeword._find_tensorflowlite_c (gone)")
    assert not [p for p in inspect.signature(finder).parameters.values() if p.default is p.empty], \
        broken("_find_tensorflowlite_c's signature (it now needs arguments)")
    assert tflite_c_library().is_file(), broken("_find_tensorflowlite_c's result (not a file)")


def test_the_constructors_take_what_the_engine_passes() -> None:
    from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

    features = list(inspect.signature(OpenWakeWordFeatures.__init__).parameters)[1:4]
    assert features == ["melspectrogram_model", "embedding_model", "libtensorflowlite_c_path"], \
        broken(f"OpenWakeWordFeatures' parameters ({features})")
    keyword = inspect.signature(OpenWakeWord.__init__).parameters
    assert {"tflite_model", "libtensorflowlite_c_path"} <= set(keyword), \
        broken(f"OpenWakeWord's parameters ({list(keyword)})")
    for cls in (OpenWakeWord, OpenWakeWordFeatures):
        for method in ("process_streaming", "reset", "close"):
            assert callable(getattr(cls, method, None)), broken(f"{cls.__name__}.{method} (gone)")


@pytest.mark.real_model
def test_the_feature_pipeline_counts_new_audio_samples(model_manager) -> None:  # type: ignore[no-untyped-def]
    from pyopen_wakeword import OpenWakeWordFeatures

    from edge_agent.audio import SAMPLE_RATE
    from edge_agent.listen.wake.open import WARMUP_S, OpenEngine, tflite_c_library

    features = OpenWakeWordFeatures(model_manager.require("openwakeword", "melspectrogram.tflite"),
                                    model_manager.require("openwakeword", "embedding_model.tflite"),
                                    tflite_c_library())
    try:
        features.reset()
        assert isinstance(getattr(features, "new_audio_samples", None), int), \
            broken("OpenWakeWordFeatures.new_audio_samples (gone or not a sample count)")
    finally:
        features.close()
    engine = OpenEngine.from_keywords(["okay_nabu"], model_manager)
    try:
        assert engine._features.new_audio_samples == WARMUP_S * SAMPLE_RATE, broken("what reset() primes")
    finally:
        engine.close()

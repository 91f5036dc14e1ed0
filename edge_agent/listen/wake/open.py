"""openWakeWord through ``pyopen-wakeword``: shared mel + embedding models, one small model per keyword.

All files come from the model manager's ``openwakeword`` directory (``melspectrogram.tflite``,
``embedding_model.tflite``, ``<keyword>.tflite``) or a custom ``.tflite`` path, loaded with the
library's ``OpenWakeWordFeatures``/``OpenWakeWord`` constructors. One step = 80 ms of audio = one
embedding = one probability per keyword. The library allocates small arrays inside each step
(its API gives no way to pass buffers); at 12.5 steps a second that is cheap next to the models.

Two things here reach past the library's public API, each in one place: :func:`tflite_c_library`
(its private ``_find_tensorflowlite_c``) and the feature pipeline's ``new_audio_samples`` counter
(:meth:`OpenEngine.reset`). ``pyproject.toml`` bounds the version they were written for and
``tests/test_contract_pyopen_wakeword.py`` fails, naming this module, when either changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.audio import SAMPLE_RATE
from edge_agent.errors import WakeWordError
from edge_agent.listen.wake.base import custom_model_file, is_model_path, unknown_keyword
from edge_agent.models import ModelManager

BUILTIN = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft", "hey_rhasspy")
CHUNK = 1280  # 80 ms
WARMUP_S = 2
"""Seconds of zeros the feature pipeline is primed with after a reset: enough for the mel +
embedding + keyword context (the library's default of 8 s costs ~100 model runs at every reset)."""


def tflite_c_library() -> Path:
    """The TensorFlow Lite C library the wheel ships, found the way the library finds it itself.

    The adapter for ``pyopen_wakeword.openwakeword._find_tensorflowlite_c`` (private): the public
    constructors need the library's path and offer no public way to get it."""
    from pyopen_wakeword.openwakeword import _find_tensorflowlite_c

    return Path(_find_tensorflowlite_c())


class OpenEngine:
    chunk_samples = CHUNK
    default_window = 1

    def __init__(self, model_paths: list[Path], mel_path: Path, emb_path: Path) -> None:
        from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

        lib = tflite_c_library()
        try:
            self._features: Any = OpenWakeWordFeatures(mel_path, emb_path, lib)
            self._models: list[Any] = [OpenWakeWord(p.stem, tflite_model=p, libtensorflowlite_c_path=lib)
                                       for p in model_paths]
        except (OSError, ValueError, RuntimeError) as exc:
            raise WakeWordError(f"wake.keywords: openWakeWord model cannot be loaded: {exc}") from None
        self.keywords = tuple(p.stem for p in model_paths)
        self.default_threshold = tuple(0.5 for _ in model_paths)
        self._last = np.zeros(len(model_paths), np.float32)
        self.reset()

    @classmethod
    def from_keywords(cls, keywords: list[str], models: ModelManager) -> OpenEngine:
        paths = [resolve_keyword(k, models) for k in keywords]
        return cls(paths, models.require("openwakeword", "melspectrogram.tflite"),
                   models.require("openwakeword", "embedding_model.tflite"))

    def step(self, chunk: np.ndarray, out: np.ndarray) -> int:
        rows = 0
        for emb in self._features.process_streaming(chunk.tobytes()):
            for i, m in enumerate(self._models):
                for p in m.process_streaming(emb):
                    self._last[i] = p
            if rows < len(out):
                out[rows] = self._last
                rows += 1
        return rows

    def reset(self) -> None:
        self._features.reset()
        self._features.new_audio_samples = WARMUP_S * SAMPLE_RATE  # primes with zeros (not public API)
        self._last[:] = 0.0
        for m in self._models:
            m.reset()

    def close(self) -> None:
        self._features.close()
        for m in self._models:
            m.close()


def resolve_keyword(keyword: str, models: ModelManager) -> Path:
    if is_model_path(keyword):
        return custom_model_file(keyword, "openWakeWord", (".tflite",))
    if keyword not in BUILTIN:
        raise unknown_keyword(keyword, "open", list(BUILTIN))
    return models.require("openwakeword", f"{keyword}.tflite")

"""openWakeWord through ``pyopen-wakeword``: shared mel + embedding models, one small model per keyword.

All files come from the model manager's ``openwakeword`` directory (``melspectrogram.tflite``,
``embedding_model.tflite``, ``<keyword>.tflite``) or a custom ``.tflite`` path, loaded with the
library's ``OpenWakeWordFeatures``/``OpenWakeWord`` constructors. One step = 80 ms of audio = one
embedding = one probability per keyword. The library allocates small arrays inside each step
(its API gives no way to pass buffers); at 12.5 steps a second that is cheap next to the models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.errors import WakeWordError
from edge_agent.listen.wake import custom_model_file, is_model_path, unknown_keyword
from edge_agent.models import ModelManager

BUILTIN = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft", "hey_rhasspy")
CHUNK = 1280  # 80 ms
WARMUP_S = 2
"""Zeros the feature pipeline is primed with after a reset (the library's default is 8 s, which
costs ~100 model runs at every reset; 2 s covers the mel + embedding + keyword context)."""


def _tflite_lib() -> Path:
    from pyopen_wakeword.openwakeword import _find_tensorflowlite_c

    return Path(_find_tensorflowlite_c())


class OpenEngine:
    chunk_samples = CHUNK
    default_window = 1

    def __init__(self, model_paths: list[Path], mel_path: Path, emb_path: Path) -> None:
        from pyopen_wakeword import OpenWakeWord, OpenWakeWordFeatures

        lib = _tflite_lib()
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
        self._features.new_audio_samples = WARMUP_S * 16000
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

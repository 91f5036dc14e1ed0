"""microWakeWord through ``pymicro-wakeword``: tiny streaming int8 models (~50-80 KB).

Models are loaded from the model manager's ``microwakeword`` directory (or a custom ``.json``
next to its ``.tflite``) with the library's ``MicroWakeWord.from_config``. The library's own
streaming call concatenates and allocates arrays on every step and averages over its own window;
here each step quantizes into preallocated buffers and returns the raw probability, so the shared
window/threshold/refractory rule in :mod:`edge_agent.listen.wake.base` applies to every engine alike.
"""

from __future__ import annotations

import ctypes
import json
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.errors import WakeWordError
from edge_agent.listen.wake.base import custom_model_file, is_model_path, unknown_keyword
from edge_agent.models import ModelManager

BUILTIN = ("okay_nabu", "hey_jarvis", "alexa", "hey_mycroft")
CHUNK = 160  # 10 ms: one feature vector per chunk
FEATURES = 40


class _Model:
    """One keyword model with its preallocated input/output buffers."""

    def __init__(self, config_path: Path) -> None:
        from pymicro_wakeword import MicroWakeWord

        try:
            self.mww: Any = MicroWakeWord.from_config(config_path)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise WakeWordError(f"wake.keywords: microWakeWord model {str(config_path)!r} cannot be loaded: {exc}") from None
        config = json.loads(config_path.read_text(encoding="utf-8"))
        self.name = Path(config["model"]).stem
        self.phrase: str = config.get("wake_word", self.name)
        self.cutoff = float(config["micro"]["probability_cutoff"])
        self.window = int(config["micro"]["sliding_window_size"])
        self.stride = int(self.mww.stride)
        self.features = np.zeros((self.stride, FEATURES), np.float32)
        self.scaled = np.zeros((self.stride, FEATURES), np.float32)
        self.quant = np.zeros((1, self.stride, FEATURES), self.mww.input_dtype)
        self.out = np.zeros(1, self.mww.output_dtype)
        self.count = 0
        self._in_ptr = self.quant.ctypes.data_as(ctypes.c_void_p)
        self._out_ptr = self.out.ctypes.data_as(ctypes.c_void_p)

    def add(self, features: list[float]) -> float | None:
        self.features[self.count] = features
        self.count += 1
        if self.count < self.stride:
            return None
        self.count = 0
        m = self.mww
        np.divide(self.features, m.input_scale, out=self.scaled)
        self.scaled += m.input_zero_point
        np.rint(self.scaled, out=self.scaled)
        np.copyto(self.quant[0], self.scaled, casting="unsafe")
        lib = m.lib
        lib.TfLiteTensorCopyFromBuffer(m.input_tensor, self._in_ptr, self.quant.nbytes)
        lib.TfLiteInterpreterInvoke(m.interpreter)
        lib.TfLiteTensorCopyToBuffer(m.output_tensor, self._out_ptr, self.out.nbytes)
        return (float(self.out[0]) - m.output_zero_point) * m.output_scale

    def reset(self) -> None:
        self.count = 0
        self.mww.reset()  # reloads the interpreter: the model keeps streaming state inside
        self._in_ptr = self.quant.ctypes.data_as(ctypes.c_void_p)

    def close(self) -> None:
        self.mww.close()


class MicroEngine:
    chunk_samples = CHUNK

    def __init__(self, config_paths: list[Path]) -> None:
        from pymicro_features import MicroFrontend

        self._models = [_Model(p) for p in config_paths]
        self._frontend = MicroFrontend()
        self.keywords = tuple(m.name for m in self._models)
        self.phrases = tuple(m.phrase for m in self._models)
        self.default_threshold = tuple(m.cutoff for m in self._models)
        self.default_window = max(m.window for m in self._models)
        self._last = np.zeros(len(self._models), np.float32)

    @classmethod
    def from_keywords(cls, keywords: list[str], models: ModelManager) -> MicroEngine:
        return cls([resolve_keyword(k, models) for k in keywords])

    def step(self, chunk: np.ndarray, out: np.ndarray) -> int:
        data = chunk.tobytes()
        rows = 0
        pos = 0
        while pos < len(data):
            res = self._frontend.process_samples(data[pos:] if pos else data)
            pos += res.samples_read * 2
            if res.samples_read == 0:
                break
            if not res.features:
                continue
            updated = False
            for i, m in enumerate(self._models):
                p = m.add(res.features)
                if p is not None:
                    self._last[i] = p
                    updated = True
            if updated and rows < len(out):
                out[rows] = self._last
                rows += 1
        return rows

    def reset(self) -> None:
        self._frontend.reset()
        self._last[:] = 0.0
        for m in self._models:
            m.reset()

    def close(self) -> None:
        for m in self._models:
            m.close()


def resolve_keyword(keyword: str, models: ModelManager) -> Path:
    """The ``.json`` config for a built-in name or a custom ``.json``/``.tflite`` path."""
    if is_model_path(keyword):
        path = custom_model_file(keyword, "microWakeWord", (".json", ".tflite"))
        if path.suffix == ".tflite":
            path = path.with_suffix(".json")
            if not path.is_file():
                raise WakeWordError(
                    f"wake.keywords: a custom microWakeWord model needs its config {str(path)!r} next to the .tflite")
        return path
    if keyword not in BUILTIN:
        raise unknown_keyword(keyword, "micro", list(BUILTIN))
    models.require("microwakeword", f"{keyword}.tflite")
    return models.require("microwakeword", f"{keyword}.json")

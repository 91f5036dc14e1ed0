"""Silero VAD (v6) on onnxruntime: one speech probability per 32 ms frame, nothing allocated per frame.

The model takes 512 new samples at 16 kHz plus the last 64 samples of the previous frame (its
context) and a recurrent state [2, 1, 128]. Inputs and outputs are bound once to preallocated
numpy buffers (IOBinding); the state ping-pongs between two buffers, so a frame costs one copy of
the samples into the input buffer and one ``run_with_iobinding``.

Two models, chosen by ``vad.precision``:
  ``fp32``  ``silero-vad/silero_vad.onnx``, the reference (If graph with a 16/8 kHz switch, ``sr`` input);
  ``int8``  ``silero-vad-int8/silero_vad_16k_int8.onnx``, built by the ``vad_int8`` recipe of :mod:`edge_agent.models`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from edge_agent.errors import ModelError

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.models import ModelManager

SAMPLE_RATE = 16000
FRAME_SAMPLES = 512
CONTEXT_SAMPLES = 64

MODEL_FILES = {
    "fp32": ("silero-vad", "silero_vad.onnx"),
    "int8": ("silero-vad-int8", "silero_vad_16k_int8.onnx"),
}


class Vad(Protocol):
    frame_samples: int

    def process(self, frame: np.ndarray) -> float: ...

    def reset(self) -> None: ...


def session_options(threads: int = 1, fuse: bool = True):  # -> onnxruntime.SessionOptions
    """``fuse=False``: only onnxruntime's basic graph rewrites, so a graph runs as written."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # the If model logs unused-initializer warnings at load
    if not fuse:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return opts


class SileroVad:
    """``process(frame)`` takes exactly 512 samples (int16 or float32 in [-1, 1]) and returns P(speech)."""

    frame_samples = FRAME_SAMPLES

    def __init__(self, model_path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        try:
            # Unfused: onnxruntime's extended rewrite of the int8 LSTM's DynamicQuantizeLinear +
            # MatMulInteger into one int8 kernel gave a VAD that heard no speech on an aarch64 CPU
            # with i8mm/SME (qemu's `max`); as written it is right on every CPU tried, at the same
            # speed here (docs/design/boards.md).
            self.session = ort.InferenceSession(str(model_path), sess_options=session_options(threads, fuse=False),
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"VAD model {model_path} cannot be loaded: {exc}") from None
        names = {i.name for i in self.session.get_inputs()}
        if not {"input", "state"} <= names:
            raise ModelError(f"VAD model {model_path} is not a Silero VAD (inputs: {sorted(names)})")
        self._input = np.zeros((1, CONTEXT_SAMPLES + FRAME_SAMPLES), np.float32)
        self._states = (np.zeros((2, 1, 128), np.float32), np.zeros((2, 1, 128), np.float32))
        self._prob = np.zeros((1, 1), np.float32)
        self._sr = np.array(SAMPLE_RATE, np.int64)
        # Two bindings: state A -> B, then B -> A. Buffers are shared with numpy, never reallocated.
        self._bindings = []
        for src, dst in ((0, 1), (1, 0)):
            b = self.session.io_binding()
            b.bind_cpu_input("input", self._input)
            b.bind_cpu_input("state", self._states[src])
            if "sr" in names:
                b.bind_cpu_input("sr", self._sr)
            b.bind_output("output", "cpu", 0, np.float32, list(self._prob.shape), self._prob.ctypes.data)
            b.bind_output("stateN", "cpu", 0, np.float32, list(self._states[dst].shape),
                          self._states[dst].ctypes.data)
            self._bindings.append(b)
        self._turn = 0

    def reset(self) -> None:
        self._input.fill(0.0)
        self._states[0].fill(0.0)
        self._states[1].fill(0.0)
        self._turn = 0

    def process(self, frame: np.ndarray) -> float:
        if frame.shape[-1] != FRAME_SAMPLES:
            raise ValueError(f"Silero VAD takes {FRAME_SAMPLES} samples per frame, got {frame.shape[-1]}")
        buf = self._input[0]
        buf[:CONTEXT_SAMPLES] = buf[FRAME_SAMPLES:]
        if frame.dtype == np.int16:
            np.multiply(frame, np.float32(1.0 / 32768.0), out=buf[CONTEXT_SAMPLES:], casting="unsafe")
        else:
            buf[CONTEXT_SAMPLES:] = frame
        self.session.run_with_iobinding(self._bindings[self._turn])
        self._turn ^= 1
        return float(self._prob[0, 0])


def vad_model_path(models: ModelManager, precision: str) -> Path:
    name, file = MODEL_FILES[precision]
    return models.require(name, file)


def load_vad(settings: Settings, models: ModelManager, precision: str | None = None) -> SileroVad:
    """The VAD the settings ask for; a missing model raises ModelError naming ``models pull``."""
    return SileroVad(vad_model_path(models, precision or settings.vad.precision))

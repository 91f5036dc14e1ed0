"""Smart Turn v3.2 end-of-turn model: ``TurnDetector.predict(audio_16k) -> P(turn complete)``.

The model (int8 ONNX from the pipecat-ai wheel) takes ``input_features`` [1, 80, 800]: Whisper log-mel
of exactly 8 s at 16 kHz. Shorter audio is zero-padded at the start and longer audio keeps its last
8 s (how pipecat feeds it), so the end of the turn always sits at the end of the window. Its output
(named ``logits``) is already a sigmoid probability."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge_agent.errors import ModelError
from edge_agent.listen.features import SAMPLE_RATE, LogMel, fit_to_length
from edge_agent.listen.vad import session_options

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.models import ModelManager

MODEL = ("smart-turn-v3.2", "smart-turn-v3.2-cpu.onnx")
WINDOW_S = 8.0


class TurnDetector:
    """Not thread-safe: one detector per listener thread (the buffers are reused)."""

    def __init__(self, model_path: str | Path, threads: int = 1, max_context_s: float = WINDOW_S) -> None:
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(str(model_path), sess_options=session_options(threads),
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"turn model {model_path} cannot be loaded: {exc}") from None
        inp = self.session.get_inputs()[0]
        if inp.name != "input_features" or list(inp.shape[1:]) != [80, 800]:
            raise ModelError(f"turn model {model_path} is not Smart Turn v3 (input {inp.name} {inp.shape})")
        self.n_samples = int(WINDOW_S * SAMPLE_RATE)
        self.context_samples = int(min(max_context_s, WINDOW_S) * SAMPLE_RATE)
        self.mel = LogMel(self.n_samples)
        self._audio = np.zeros(self.n_samples, np.float32)
        self._features = np.zeros((1, 80, 800), np.float32)

    def predict(self, audio_16k: np.ndarray) -> float:
        """P(the speaker has finished) for the turn so far (int16 or float32 mono at 16 kHz)."""
        if audio_16k.size == 0:
            return 0.0
        fit_to_length(audio_16k[-self.context_samples:], self.n_samples, out=self._audio)
        self.mel.compute(self._audio, out=self._features[0])
        (prob,) = self.session.run(None, {"input_features": self._features})
        return float(np.asarray(prob).reshape(-1)[0])


def load_turn_detector(settings: Settings, models: ModelManager) -> TurnDetector:
    return TurnDetector(models.require(*MODEL), max_context_s=settings.turn.max_context_s)

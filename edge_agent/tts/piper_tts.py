"""Piper text-to-speech with one onnxruntime intra-op thread.

One thread is the default: onnxruntime's own default spreads one synthesis over every core, where the
listener and the other engines need them, and is slower for it on a small board
(docs/design/engine-threads.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edge_agent.errors import ModelError, TtsError


class PiperTts:
    """``synthesize(text)`` yields int16 chunks (one per sentence Piper finds) at ``sample_rate``."""

    def __init__(self, voice_path: str | Path, threads: int = 1, length_scale: float = 1.0,
                 speaker_id: int | None = None, noise_scale: float | None = None,
                 noise_w_scale: float | None = None) -> None:
        """``noise_scale`` / ``noise_w_scale``: None keeps the voice's own; 0 makes the output
        deterministic (Piper's noise comes from an unseeded random op), which tests want."""
        import json

        import onnxruntime as ort
        from piper import PiperVoice
        from piper.config import PiperConfig, SynthesisConfig

        voice_path = Path(voice_path)
        if not voice_path.is_file():
            raise ModelError(f"Piper voice {voice_path} does not exist (fix: edge-agent models pull piper-joe-medium, "
                             "or set tts.voice to a Piper .onnx with its .onnx.json beside it)")
        config_path = Path(f"{voice_path}.json")
        try:
            config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise TtsError(f"Piper voice config {config_path} cannot be read: {exc}") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(voice_path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ModelError(f"Piper voice {voice_path} cannot be loaded: {exc}") from None
        self.voice = PiperVoice(session=session, config=config)
        self.sample_rate: int = config.sample_rate
        self.syn_config = SynthesisConfig(length_scale=length_scale, speaker_id=speaker_id,
                                          noise_scale=noise_scale, noise_w_scale=noise_w_scale)

    def synthesize(self, text: str, length_scale: float | None = None) -> Iterator[np.ndarray]:
        from piper.config import SynthesisConfig

        cfg = self.syn_config
        if length_scale is not None:
            cfg = SynthesisConfig(length_scale=length_scale, speaker_id=cfg.speaker_id,
                                  noise_scale=cfg.noise_scale, noise_w_scale=cfg.noise_w_scale)
        try:
            for chunk in self.voice.synthesize(text, syn_config=cfg):
                yield chunk.audio_int16_array
        except (RuntimeError, ValueError, KeyError) as exc:  # onnxruntime / phonemizer failures
            raise TtsError(f"speech synthesis failed for {text[:40]!r}: {exc}") from None

    def warm_up(self) -> None:
        """One short synthesis, so the first real clause does not pay onnxruntime's first-run cost."""
        self.synthesize_all("Hello.")

    def synthesize_all(self, text: str, length_scale: float | None = None) -> np.ndarray:
        parts = list(self.synthesize(text, length_scale))
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

"""Build the configured speech-to-text engine from the settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent.errors import ModelError
from edge_agent.stt.base import SpeechToText

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.models import ModelManager

DEFAULT_MODEL = {"whisper": "whisper-tiny-en", "vosk": "vosk-small-en-us"}


def resolve_model_dir(model: str, engine: str, models: ModelManager) -> Path:
    """A manifest name (checked by the model manager) or a directory path."""
    if "/" in model or model.startswith(".") or Path(model).is_dir():
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ModelError(f"stt.model {model!r} is not a directory (give a model name from "
                             "`edge-agent models list` or a model directory)")
        return path
    if engine == "vosk" and model == DEFAULT_MODEL["whisper"]:
        model = DEFAULT_MODEL["vosk"]  # the default model name belongs to the default engine
    return models.require(model)


def create_stt(settings: Settings, models: ModelManager | None = None) -> SpeechToText:
    from edge_agent.models import manager_from_settings

    cfg = settings.stt
    models = models or manager_from_settings(settings)
    model_dir = resolve_model_dir(cfg.model, cfg.engine, models)
    if cfg.engine == "vosk":
        from edge_agent.stt.vosk_stt import VoskStt

        return VoskStt(model_dir)
    from edge_agent.stt.whisper import WhisperStt

    return WhisperStt(model_dir, compute_type=cfg.compute_type, threads=cfg.threads, beam_size=cfg.beam_size,
                      language=cfg.language, min_encoder_s=cfg.min_encoder_s,
                      max_utterance_s=settings.turn.max_turn_s)

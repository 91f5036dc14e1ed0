"""The wake word detector the settings describe: an engine's first stage and, if ``wake.verify``
asks for one, the second stage that confirms its candidates.

The only module of the package that knows every engine and verifier; they know only
:mod:`edge_agent.listen.wake.base`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_agent.errors import WakeWordError
from edge_agent.listen.wake.base import ScoreEngine, WakeWordDetector, WindowedDetector, is_model_path
from edge_agent.listen.wake.classifier import load_classifiers
from edge_agent.listen.wake.micro import MicroEngine
from edge_agent.listen.wake.open import OpenEngine
from edge_agent.listen.wake.porcupine import PorcupineEngine
from edge_agent.listen.wake.verified import VerifiedDetector, Verifier
from edge_agent.listen.wake.verifier import EngineVerifier, SttVerifier

if TYPE_CHECKING:
    from edge_agent.config import Settings
    from edge_agent.models import ModelManager

FIRST_STAGE_THRESHOLD = {("micro", "stt"): 0.03, ("micro", "engine"): 0.5,
                         ("open", "stt"): 0.2, ("open", "engine"): 0.2}
"""First-stage thresholds when a second stage confirms (chosen by measurement: ``bench/wake_eval.py``)."""
SECOND_ENGINE_THRESHOLD = {"open": 0.2, "micro": 0.5}


def default_first_stage_threshold(engine: str, verify: str) -> float:
    return FIRST_STAGE_THRESHOLD.get((engine, verify), 0.5)


def build_first_stage(engine: str, settings: Settings, models: ModelManager,
                      threshold: float | None = None) -> WindowedDetector:
    """The first stage alone for ``engine`` (micro, open, porcupine)."""
    wake = settings.wake
    keywords = list(wake.keywords)
    if not keywords:
        raise WakeWordError("wake.keywords is empty: name at least one keyword")
    score_engine: ScoreEngine
    if engine == "micro":
        score_engine = MicroEngine.from_keywords(keywords, models)
    elif engine == "open":
        score_engine = OpenEngine.from_keywords(keywords, models)
    elif engine == "porcupine":
        key = wake.porcupine_access_key.get_secret_value() if wake.porcupine_access_key else ""
        score_engine = PorcupineEngine.from_keywords(keywords, key, wake.porcupine_sensitivity)
        return WindowedDetector(score_engine, 0.5, 1, wake.refractory_s)
    else:
        raise WakeWordError(f"wake.engine: unknown engine {engine!r}; available: micro, open, porcupine")
    return WindowedDetector(score_engine, threshold if threshold is not None else wake.threshold,
                            wake.window, wake.refractory_s)


def build_verifier(kind: str, engine: str, settings: Settings, models: ModelManager) -> Verifier:
    if kind == "stt":
        path = models.require("whisper-tiny-en", "model.bin").parent
        wake = settings.wake
        classifiers = load_classifiers(wake.keywords, models) if wake.classifier_threshold > 0 else {}
        return SttVerifier(str(path), classifiers=classifiers, threshold=wake.classifier_threshold,
                           views=wake.stt_views)
    if kind == "engine":
        other = "open" if engine == "micro" else "micro"
        second = build_first_stage(other, settings, models, threshold=SECOND_ENGINE_THRESHOLD[other])
        second.refractory_samples = 0
        return EngineVerifier(second)
    raise WakeWordError(f"wake.verify: unknown second stage {kind!r}; available: none, stt, engine")


def build_wake_detector(settings: Settings, models: ModelManager) -> WakeWordDetector:
    """The detector the settings describe: first stage, plus the second stage if ``wake.verify``."""
    wake = settings.wake
    engine = str(wake.engine)
    if wake.verify == "none" or engine == "porcupine":
        return build_first_stage(engine, settings, models)
    if wake.verify == "engine" and any(is_model_path(k) for k in wake.keywords):
        raise WakeWordError("wake.verify = engine needs built-in keywords (both engines must know them); "
                            "use wake.verify = stt with a custom model")
    threshold = wake.verify_threshold if wake.verify_threshold is not None else wake.threshold
    if threshold is None:
        threshold = default_first_stage_threshold(engine, wake.verify)
    first = build_first_stage(engine, settings, models, threshold=threshold)
    return VerifiedDetector(first, build_verifier(wake.verify, engine, settings, models))

"""Settings -> engines: the daemon's composition of the speech pipeline.

:func:`load_engines` loads the listener core, STT, TTS, the chat model and the semantic end-of-turn
hint in parallel (onnxruntime, CTranslate2 and llama.cpp release the GIL while loading), each warmed
with one tiny call so the first real turn doesn't pay for first-call set-up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from edge_agent.agent import ConversationSettings
from edge_agent.audio import SAMPLE_RATE
from edge_agent.audio.echo import EchoCanceller
from edge_agent.config import Settings
from edge_agent.errors import ModelError
from edge_agent.listen.listener import EventCallback, ListenerCore
from edge_agent.llm.local import LocalLlm
from edge_agent.llm.router import LlmRouter
from edge_agent.models import ModelManager
from edge_agent.stt.base import SpeechToText

if TYPE_CHECKING:
    from edge_agent.listen.hint import Hint
    from edge_agent.tts.piper_tts import PiperTts

log = logging.getLogger(__name__)

T = TypeVar("T")

Completeness = Callable[[str], "float | Hint | None"]
"""Text completeness (0..1) of a partial transcript, or a whole hint: the turn policy's semantic hint."""

DEFAULT_VOICE_RATE = 22050
"""Piper's usual rate, when a voice's ``.onnx.json`` cannot be read."""


def voice_path(settings: Settings, models: ModelManager) -> Path:
    """The Piper voice file: a manifest name or a path to an ``.onnx``."""
    voice = settings.tts.voice
    if voice.endswith(".onnx") or "/" in voice:
        path = Path(voice).expanduser()
        if not path.is_file():
            raise ModelError(f"tts.voice {voice!r} does not exist (give a Piper .onnx path or a voice name "
                             "from `edge-agent models list`)")
        return path
    spec = models.manifest.get(voice)
    onnx = next(f.path for f in spec.files if f.path.endswith(".onnx"))
    return Path(models.require(voice, onnx))


def voice_sample_rate(settings: Settings, models: ModelManager) -> int:
    """The voice's sample rate from its ``.onnx.json`` (without loading the voice)."""
    try:
        config = json.loads(Path(f"{voice_path(settings, models)}.json").read_text(encoding="utf-8"))
        return int(config["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_VOICE_RATE


def build_tts(settings: Settings, models: ModelManager) -> PiperTts:
    from edge_agent.tts.piper_tts import PiperTts

    return PiperTts(voice_path(settings, models), threads=settings.tts.threads,
                    length_scale=settings.tts.length_scale, speaker_id=settings.tts.speaker_id)


def build_completeness(settings: Settings, models: ModelManager, chat: object = None) -> Completeness | None:
    """The turn policy's semantic hint source (the local LM's P(end of sentence) on the speculative
    transcript), when ``turn.semantic_wait_ms`` > 0 says the policy will wait for it; else None.
    ``chat``: the loaded local chat model, whose weights the hint then shares."""
    if settings.turn.semantic_wait_ms <= 0 or not settings.stt.speculative:
        return None
    from edge_agent.llm.local import gguf_path, llama_installed

    if not llama_installed():
        log.warning("no local LLM (llama-cpp-python is not installed): the end of turn goes without its "
                    "text hint (acoustic model and silence only)")
        return None
    from edge_agent.listen.semantic import LmCompleteness
    from edge_agent.llm.llama_compat import shares_weights

    if isinstance(chat, LocalLlm) and shares_weights(chat.llm):
        return LmCompleteness(chat.llm).scored_hint
    return LmCompleteness(gguf_path(settings, models)).scored_hint


def conversation_settings(settings: Settings) -> ConversationSettings:
    from edge_agent.llm.local import system_prompt

    c = settings.conversation
    from edge_agent.listen.hint import HintTrust

    t = settings.turn
    trust = HintTrust(t.hint_confidence != "off", t.hint_doubt_logprob, t.hint_sure_logprob)
    return ConversationSettings(system_prompt=system_prompt(settings), follow_up_s=c.follow_up_s,
                                barge_in=c.barge_in, apology=c.apology, speculative_stt=settings.stt.speculative,
                                hint_trust=trust)


def build_llm(settings: Settings, models: ModelManager) -> LlmRouter:
    """The chat model: the router over the local model and any cloud regions (``llm/factory.py``);
    its events reach the bus through the conversation's subscription."""
    from edge_agent.llm.factory import build_chat_model

    return build_chat_model(settings, models, warm_system=local_turns_system_prompt(settings))


def local_turns_system_prompt(settings: Settings) -> str | None:
    """The system prompt the local model's turns start with: with the answer router on it is only
    asked small talk, under the router's own prompt (warming the default one instead left the first
    small-talk turn a cold prefill: first token 1,086 ms against 142 ms warm)."""
    if not settings.answers.enabled:
        return None
    from edge_agent.answers.router import CHITCHAT_PROMPT

    return CHITCHAT_PROMPT.format(persona=settings.llm.persona)


def warmed_stt(stt: SpeechToText) -> SpeechToText:
    """One tiny call, so the first real turn doesn't pay for first-call set-up (in the loader thread)."""
    with contextlib.suppress(Exception):
        stt.transcribe(np.zeros(SAMPLE_RATE // 2, np.int16))
    return stt


def warmed_tts(tts: PiperTts) -> PiperTts:
    with contextlib.suppress(Exception):
        for _ in tts.synthesize("Hi."):
            pass
    return tts


@dataclass
class Engines:
    """Everything the conversation and the listener run on, loaded."""

    core: ListenerCore
    stt: SpeechToText
    tts: PiperTts
    llm: LlmRouter
    completeness: Completeness | None


async def load_engines(settings: Settings, models: ModelManager, on_listener_event: EventCallback,
                       process_start: float, echo: EchoCanceller | None = None) -> Engines:
    """Load every engine in parallel; each one's ready time (since ``process_start``) is logged.
    The first failure is raised once all have finished; the chat model is then stopped."""
    from edge_agent.listen.listener import build_listener_core
    from edge_agent.stt.factory import create_stt

    loop = asyncio.get_running_loop()
    timings: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            out = fn()
            timings[name] = time.monotonic() - process_start
            return out
        return run

    llm = build_llm(settings, models)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="load") as pool:
        f_core = loop.run_in_executor(pool, timed("listener", lambda: build_listener_core(
            settings, models, on_listener_event, echo=echo)))
        f_stt = loop.run_in_executor(pool, timed("stt", lambda: warmed_stt(create_stt(settings, models))))
        f_tts = loop.run_in_executor(pool, timed("tts", lambda: warmed_tts(build_tts(settings, models))))

        async def llm_then_semantic() -> Completeness | None:  # the hint shares the chat model's weights
            await llm.start()
            timings["llm"] = time.monotonic() - process_start
            return await loop.run_in_executor(pool, timed("semantic", lambda: build_completeness(
                settings, models, llm.local)))

        t_load = time.monotonic() - process_start
        core, stt, tts, completeness = await asyncio.gather(
            f_core, f_stt, f_tts, llm_then_semantic(), return_exceptions=True)
    log.info("models loading from %.2f s after process start; ready at: %s", t_load,
             ", ".join(f"{k} {v:.2f} s" for k, v in sorted(timings.items(), key=lambda kv: kv[1])))
    failures = [r for r in (core, stt, tts, completeness) if isinstance(r, BaseException)]
    if failures:
        await llm.stop()
        raise failures[0]
    return Engines(core=_loaded(core), stt=_loaded(stt), tts=_loaded(tts), llm=llm,
                   completeness=_loaded(completeness))


def _loaded(result: T | BaseException) -> T:
    if isinstance(result, BaseException):
        raise result
    return result

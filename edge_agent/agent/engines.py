"""What the conversation needs from the engines and devices, and the optional extras some offer.

The required interfaces are small and async (:class:`Transcriber`, :class:`Speaker`,
:class:`Playback`, :class:`ListenerControl`, :class:`~edge_agent.llm.base.ChatModel`). An engine
that can do more says so by implementing one of the ``runtime_checkable`` capability Protocols
(:class:`VolumeControl`, :class:`ReplyTiming`, :class:`SemanticHintSink`, :class:`RoutedChat`);
the conversation checks for them with ``isinstance``.

The real engines block (onnxruntime, CTranslate2): :class:`ExecutorTranscriber` and
:class:`ExecutorSpeaker` run them on one worker thread each, at a lower priority than the listener.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from edge_agent.events import Event
from edge_agent.stt.base import ScoredSpeechToText, Transcription

if TYPE_CHECKING:
    from edge_agent.answers.answer import Answer
    from edge_agent.config import LlmPolicy
    from edge_agent.listen.hint import Hint
    from edge_agent.llm.base import Delta, Message

# --- required -------------------------------------------------------------------------------------


class Transcriber(Protocol):
    async def transcribe(self, audio: np.ndarray) -> str:
        """Text of 16 kHz int16 audio."""
        ...


class Speaker(Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        """int16 chunks of ``text`` spoken, at ``sample_rate``."""
        ...


class Playback(Protocol):
    """Where the reply goes. ``write`` queues (it may wait for room, never for the whole chunk to
    be heard); ``stop`` drops what is queued at once (barge-in); ``played()`` counts samples heard."""

    sample_rate: int

    async def write(self, chunk: np.ndarray) -> None: ...

    async def drain(self) -> None: ...

    def stop(self) -> None: ...

    def played(self) -> int: ...


class ListenerControl(Protocol):
    """What the conversation tells the listener (all thread-safe and cheap)."""

    def set_playback_active(self, active: bool) -> None: ...

    def listen(self, timeout_s: float | None) -> None:
        """Start a turn without the wake word (follow-up window, push-to-talk); ``timeout_s`` is how
        long to wait for speech before giving up (None: the listener's default)."""

    def stop_listening(self) -> None:
        """Back to waiting for the wake word."""

    def utterance(self, start_t: float, end_t: float) -> np.ndarray:
        """A copy of the 16 kHz input between two audio times (for STT)."""
        ...


class NullListener:
    """For text-only use (``chat``, ``ask``): nothing to control, no audio."""

    def set_playback_active(self, active: bool) -> None:
        pass

    def listen(self, timeout_s: float | None) -> None:
        pass

    def stop_listening(self) -> None:
        pass

    def utterance(self, start_t: float, end_t: float) -> np.ndarray:
        return np.zeros(0, np.int16)


# --- optional capabilities ------------------------------------------------------------------------


@runtime_checkable
class VolumeControl(Protocol):
    """A playback that applies the output gain itself (to what is already queued, too)."""

    def set_volume(self, gain: float) -> None: ...


@runtime_checkable
class ReplyTiming(Protocol):
    """A playback that times a reply's first sample itself (from the DAC, not the loop)."""

    def begin_reply(self) -> None: ...


@runtime_checkable
class SemanticHintSink(Protocol):
    """A listener whose turn policy can use the text completeness of a speculative transcript
    (``confidence``: how far the transcript can be trusted, :mod:`edge_agent.listen.hint`)."""

    def set_semantic_hint(self, p: float | Hint | None, speech_end_t: float | None = None,
                          confidence: float = 1.0) -> None: ...


@runtime_checkable
class ScoredTranscriber(Protocol):
    """A transcriber that also says how sure the STT was (the turn hint's confidence)."""

    async def transcribe_scored(self, audio: np.ndarray) -> Transcription:
        """The transcript of 16 kHz int16 audio with the decoder's scores."""
        ...


class RouteInfo(Protocol):
    @property
    def backend(self) -> str: ...

    @property
    def region(self) -> str | None: ...


@runtime_checkable
class RoutedChat(Protocol):
    """A chat model that picks a backend per turn (the LLM router): it reports its own route and
    first-token events to subscribers, and which route answered the latest turn."""

    def subscribe(self, callback: Callable[[Event], object]) -> Callable[[], None]: ...

    @property
    def last_route(self) -> RouteInfo | None: ...

    def stream(self, messages: list[Message], tools: list[dict[str, Any]] | None = None,
               policy: LlmPolicy | None = None) -> AsyncIterator[Delta]:
        """``policy`` overrides ``llm.policy`` for this turn."""
        ...


@runtime_checkable
class TurnAnswerer(Protocol):
    """Decides who answers a turn before any LLM (local intents, the operator's knowledge, small
    talk, the cloud, or "I don't know"): :class:`edge_agent.answers.router.AnswerRouter`.
    ``before_acting`` is awaited before anything acts on the world (a tool, a timer), so a
    speculative turn decides but does not act until it is confirmed."""

    async def answer(self, text: str, before_acting: Callable[[], Awaitable[object]] | None = None) -> Answer: ...


# --- executor adapters for the real (blocking) engines -------------------------------------------


class BlockingTranscriber(Protocol):
    def transcribe(self, audio: np.ndarray) -> str: ...


class BlockingSynthesizer(Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> Iterable[np.ndarray]: ...


ENGINE_NICE = 5
"""Engine worker threads (STT, LLM, TTS) run this much nicer than the listener thread: on a busy
2-core board the listener's turn decision must not wait behind speculative work."""


def lower_thread_priority(nice: int = ENGINE_NICE) -> None:
    """Make the calling thread nicer (Linux: per-thread). A ThreadPoolExecutor ``initializer``."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
    except (AttributeError, OSError):
        pass  # not Linux, or not allowed: run as is


def engine_executor(name: str) -> ThreadPoolExecutor:
    """One worker thread for one engine (engines are not thread-safe), at engine priority."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=lower_thread_priority)


class ExecutorTranscriber:
    """Runs a blocking ``transcribe`` on its own thread."""

    def __init__(self, stt: BlockingTranscriber, executor: Executor | None = None) -> None:
        self.stt = stt
        self.executor = executor or engine_executor("stt")

    async def transcribe(self, audio: np.ndarray) -> str:
        loop = asyncio.get_running_loop()
        return str(await loop.run_in_executor(self.executor, self.stt.transcribe, audio))

    async def transcribe_scored(self, audio: np.ndarray) -> Transcription:
        """The engine's scored transcript, or the bare text (no scores) from an engine without them."""
        stt = self.stt
        if isinstance(stt, ScoredSpeechToText):
            loop = asyncio.get_running_loop()
            result: Transcription = await loop.run_in_executor(self.executor, stt.transcribe_scored, audio)
            return result
        return Transcription(await self.transcribe(audio))


class ExecutorSpeaker:
    """Runs a blocking ``synthesize`` iterator on its own thread, chunk by chunk."""

    def __init__(self, tts: BlockingSynthesizer, executor: Executor | None = None) -> None:
        self.tts = tts
        self.sample_rate: int = tts.sample_rate
        self.executor = executor or engine_executor("tts")

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        loop = asyncio.get_running_loop()
        it: Iterator[np.ndarray] = await loop.run_in_executor(self.executor, lambda: iter(self.tts.synthesize(text)))
        while True:
            chunk = await loop.run_in_executor(self.executor, next, it, None)
            if chunk is None:
                return
            yield chunk

"""The typed event vocabulary shared by the listener, the conversation, MQTT, logs and benchmarks.

Every event is a frozen dataclass with a class-level ``type`` (an :class:`EventType`). ``to_dict()``
gives the JSON object that ``--events`` writes, MQTT publishes and benchmarks read: the ``type``
first, then the fields, with ``None`` fields left out.

Times:
  ``audio_t``  seconds into the input audio (the listener's sample clock), where the event has one;
  ``wall_t``   seconds since the session started (``time.monotonic()`` based), stamped by the emitter.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edge_agent.compat import StrEnum


class EventType(StrEnum):
    # listening front end
    WAKE = "wake"
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"
    TURN_END = "turn_end"
    # conversation core
    STATE = "state"
    TRANSCRIPT = "transcript"
    LLM_ROUTE = "llm_route"
    LLM_FIRST_TOKEN = "llm_first_token"
    REPLY_TEXT = "reply_text"
    AUDIO_OUT_START = "audio_out_start"
    AUDIO_OUT_END = "audio_out_end"
    BARGE_IN = "barge_in"
    TURN_DONE = "turn_done"
    TOOL = "tool"
    ERROR = "error"
    # answering
    ANSWER_ROUTED = "answer_routed"
    TIMER = "timer"


class AgentState(StrEnum):
    IDLE = "idle"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    MUTED = "muted"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event. Subclasses set ``type`` and add their own fields."""

    type: ClassVar[EventType]
    audio_t: float | None = None
    """Seconds into the input audio, where the event is tied to a sample."""
    wall_t: float | None = None
    """Seconds since the session started, stamped when the event is emitted."""
    turn_id: int | None = None
    """Which conversation turn this belongs to (1, 2, ...), where it applies."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": str(self.type)}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, float):
                value = round(value, 4)
            out[f.name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(", ", ": "))

    def stamped(self, wall_t: float) -> Event:
        """A copy with ``wall_t`` set (events are frozen)."""
        return dataclasses.replace(self, wall_t=wall_t)


# --- listening ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Wake(Event):
    type: ClassVar[EventType] = EventType.WAKE
    keyword: str = ""
    """Name of the wake word that fired (e.g. ``okay_nabu``), or ``push_to_talk``."""
    score: float | None = None
    """Detector probability at the moment it fired."""
    user_talking: bool = False
    """The user was already speaking when the wake word was confirmed (no chime is played then)."""


@dataclass(frozen=True, kw_only=True)
class SpeechStart(Event):
    type: ClassVar[EventType] = EventType.SPEECH_START


@dataclass(frozen=True, kw_only=True)
class SpeechEnd(Event):
    type: ClassVar[EventType] = EventType.SPEECH_END


@dataclass(frozen=True, kw_only=True)
class TurnEnd(Event):
    type: ClassVar[EventType] = EventType.TURN_END
    probability: float | None = None
    """The turn model's probability that the turn is complete (None when ended by max silence)."""
    reason: str = "model"
    """``model`` (turn model and text hint said complete), ``model_sure`` (the turn model alone was
    sure, whatever the text), ``max_silence``, ``max_length`` or ``forced``."""
    speech_start_t: float | None = None
    """audio_t of the first speech frame of the turn."""
    last_speech_t: float | None = None
    """audio_t of the end of the last speech frame: where voice-to-voice latency is measured from."""


# --- conversation -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StateChanged(Event):
    type: ClassVar[EventType] = EventType.STATE
    state: AgentState = AgentState.IDLE
    previous: AgentState | None = None


@dataclass(frozen=True, kw_only=True)
class Transcript(Event):
    type: ClassVar[EventType] = EventType.TRANSCRIPT
    text: str = ""
    final: bool = True
    stt_ms: float | None = None


@dataclass(frozen=True, kw_only=True)
class LlmRoute(Event):
    type: ClassVar[EventType] = EventType.LLM_ROUTE
    backend: str = "local"
    """``local`` or ``cloud``."""
    region: str | None = None
    reason: str = ""
    """Why this route: ``policy``, ``local_failed``, ``budget_missed``, ``escalation``, ``hedge``, ..."""


@dataclass(frozen=True, kw_only=True)
class LlmFirstToken(Event):
    type: ClassVar[EventType] = EventType.LLM_FIRST_TOKEN
    ms: float = 0.0
    backend: str | None = None
    region: str | None = None


@dataclass(frozen=True, kw_only=True)
class ReplyText(Event):
    type: ClassVar[EventType] = EventType.REPLY_TEXT
    text: str = ""
    truncated: bool = False
    """True when barge-in cut the reply short; ``text`` is what was actually spoken."""
    reply_to: str | None = None
    """The ``reply_to`` token given to ``AgentControl.ask`` (echoed so MQTT can answer on the
    request's MQTT 5 response topic); None for replies to spoken turns."""


@dataclass(frozen=True, kw_only=True)
class AudioOutStart(Event):
    type: ClassVar[EventType] = EventType.AUDIO_OUT_START


@dataclass(frozen=True, kw_only=True)
class AudioOutEnd(Event):
    type: ClassVar[EventType] = EventType.AUDIO_OUT_END
    interrupted: bool = False


@dataclass(frozen=True, kw_only=True)
class BargeIn(Event):
    type: ClassVar[EventType] = EventType.BARGE_IN
    stop_ms: float | None = None
    """Milliseconds from the barge-in decision to playback stopping."""


@dataclass(frozen=True, kw_only=True)
class TurnDone(Event):
    type: ClassVar[EventType] = EventType.TURN_DONE
    voice_to_voice_ms: float | None = None
    """Last sample of the user's speech to the first sample of the reply written to the sink."""
    stages: dict[str, float] = field(default_factory=dict)
    """Per-stage milliseconds: ``endpoint``, ``stt``, ``llm_first_token``, ``tts_first_chunk``, ..."""
    backend: str | None = None
    region: str | None = None
    text: str | None = None
    reply: str | None = None


@dataclass(frozen=True, kw_only=True)
class ToolCall(Event):
    type: ClassVar[EventType] = EventType.TOOL
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    result: str = ""


@dataclass(frozen=True, kw_only=True)
class ErrorEvent(Event):
    type: ClassVar[EventType] = EventType.ERROR
    stage: str = ""
    """Where it happened: ``config``, ``audio``, ``stt``, ``llm``, ``tts``, ``mqtt``, ``command``, ..."""
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class AnswerRouted(Event):
    """What answers a turn (see :mod:`edge_agent.answers.router`) and why."""

    type: ClassVar[EventType] = EventType.ANSWER_ROUTED
    source: str = ""
    """``intent``, ``knowledge``, ``chitchat`` (the local model), ``cloud`` or ``decline``."""
    reason: str = ""
    """Why this source, in words (e.g. ``matched HassTurnOn``, ``factual question, no cloud configured``)."""
    intent: str | None = None
    slots: dict[str, Any] | None = None
    passage: str | None = None
    """The knowledge passage that answered: its file and ``##`` heading."""
    score: float | None = None
    """The passage's BM25 score (higher is better) when the knowledge base was consulted."""


@dataclass(frozen=True, kw_only=True)
class TimerEvent(Event):
    """A timer started, was cancelled, or rang (the alarm)."""

    type: ClassVar[EventType] = EventType.TIMER
    action: str = "finished"
    """``started``, ``cancelled`` or ``finished``."""
    name: str = ""
    """What the user called it, e.g. ``5 minute timer``."""
    seconds: float = 0.0
    """The timer's full duration."""


EVENT_CLASSES: dict[EventType, type[Event]] = {
    cls.type: cls
    for cls in (
        Wake, SpeechStart, SpeechEnd, TurnEnd, StateChanged, Transcript, LlmRoute, LlmFirstToken,
        ReplyText, AudioOutStart, AudioOutEnd, BargeIn, TurnDone, ToolCall, ErrorEvent,
        AnswerRouted, TimerEvent,
    )
}

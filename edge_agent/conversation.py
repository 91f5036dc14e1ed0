"""The conversation: one voice turn after another, as a state machine on the asyncio loop.

    idle --wake--> listening --turn_end--> thinking --first audio--> speaking --done--> listening
      ^                                                                                   | (follow-up
      +-------------------------------- follow-up window expires -------------------------+  window)

- Listener events arrive from the listener thread through :meth:`Conversation.post`
  (``loop.call_soon_threadsafe``); the conversation publishes them on the bus (stamped with the
  turn id) and reacts: ``speech_end`` starts a speculative transcription, ``speech_start`` throws it
  away, ``turn_end`` starts the reply, ``barge_in`` interrupts one.
- A reply streams: LLM tokens -> clause splitter -> TTS per clause -> playback, three stages
  running at once, so the first clause is heard while the LLM still writes the second.
- Engines are reached through small async interfaces (:class:`Transcriber`, :class:`Speaker`,
  :class:`Playback`, :class:`~edge_agent.llm.base.ChatModel`): the real ones run blocking work in
  executors (:class:`ExecutorTranscriber`, :class:`ExecutorSpeaker`); tests use scripted fakes on
  a virtual clock. Every time is read from ``loop.time()``, so virtual time works throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from edge_agent.bus import EventBus
from edge_agent.control import ToolRunner
from edge_agent.errors import EdgeAgentError, TtsError
from edge_agent.events import (
    AgentState,
    AudioOutEnd,
    AudioOutStart,
    BargeIn,
    ErrorEvent,
    Event,
    LlmFirstToken,
    ReplyText,
    SpeechEnd,
    SpeechStart,
    StateChanged,
    ToolCall,
    Transcript,
    TurnDone,
    TurnEnd,
    Wake,
)
from edge_agent.llm.base import ChatModel, Delta, Message, ToolCallRequest

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


# --- what the conversation needs from the rest ------------------------------------------------


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


# --- executor adapters for the real (blocking) engines ----------------------------------------

ENGINE_NICE = 5
"""Engine worker threads (STT, LLM, TTS) run this much nicer than the listener thread: on a busy
2-core board the listener's turn decision must not wait behind speculative work."""


def lower_thread_priority(nice: int = ENGINE_NICE) -> None:
    """Make the calling thread nicer (Linux: per-thread). A ThreadPoolExecutor ``initializer``."""
    import os

    try:
        os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
    except (AttributeError, OSError):
        pass  # not Linux, or not allowed: run as is


def engine_executor(name: str) -> ThreadPoolExecutor:
    """One worker thread for one engine (engines are not thread-safe), at engine priority."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=lower_thread_priority)


class ExecutorTranscriber:
    """Runs a blocking ``SpeechToText.transcribe`` on its own thread."""

    def __init__(self, stt: Any, executor: Executor | None = None) -> None:
        self.stt = stt
        self.executor = executor or engine_executor("stt")

    async def transcribe(self, audio: np.ndarray) -> str:
        loop = asyncio.get_running_loop()
        return str(await loop.run_in_executor(self.executor, self.stt.transcribe, audio))


class ExecutorSpeaker:
    """Runs a blocking ``TextToSpeech.synthesize`` iterator on its own thread, chunk by chunk."""

    def __init__(self, tts: Any, executor: Executor | None = None) -> None:
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


# --- clause splitting -------------------------------------------------------------------------


def make_splitter() -> Any:
    """The TTS clause splitter (``feed(token) -> [clauses]``, ``flush() -> [clauses]``)."""
    from edge_agent.tts.text import ClauseSplitter

    # The first clause is cut short (at any comma, or at a space after ~32 characters): the
    # voice's first chunk costs time in proportion to its length. Later clauses are normal.
    return ClauseSplitter(normalize=False, min_chars=FIRST_CLAUSE_MIN_CHARS, max_chars=FIRST_CLAUSE_MAX_CHARS)


FIRST_CLAUSE_MIN_CHARS = 6
FIRST_CLAUSE_MAX_CHARS = 32


def relax_splitter(splitter: Any) -> None:
    """After the first clause: the splitter's normal clause lengths (fewer, more natural cuts)."""
    splitter.min_chars, splitter.max_chars = 20, 180


def make_normalizer() -> Callable[[str], str]:
    """Text as it should be spoken (numbers, abbreviations, symbols)."""
    from edge_agent.tts.text import speakable

    return speakable


class SimpleClauseSplitter:
    """Cuts at sentence ends, and at commas once a clause has a few words (a short first clause
    reaches the speaker sooner)."""

    _END = re.compile(r"([.!?;:]+|,)(\s)")

    def __init__(self, min_words: int = 3) -> None:
        self.buf = ""
        self.min_words = min_words

    def feed(self, token: str) -> list[str]:
        self.buf += token
        out: list[str] = []
        start = 0
        for m in self._END.finditer(self.buf):
            piece = self.buf[start:m.end(1)]
            if m.group(1) == "," and len(piece.split()) < self.min_words:
                continue
            if piece.strip():
                out.append(piece.strip())
            start = m.end(1)
        self.buf = self.buf[start:]
        return out

    def flush(self) -> list[str]:
        rest, self.buf = self.buf.strip(), ""
        return [rest] if rest else []


# --- the state machine ------------------------------------------------------------------------


@dataclass
class ConversationSettings:
    system_prompt: str = ""
    follow_up_s: float = 6.0
    barge_in: bool = True
    apology: str = "Sorry, I couldn't answer that just now."
    speculative_stt: bool = True
    history_turns: int = 8
    """Turns kept here (the LLM trims further by tokens)."""
    confirm_words: tuple[str, ...] = ("yes", "yeah", "yep", "sure", "ok", "okay", "do it", "please", "confirm")


@dataclass
class _Spoken:
    """One clause as it was queued for playback: where in the reply's samples it lies."""

    text: str
    start: int
    length: int


@dataclass
class _Reply:
    """Bookkeeping of one reply in flight."""

    turn_id: int
    user_text: str
    reply_to: Any = None
    turn_end: TurnEnd | None = None
    t_turn_end: float | None = None  # loop time the turn_end was handled
    t_llm: float | None = None
    t_first_clause: float | None = None
    stages: dict[str, float] = field(default_factory=dict)
    spoken: list[_Spoken] = field(default_factory=list)
    samples: int = 0
    started: bool = False
    played_at_start: int = 0
    text: list[str] = field(default_factory=list)
    done: bool = False
    go: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the reply may be heard; a speculative reply works ahead but waits here."""
    held: list[Event] = field(default_factory=list)
    """Events of a speculative reply, published when (if) it is promoted."""
    t_transcript: float | None = None


@dataclass
class _Speculation:
    """A reply started when silence began, before the end of the turn was known."""

    start_t: float
    end_t: float
    reply: _Reply
    task: asyncio.Task[None]
    t0: float


class Conversation:
    """The turn loop. Construct on the loop thread; every public method runs on the loop (except
    :meth:`post`, which any thread may call). Also implements :class:`edge_agent.control.AgentControl`."""

    def __init__(
        self,
        *,
        bus: EventBus,
        llm: ChatModel,
        speaker: Speaker,
        playback: Playback,
        transcriber: Transcriber | None = None,
        listener: ListenerControl | None = None,
        settings: ConversationSettings | None = None,
        tools: ToolRunner | None = None,
        audio_now: Callable[[], float] | None = None,
        audio_clock: Callable[[], float] | None = None,
        on_reload: Callable[[], None] | None = None,
        completeness: Callable[[str], float | None] | None = None,
    ) -> None:
        self.bus = bus
        self.llm = llm
        if getattr(llm, "on_event", None) is not None:
            llm.on_event = self._on_llm_event  # type: ignore[attr-defined]  # router events get the turn id
        self.speaker = speaker
        self.playback = playback
        self.transcriber = transcriber
        self.listener: ListenerControl = listener or NullListener()
        self.cfg = settings or ConversationSettings()
        self.tools = tools
        self.audio_now = audio_now
        """The input's capture clock (seconds captured so far, in real time), for exact
        voice-to-voice latency; None when the input is not real time (a WAV fed unpaced)."""
        self.audio_clock = audio_clock or audio_now
        """Where the listener is in the input (``audio_t`` of our own events)."""
        self.on_reload = on_reload
        self.completeness = completeness
        """Text completeness (0..1) of a speculative transcript, handed to the listener's turn
        policy as its semantic hint (``turn.semantic_wait_ms`` > 0 turns it on in the daemon)."""
        self.history: list[Message] = []
        self.normalize = make_normalizer()
        self._state = AgentState.IDLE
        self._muted = False
        self._volume = 1.0
        self._turn_id = 0
        self._reply_task: asyncio.Task[None] | None = None
        self._reply: _Reply | None = None
        self._follow_up: asyncio.TimerHandle | None = None
        self._spec: _Speculation | None = None
        self._llm_reply: _Reply | None = None  # whose LLM call the router's events belong to
        self._pending_confirm: ToolCallRequest | None = None
        self._turn_speech_start: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop = asyncio.get_running_loop()
        self.replies = 0
        """Replies fully or partly spoken (for the ``run`` command's exit decision and tests)."""

    # --- public: state and events ----------------------------------------------------------

    @property
    def state(self) -> AgentState:
        return self._state

    @property
    def busy(self) -> bool:
        """A reply is being thought of or spoken (or a speculative STT runs)."""
        return self._reply_task is not None and not self._reply_task.done()

    async def wait_idle(self) -> None:
        """Until no reply is in flight."""
        while self.busy:
            assert self._reply_task is not None
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._reply_task)

    def post(self, event: Event) -> None:
        """Hand a listener event over from any thread."""
        try:
            self._loop.call_soon_threadsafe(self.handle, event)
        except RuntimeError:
            pass  # the loop has closed: the daemon is going down

    def handle(self, event: Event) -> None:
        """React to one listener event (on the loop)."""
        if self._muted and not isinstance(event, Wake):
            return
        if isinstance(event, Wake):
            if self._muted:
                return
            self._on_wake(event)
        elif isinstance(event, BargeIn):
            self._on_barge_in(event)
        elif isinstance(event, SpeechStart):
            self._publish(event)
            self._cancel_follow_up()
            self._drop_speculation()
        elif isinstance(event, SpeechEnd):
            self._publish(event)
            self._speculate(event)
        elif isinstance(event, TurnEnd):
            self._publish(event)
            self._on_turn_end(event)
        else:
            self._publish(event)

    # --- AgentControl -----------------------------------------------------------------------

    def say(self, text: str) -> None:
        self._start_reply(_Reply(self._next_turn(), user_text=""), self._speak_text(text))

    def ask(self, text: str, reply_to: Any = None) -> None:
        reply = _Reply(self._next_turn(), user_text=text, reply_to=reply_to)
        self._start_reply(reply, self._answer(reply, text))

    def wake(self) -> None:
        self.handle(Wake(keyword="push_to_talk", audio_t=self._audio_t()))

    def cancel(self) -> None:
        self._cancel_follow_up()
        self._drop_speculation()
        if self.busy:
            assert self._reply_task is not None
            self._reply_task.cancel()
        self.playback.stop()
        self.listener.stop_listening()
        self._set_state(AgentState.IDLE)

    def mute(self) -> None:
        self.cancel()
        self._muted = True
        self._set_state(AgentState.MUTED)

    def unmute(self) -> None:
        self._muted = False
        self._set_state(AgentState.IDLE)

    def set_volume(self, level: float) -> None:
        level = max(0.0, min(2.0, float(level)))
        sink_gain = getattr(self.playback, "set_volume", None)
        if callable(sink_gain):
            sink_gain(level)  # the sink applies it (to what is already queued, too)
        else:
            self._volume = level

    def reload(self) -> None:
        if self.on_reload is not None:
            self.on_reload()

    async def close(self) -> None:
        """Cancel everything in flight and wait for it (no task outlives the conversation)."""
        self._cancel_follow_up()
        self._drop_speculation()
        tasks = [t for t in (self._reply_task, *self._tasks) if t is not None and not t.done()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self.playback.stop()

    # --- listener events --------------------------------------------------------------------

    def _on_wake(self, event: Wake) -> None:
        self._cancel_follow_up()
        self._drop_speculation()
        if self.busy:  # the wake word over our own reply: stop talking and listen
            self._interrupt()
        turn = self._next_turn()
        self._turn_speech_start = None
        self._publish(dataclasses.replace(event, turn_id=turn))
        if event.keyword == "push_to_talk":
            self.listener.listen(None)
        self._set_state(AgentState.LISTENING)

    def _on_barge_in(self, event: BargeIn) -> None:
        if not self.cfg.barge_in or self._reply is None or not self.busy:
            return
        t0 = self._loop.time()
        self.playback.stop()  # first: the user must hear us stop at once
        stop_ms = (self._loop.time() - t0) * 1000
        self._publish(dataclasses.replace(event, stop_ms=round(stop_ms, 3), turn_id=self._reply.turn_id))
        self._interrupt()
        self._turn_id += 1  # the barge-in speech starts the next turn
        self._turn_speech_start = event.audio_t
        self._set_state(AgentState.LISTENING)

    def _on_turn_end(self, event: TurnEnd) -> None:
        if self._state != AgentState.LISTENING:
            return
        self._turn_speech_start = None
        last = event.last_speech_t
        if event.reason == "timeout" or last is None or event.speech_start_t is None:
            self._drop_speculation()  # nobody spoke: back to waiting for the wake word
            self._set_state(AgentState.IDLE)
            return
        now = self._loop.time()
        spec, self._spec = self._spec, None
        if spec is not None and abs(spec.start_t - event.speech_start_t) < 0.05 and last <= spec.end_t + 0.05:
            reply = spec.reply  # the user said nothing after the speculation began: it is the reply
            reply.stages["head_start"] = round((now - spec.t0) * 1000, 1)
        else:
            if spec is not None:
                spec.task.cancel()
                spec = None
            reply = _Reply(self._turn_id, user_text="")
            reply.go.set()
        reply.turn_end, reply.t_turn_end = event, now
        if event.audio_t is not None:
            reply.stages["endpoint"] = round((event.audio_t - last) * 1000, 1)
        if self.audio_now is not None and event.audio_t is not None:
            reply.stages["listener_lag"] = round((self.audio_now() - event.audio_t) * 1000, 1)
        if spec is not None:
            self._promote(reply, spec.task)
        else:
            end_t = last + 0.2  # a little of the silence: Whisper likes a tail
            self._start_reply(reply, self._turn(reply, event.speech_start_t, end_t))

    # --- speculation: the reply starts when silence begins ------------------------------------

    def _speculate(self, event: SpeechEnd) -> None:
        """Silence began: transcribe, and start thinking and synthesizing the answer now. Nothing
        is heard or published until the turn end confirms it; new speech throws it all away."""
        if (not self.cfg.speculative_stt or self.transcriber is None or self._state != AgentState.LISTENING
                or event.audio_t is None or self._turn_speech_start is None):
            return
        self._drop_speculation()
        start = self._turn_speech_start
        reply = _Reply(self._turn_id, user_text="")
        task = self._spawn(self._run_reply(reply, self._turn(reply, start, event.audio_t + 0.2)), report=True)
        self._spec = _Speculation(start, event.audio_t, reply, task, self._loop.time())

    def _drop_speculation(self) -> None:
        if self._spec is not None:
            self._spec.task.cancel()
            self._spec = None

    def _promote(self, reply: _Reply, task: asyncio.Task[None]) -> None:
        if self.busy:
            self._interrupt()
        self._cancel_follow_up()
        self._reply, self._reply_task = reply, task
        self._set_state(AgentState.THINKING)
        reply.go.set()
        held, reply.held = reply.held, []
        for event in held:
            self._publish(event)

    def _publish_for(self, reply: _Reply, event: Event) -> None:
        if reply.go.is_set():
            self._publish(event)
        else:
            reply.held.append(event)

    def _on_llm_event(self, event: Event) -> None:
        """The LLM router's events (route, first token): held with a speculative reply."""
        reply = self._llm_reply
        if reply is not None and not reply.go.is_set():
            if event.turn_id is None:
                event = dataclasses.replace(event, turn_id=reply.turn_id)
            reply.held.append(event)
        else:
            self._publish(event)

    # --- one reply ----------------------------------------------------------------------------

    def _start_reply(self, reply: _Reply, work: Any) -> None:
        if self.busy:
            self._interrupt()
        self._cancel_follow_up()
        reply.go.set()  # not speculative: heard as soon as it is ready
        self._reply = reply
        self._reply_task = self._spawn(self._run_reply(reply, work), report=True)

    async def _run_reply(self, reply: _Reply, work: Any) -> None:
        try:
            await work
            await reply.go.wait()  # a speculative reply that found nothing to say waits to be confirmed
        except asyncio.CancelledError:
            self._finish_interrupted(reply)
            raise
        finally:
            self.listener.set_playback_active(False)
            if self._reply is reply:
                self._reply = None
        if self._state in (AgentState.SPEAKING, AgentState.THINKING, AgentState.LISTENING):
            self._after_reply(spoke=reply.started)

    async def _turn(self, reply: _Reply, start_t: float, end_t: float) -> None:
        """Transcribe the user's speech between two audio times, then answer it."""
        if reply.go.is_set():
            self._set_state(AgentState.THINKING)
        assert self.transcriber is not None
        t0 = self._loop.time()
        try:
            text = (await self.transcriber.transcribe(self.listener.utterance(start_t, end_t))).strip()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an engine failure must not end the agent
            await reply.go.wait()
            await self._fail(reply, "stt", exc)
            return
        reply.t_transcript = self._loop.time()
        if not reply.go.is_set() and self.completeness is not None and _has_words(text):
            self._spawn(self._semantic_hint(text, end_t - 0.2))  # the turn decision may use it
        stt_ms = round((reply.t_transcript - t0) * 1000, 1)
        reply.stages["stt_compute"] = stt_ms  # the decode itself ("stt" is what the user waited for it)
        self._publish_for(reply, Transcript(text=text, stt_ms=stt_ms, audio_t=round(end_t - 0.2, 4),
                                            turn_id=reply.turn_id))
        if not _has_words(text):
            return  # silence or noise: no reply
        reply.user_text = text
        if self._pending_confirm is not None:
            await reply.go.wait()  # a confirmation is a side effect: only for a confirmed turn
            call, self._pending_confirm = self._pending_confirm, None
            if _is_yes(text, self.cfg.confirm_words):
                await self._answer(reply, text, confirmed=call)
                return
        await self._answer(reply, text)

    async def _semantic_hint(self, text: str, speech_end_t: float) -> None:
        assert self.completeness is not None
        p = await self._loop.run_in_executor(None, self.completeness, text)
        hint = getattr(self.listener, "set_semantic_hint", None)
        if p is not None and callable(hint):
            hint(p, speech_end_t)

    async def _answer(self, reply: _Reply, text: str, confirmed: ToolCallRequest | None = None) -> None:
        """User text -> LLM -> clauses -> TTS -> playback; tool calls in between."""
        if reply.go.is_set():
            self._set_state(AgentState.THINKING)
        messages = self._messages(text)
        offered = self.tools.specs() if self.tools is not None else None
        try:
            if confirmed is not None:
                messages = await self._run_tool(reply, confirmed, messages)
                offered = None
            for _ in range(3):  # a tool call, then the answer (bounded: no endless tool loops)
                call = await self._speak_stream(reply, self.llm.stream(messages, offered or None))
                if call is None:
                    break
                await reply.go.wait()  # tools act on the world: never on speculation
                if self.tools is not None and self.tools.needs_confirmation(call.name):
                    self._pending_confirm = call
                    await self._speak_stream(reply, _text_stream(_confirm_question(call)))
                    break
                messages = await self._run_tool(reply, call, messages)
                offered = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await reply.go.wait()
            await self._fail(reply, exc.stage if isinstance(exc, EdgeAgentError) else "llm", exc)
            return
        await self._finish(reply)

    async def _run_tool(self, reply: _Reply, call: ToolCallRequest, messages: list[Message]) -> list[Message]:
        assert self.tools is not None
        ok = True
        try:
            result = await self.tools.run(call.name, call.arguments)
        except (ValueError, EdgeAgentError) as exc:
            ok, result = False, f"error: {exc}"
        if not self.tools.publishes_events:
            self._publish(ToolCall(name=call.name, arguments=dict(call.arguments), ok=ok, result=result,
                                   turn_id=reply.turn_id))
        import json

        return [
            *messages,
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": call.id or "call_1", "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}]},
            {"role": "tool", "tool_call_id": call.id or "call_1", "content": result},
        ]

    async def _speak_text(self, text: str) -> None:
        assert self._reply is not None
        reply = self._reply
        await self._speak_stream(reply, _text_stream(text))
        await self._finish(reply)

    async def _speak_stream(self, reply: _Reply, deltas: AsyncIterator[Delta]) -> ToolCallRequest | None:
        """Stream deltas through the clause splitter into TTS and playback. Returns a tool call if
        the model asked for one instead of speaking."""
        clauses: asyncio.Queue[str | None] = asyncio.Queue()
        speaking = self._spawn(self._speak_clauses(reply, clauses))
        splitter = make_splitter()
        call: ToolCallRequest | None = None
        reply.t_llm = self._loop.time()
        self._llm_reply = reply
        first = True
        try:
            async with contextlib.aclosing(deltas) as stream:  # type: ignore[type-var]
                async for delta in stream:
                    if delta.tool_call is not None:
                        call = delta.tool_call
                        continue
                    if not delta.text:
                        continue
                    if first:
                        first = False
                        ms = (self._loop.time() - reply.t_llm) * 1000
                        reply.stages.setdefault("llm_first_token", round(ms, 1))
                        if getattr(self.llm, "on_event", None) is None:  # the LLM router reports its own
                            self._publish_for(reply, LlmFirstToken(ms=round(ms, 1), turn_id=reply.turn_id,
                                                                   backend=getattr(self.llm, "name", None)))
                    for clause in splitter.feed(delta.text):
                        self._queue_clause(reply, clauses, clause)
                        relax_splitter(splitter)
                    if reply.t_first_clause is not None and not reply.go.is_set():
                        await reply.go.wait()  # speculation has its first clause: the rest can wait
            for clause in splitter.flush():
                self._queue_clause(reply, clauses, clause)
            clauses.put_nowait(None)
            await speaking
        finally:
            if not speaking.done():
                speaking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await speaking
        return call

    def _queue_clause(self, reply: _Reply, clauses: asyncio.Queue[str | None], clause: str) -> None:
        if reply.t_first_clause is None and reply.t_llm is not None:
            reply.t_first_clause = self._loop.time()
            reply.stages.setdefault("llm_first_clause", round((reply.t_first_clause - reply.t_llm) * 1000, 1))
        clauses.put_nowait(clause)

    async def _speak_clauses(self, reply: _Reply, clauses: asyncio.Queue[str | None]) -> None:
        while (clause := await clauses.get()) is not None:
            spoken = self.normalize(clause).strip()
            if not _has_words(spoken):
                continue  # "...", an emoji: nothing to say
            t0 = self._loop.time()
            first_chunk = True
            entry = _Spoken(clause, reply.samples, 0)
            reply.spoken.append(entry)
            try:
                async for chunk in self.speaker.synthesize(spoken):
                    first_chunk = await self._play_chunk(reply, entry, chunk, t0, first_chunk)
            except (asyncio.CancelledError, EdgeAgentError):
                raise
            except Exception as exc:  # piper / onnxruntime raise their own types
                raise TtsError(f"speech synthesis failed: {exc}") from exc
            if entry.length:
                reply.text.append(clause)  # only what was actually voiced counts as said

    async def _play_chunk(self, reply: _Reply, entry: _Spoken, chunk: np.ndarray, t0: float,
                          first_chunk: bool) -> bool:
        if first_chunk and not reply.started:
            reply.stages["tts_first_chunk"] = round((self._loop.time() - t0) * 1000, 1)
        if chunk.size == 0:
            return first_chunk
        if self._volume != 1.0:
            chunk = np.clip(chunk.astype(np.float32) * self._volume, -32768, 32767).astype(np.int16)
        if not reply.started:
            await reply.go.wait()  # a speculative reply is ready: it is heard once the turn is over
            self._audio_started(reply)
        await self.playback.write(chunk)
        reply.samples += int(chunk.size)
        entry.length += int(chunk.size)
        return False

    def _audio_started(self, reply: _Reply) -> None:
        reply.started = True
        begin = getattr(self.playback, "begin_reply", None)
        if callable(begin):
            begin()  # the sink times the reply's first sample
        reply.played_at_start = self.playback.played()
        now = self._loop.time()
        self.listener.set_playback_active(True)
        self._publish(AudioOutStart(turn_id=reply.turn_id, audio_t=self._audio_t()))
        self._set_state(AgentState.SPEAKING)
        event = reply.turn_end
        if event is not None and event.last_speech_t is not None and reply.t_turn_end is not None:
            if self.audio_now is not None:
                v2v = (self.audio_now() - event.last_speech_t) * 1000
            else:  # unpaced input: the silence waited for, plus our own processing time
                v2v = reply.stages.get("endpoint", 0.0) + (now - reply.t_turn_end) * 1000
            reply.stages["voice_to_voice"] = round(v2v, 1)
        self.replies += 1

    async def _finish(self, reply: _Reply) -> None:
        """Everything queued is heard; publish what was said and how long it took."""
        await reply.go.wait()
        if reply.started:
            await self.playback.drain()
            self._publish(AudioOutEnd(turn_id=reply.turn_id, audio_t=self._audio_t()))
        reply.done = True
        text = " ".join(reply.text).strip()
        if reply.user_text or text:
            self._remember(reply.user_text, text)
        if text:
            self._publish(ReplyText(text=text, turn_id=reply.turn_id, **_reply_to(reply)))
        self._turn_done(reply, text)

    def _finish_interrupted(self, reply: _Reply) -> None:
        """Barge-in or cancel: keep what was actually heard."""
        if reply.done or not reply.go.is_set():
            return  # a speculation thrown away: nothing was heard or published
        reply.done = True
        self.playback.stop()
        heard = self._heard_text(reply) if reply.started else ""
        if reply.user_text or heard:
            self._remember(reply.user_text, heard)
        if reply.started:
            self._publish(ReplyText(text=heard, truncated=True, turn_id=reply.turn_id, **_reply_to(reply)))
            self._publish(AudioOutEnd(interrupted=True, turn_id=reply.turn_id, audio_t=self._audio_t()))
        self._turn_done(reply, heard)

    def _heard_text(self, reply: _Reply) -> str:
        played = max(0, self.playback.played() - reply.played_at_start)
        words: list[str] = []
        for part in reply.spoken:
            if played >= part.start + part.length and part.length:
                words.extend(part.text.split())
            elif played > part.start and part.length:
                share = (played - part.start) / part.length
                clause_words = part.text.split()
                words.extend(clause_words[: int(len(clause_words) * share)])
                break
            else:
                break
        return " ".join(words)

    def _turn_done(self, reply: _Reply, text: str) -> None:
        if reply.t_transcript is not None and reply.t_turn_end is not None:
            reply.stages["stt"] = round(max(0.0, reply.t_transcript - reply.t_turn_end) * 1000, 1)
        stages = dict(reply.stages)
        v2v = stages.pop("voice_to_voice", None)
        route = getattr(self.llm, "last_route", None)  # the LLM router's answer: local, or which region
        self._publish(TurnDone(voice_to_voice_ms=v2v, stages=stages, text=reply.user_text or None,
                               reply=text or None, backend=route.backend if route else getattr(self.llm, "name", None),
                               region=route.region if route else None, turn_id=reply.turn_id))

    async def _fail(self, reply: _Reply, stage: str, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, EdgeAgentError) else f"{type(exc).__name__}: {exc}"
        log.warning("%s failed: %s", stage, message, exc_info=not isinstance(exc, EdgeAgentError))
        self._publish_for(reply, ErrorEvent(stage=stage, message=message, turn_id=reply.turn_id))
        if stage != "tts":
            try:
                await self._speak_stream(reply, _text_stream(self.cfg.apology))
            except asyncio.CancelledError:
                raise
            except Exception as tts_exc:  # no voice either: say so on the bus, stay up
                self._publish(ErrorEvent(stage="tts", message=str(tts_exc), turn_id=reply.turn_id))
        await self._finish(reply)

    def _after_reply(self, spoke: bool) -> None:
        if self._muted:
            return
        self._turn_speech_start = None
        if spoke and self.cfg.follow_up_s > 0:
            self._turn_id += 1  # a follow-up is a new turn
            self._set_state(AgentState.LISTENING)
            self.listener.listen(self.cfg.follow_up_s)
            self._follow_up = self._loop.call_later(self.cfg.follow_up_s + 0.5, self._follow_up_expired)
        else:
            self.listener.stop_listening()
            self._set_state(AgentState.IDLE)

    def _follow_up_expired(self) -> None:
        self._follow_up = None
        if self._state == AgentState.LISTENING and not self.busy:
            self.listener.stop_listening()
            self._set_state(AgentState.IDLE)

    def _cancel_follow_up(self) -> None:
        if self._follow_up is not None:
            self._follow_up.cancel()
            self._follow_up = None

    def _interrupt(self) -> None:
        if self._reply_task is not None and not self._reply_task.done():
            self._reply_task.cancel()
        self.playback.stop()

    # --- helpers --------------------------------------------------------------------------------

    def _messages(self, text: str) -> list[Message]:
        system = [{"role": "system", "content": self.cfg.system_prompt}] if self.cfg.system_prompt else []
        return [*system, *self.history, {"role": "user", "content": text}]

    def _remember(self, user: str, assistant: str) -> None:
        # An exchange the user never heard an answer to is left out: a small model would copy an
        # empty or placeholder answer.
        if user and assistant:
            self.history.append({"role": "user", "content": user})
            self.history.append({"role": "assistant", "content": assistant})
        if len(self.history) > 2 * self.cfg.history_turns:
            # Drop to half at once rather than one turn per turn: the prompt's prefix (the LLM's
            # KV cache) then stays the same for several turns.
            keep = max(1, self.cfg.history_turns // 2)
            del self.history[: len(self.history) - 2 * keep]

    def _next_turn(self) -> int:
        self._turn_id += 1
        return self._turn_id

    def _audio_t(self) -> float | None:
        return round(self.audio_clock(), 4) if self.audio_clock is not None else None

    def _set_state(self, state: AgentState) -> None:
        if state == self._state:
            return
        previous, self._state = self._state, state
        self._publish(StateChanged(state=state, previous=previous))

    def _publish(self, event: Event) -> None:
        if event.turn_id is None and self._turn_id and not isinstance(event, StateChanged):
            event = dataclasses.replace(event, turn_id=self._turn_id)
        if isinstance(event, SpeechStart) and self._state == AgentState.LISTENING and self._turn_speech_start is None:
            self._turn_speech_start = event.audio_t  # the turn's first speech (a pause may follow)
        self.bus.publish(event)

    def _spawn(self, coro: Any, report: bool = False) -> asyncio.Task[Any]:
        """A tracked task (``close`` cancels it). ``report``: nobody awaits it, so a failure is
        published here; awaited tasks report through their awaiter."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, report))
        return task

    def _task_done(self, task: asyncio.Task[Any], report: bool) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # always retrieved: no "exception was never retrieved" noise
        if exc is not None and report:
            log.error("conversation task failed: %r", exc, exc_info=exc)
            self._publish(ErrorEvent(stage="conversation", message=f"{type(exc).__name__}: {exc}"))


async def _text_stream(text: str) -> AsyncIterator[Delta]:
    yield Delta(text=text)
    yield Delta(finish_reason="stop")


def _reply_to(reply: _Reply) -> dict[str, Any]:
    return {"reply_to": reply.reply_to} if reply.reply_to is not None else {}


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _is_yes(text: str, words: tuple[str, ...]) -> bool:
    said = re.sub(r"[^a-z ]", " ", text.lower()).split()
    joined = " ".join(said)
    return any((w in said) if " " not in w else (w in joined) for w in words) and "no" not in said


def _confirm_question(call: ToolCallRequest) -> str:
    args = ", ".join(f"{k} {v}" for k, v in call.arguments.items())
    action = call.name.replace("_", " ")
    return f"Should I {action}{' with ' + args if args else ''}? Say yes to confirm."

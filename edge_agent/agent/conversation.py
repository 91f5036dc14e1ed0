"""The conversation: one voice turn after another, on the asyncio loop.

- Listener events arrive from the listener thread through :meth:`Conversation.post`
  (``loop.call_soon_threadsafe``); the conversation publishes them on the bus (stamped with the
  turn id) and reacts: ``speech_end`` starts a speculative reply (:mod:`.speculation`),
  ``speech_start`` throws it away, ``turn_end`` promotes it or starts the reply, ``barge_in``
  interrupts one.
- A turn's reply: transcribe, ask the LLM (tool calls in between, :mod:`.tool_calls`), and speak
  the answer while it is written (:mod:`.speech_out`); a :class:`~.reply.Reply` keeps what was
  voiced and heard. Every state change goes through :class:`~.state.TurnState`.
- Every time is read from ``loop.time()``, so the tests' virtual clock works throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from edge_agent.agent.engines import (
    ListenerControl,
    NullListener,
    Playback,
    RoutedChat,
    SemanticHintSink,
    Speaker,
    Transcriber,
)
from edge_agent.agent.history import History
from edge_agent.agent.reply import Reply
from edge_agent.agent.speculation import Speculation, Speculative
from edge_agent.agent.speech_out import SpeechOut, has_words
from edge_agent.agent.state import TurnState
from edge_agent.agent.tasks import TrackedTasks
from edge_agent.agent.tool_calls import MAX_TOOL_ROUNDS, confirm_question, is_yes, run_tool, with_tool_result
from edge_agent.bus import EventBus
from edge_agent.control import ToolRunner
from edge_agent.errors import EdgeAgentError
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
from edge_agent.llm.base import ChatModel, Message, ToolCallRequest

log = logging.getLogger(__name__)

STT_TAIL_S = 0.2
"""Silence after the last word handed to STT with the speech (Whisper likes a tail)."""
FOLLOW_UP_GRACE_S = 0.5
"""The follow-up window closes this long after the listener's own timeout for it."""


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


class Conversation:
    """The turn loop. Construct on the loop thread; every public method runs on the loop (except
    :meth:`post`, which any thread may call). Also implements :class:`edge_agent.control.AgentControl`.

    ``audio_now``: the input's capture clock (seconds captured so far, in real time), for exact
    voice-to-voice latency; None when the input is not real time (a WAV fed unpaced).
    ``audio_clock``: where the listener is in the input (``audio_t`` of our own events).
    ``completeness``: text completeness (0..1) of a speculative transcript, handed to the
    listener's turn policy as its semantic hint when the listener takes one."""

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
        self.playback = playback
        self.transcriber = transcriber
        self.listener: ListenerControl = listener or NullListener()
        self.cfg = settings or ConversationSettings()
        self.tools = tools
        self.audio_now = audio_now
        self.audio_clock = audio_clock or audio_now
        self.on_reload = on_reload
        self.completeness = completeness
        self._loop = asyncio.get_running_loop()
        self._router = llm if isinstance(llm, RoutedChat) else None
        self._unsubscribe = self._router.subscribe(self._on_llm_event) if self._router is not None else None
        self.turn = TurnState(bus.publish, self._loop)
        self.speech = SpeechOut(speaker, playback, clock=self._loop.time, on_audio_start=self._audio_started,
                                on_first_text=None if self._router is not None else self._first_text)
        self.speculation = Speculation()
        self._history = History()
        self._tasks = TrackedTasks(lambda exc: self._publish(
            ErrorEvent(stage="conversation", message=f"{type(exc).__name__}: {exc}")))
        self._reply: Reply | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self._llm_reply: Reply | None = None  # whose LLM call the router's events belong to
        self.replies = 0
        """Replies fully or partly spoken (for the ``run`` command's exit decision and tests)."""

    # --- public: state and events ----------------------------------------------------------

    @property
    def state(self) -> AgentState:
        return self.turn.state

    @property
    def history(self) -> list[Message]:
        return self._history.messages

    @property
    def busy(self) -> bool:
        """A reply is being thought of or spoken."""
        return self._reply_task is not None and not self._reply_task.done()

    async def wait_idle(self) -> None:
        """Until no reply is in flight."""
        while self._reply_task is not None and not self._reply_task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._reply_task)

    def post(self, event: Event) -> None:
        """Hand a listener event over from any thread."""
        try:
            self._loop.call_soon_threadsafe(self.handle, event)
        except RuntimeError:
            pass  # the loop has closed: the daemon is going down

    def handle(self, event: Event) -> None:
        """React to one listener event (on the loop). Muted: nothing, not even a wake word."""
        if self.turn.muted:
            return
        if isinstance(event, Wake):
            self._on_wake(event)
            return
        if isinstance(event, BargeIn):
            self._on_barge_in(event)
            return
        if isinstance(event, SpeechStart):
            self.turn.speech_started(event.audio_t)
        self._publish(event)
        if isinstance(event, SpeechStart):
            self.turn.cancel_follow_up()
            self.speculation.drop()
        elif isinstance(event, SpeechEnd):
            self._speculate(event)
        elif isinstance(event, TurnEnd):
            self._on_turn_end(event)

    # --- AgentControl -----------------------------------------------------------------------

    def say(self, text: str) -> None:
        reply = Reply(self.turn.next_turn())
        self._start_reply(reply, self._say(reply, text))

    def ask(self, text: str, reply_to: Any = None) -> None:
        reply = Reply(self.turn.next_turn(), user_text=text, reply_to=reply_to)
        self._start_reply(reply, self._answer(reply, text))

    def wake(self) -> None:
        self.handle(Wake(keyword="push_to_talk", audio_t=self._audio_t()))

    def cancel(self) -> None:
        self.turn.cancel_follow_up()
        self.speculation.drop()
        self._interrupt()
        self.listener.stop_listening()
        if not self.turn.muted:
            self.turn.to(AgentState.IDLE)

    def mute(self) -> None:
        self.cancel()
        self.turn.mute()

    def unmute(self) -> None:
        self.turn.unmute()

    def set_volume(self, level: float) -> None:
        self.speech.set_volume(max(0.0, min(2.0, float(level))))

    def reload(self) -> None:
        if self.on_reload is not None:
            self.on_reload()

    async def close(self) -> None:
        """Cancel everything in flight and wait for it (no task outlives the conversation)."""
        self.turn.cancel_follow_up()
        self.speculation.drop()
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self._tasks.close()
        self.playback.stop()

    # --- listener events --------------------------------------------------------------------

    def _on_wake(self, event: Wake) -> None:
        self.turn.cancel_follow_up()
        self.speculation.drop()
        if self.busy:  # the wake word over our own reply: stop talking and listen
            self._interrupt()
        self._publish(dataclasses.replace(event, turn_id=self.turn.new_turn()))
        if event.keyword == "push_to_talk":
            self.listener.listen(None)
        self.turn.to(AgentState.LISTENING)

    def _on_barge_in(self, event: BargeIn) -> None:
        if not self.cfg.barge_in or self._reply is None or not self.busy:
            return
        t0 = self._loop.time()
        self.playback.stop()  # first: the user must hear us stop at once
        stop_ms = round((self._loop.time() - t0) * 1000, 3)
        self._publish(dataclasses.replace(event, stop_ms=stop_ms, turn_id=self._reply.turn_id))
        self._interrupt()
        self.turn.new_turn(speech_start_t=event.audio_t)  # the barge-in speech starts the next turn
        self.turn.to(AgentState.LISTENING)

    def _on_turn_end(self, event: TurnEnd) -> None:
        if self.turn.state is not AgentState.LISTENING:
            return
        self.turn.speech_start_t = None
        last, start = event.last_speech_t, event.speech_start_t
        if event.reason == "timeout" or last is None or start is None:
            self.speculation.drop()  # nobody spoke: back to waiting for the wake word
            self.turn.to(AgentState.IDLE)
            return
        now = self._loop.time()
        spec = self.speculation.promote(start, last, now)
        reply = spec.reply if spec is not None else Reply(self.turn.turn_id)
        reply.turn_end, reply.t_turn_end = event, now
        if event.audio_t is not None:
            reply.stages["endpoint"] = round((event.audio_t - last) * 1000, 1)
        if self.audio_now is not None and event.audio_t is not None:
            reply.stages["listener_lag"] = round((self.audio_now() - event.audio_t) * 1000, 1)
        if spec is not None:  # the user said nothing after the speculation began: it is the reply
            self._adopt(reply, spec.task)
            self.turn.to(AgentState.THINKING)
            for held in reply.confirm():
                self._publish(held)
        else:
            self._start_reply(reply, self._turn(reply, start, last + STT_TAIL_S))

    def _speculate(self, event: SpeechEnd) -> None:
        """Silence began: transcribe, and start thinking and synthesizing the answer now."""
        start = self.turn.speech_start_t
        if (not self.cfg.speculative_stt or self.transcriber is None or self.turn.state is not AgentState.LISTENING
                or event.audio_t is None or start is None):
            return
        reply = Reply(self.turn.turn_id)
        task = self._tasks.spawn(self._run_reply(reply, self._turn(reply, start, event.audio_t + STT_TAIL_S)),
                                 report=True)
        self.speculation.start(Speculative(start, event.audio_t, reply, task, self._loop.time()))

    def _on_llm_event(self, event: Event) -> None:
        """The LLM router's events (route, first token): the turn id added, held with a speculation."""
        reply = self._llm_reply
        if reply is None:
            self._publish(event)
            return
        reply.publish(event if event.turn_id is not None else dataclasses.replace(event, turn_id=reply.turn_id),
                      self._publish)

    # --- one reply ----------------------------------------------------------------------------

    def _start_reply(self, reply: Reply, work: Coroutine[Any, Any, None]) -> None:
        """A reply heard as soon as it is ready (not speculative)."""
        task = self._tasks.spawn(self._run_reply(reply, work), report=True)
        reply.confirm()
        self._adopt(reply, task)

    def _adopt(self, reply: Reply, task: asyncio.Task[None]) -> None:
        """``reply`` is the one in flight from now on: any other stops."""
        if self.busy:
            self._interrupt()
        self.turn.cancel_follow_up()
        self._reply, self._reply_task = reply, task

    async def _run_reply(self, reply: Reply, work: Coroutine[Any, Any, None]) -> None:
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
        if self.turn.state in (AgentState.SPEAKING, AgentState.THINKING, AgentState.LISTENING):
            self._after_reply(spoke=reply.started)

    async def _turn(self, reply: Reply, start_t: float, end_t: float) -> None:
        """Transcribe the user's speech between two audio times, then answer it."""
        if reply.confirmed:
            self.turn.to(AgentState.THINKING)
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
        if not reply.confirmed and self.completeness is not None and has_words(text):
            self._tasks.spawn(self._semantic_hint(text, end_t - STT_TAIL_S))  # the turn decision may use it
        stt_ms = round((reply.t_transcript - t0) * 1000, 1)
        reply.stages["stt_compute"] = stt_ms  # the decode itself ("stt" is what the user waited for it)
        reply.publish(Transcript(text=text, stt_ms=stt_ms, audio_t=round(end_t - STT_TAIL_S, 4),
                                 turn_id=reply.turn_id), self._publish)
        if not has_words(text):
            return  # silence or noise: no reply
        reply.user_text = text
        if self.turn.pending_confirmation is not None:
            await reply.go.wait()  # a confirmation is a side effect: only for a confirmed turn
            call = self.turn.take_confirmation()
            if call is not None and is_yes(text, self.cfg.confirm_words):
                await self._answer(reply, text, confirmed=call)
                return
        await self._answer(reply, text)

    async def _semantic_hint(self, text: str, speech_end_t: float) -> None:
        assert self.completeness is not None
        p = await self._loop.run_in_executor(None, self.completeness, text)
        if p is not None and isinstance(self.listener, SemanticHintSink):
            self.listener.set_semantic_hint(p, speech_end_t)

    async def _answer(self, reply: Reply, text: str, confirmed: ToolCallRequest | None = None) -> None:
        """User text -> LLM -> spoken answer; tool calls in between."""
        if reply.confirmed:
            self.turn.to(AgentState.THINKING)
        messages = self._history.prompt(self.cfg.system_prompt, text)
        offered = self.tools.specs() if self.tools is not None else None
        try:
            if confirmed is not None:
                messages = await self._run_tool(reply, confirmed, messages)
                offered = None
            for _ in range(MAX_TOOL_ROUNDS):
                self._llm_reply = reply
                call = await self.speech.speak(reply, self.llm.stream(messages, offered or None))
                if call is None:
                    break
                await reply.go.wait()  # tools act on the world: never on speculation
                if self.tools is not None and self.tools.needs_confirmation(call.name):
                    self.turn.ask_confirmation(call)
                    await self.speech.speak_text(reply, confirm_question(call))
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

    async def _run_tool(self, reply: Reply, call: ToolCallRequest, messages: list[Message]) -> list[Message]:
        assert self.tools is not None
        ok, result = await run_tool(self.tools, call)
        if not self.tools.publishes_events:
            self._publish(ToolCall(name=call.name, arguments=dict(call.arguments), ok=ok, result=result,
                                   turn_id=reply.turn_id))
        return with_tool_result(messages, call, result)

    async def _say(self, reply: Reply, text: str) -> None:
        await self.speech.speak_text(reply, text)
        await self._finish(reply)

    async def _fail(self, reply: Reply, stage: str, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, EdgeAgentError) else f"{type(exc).__name__}: {exc}"
        log.warning("%s failed: %s", stage, message, exc_info=not isinstance(exc, EdgeAgentError))
        reply.publish(ErrorEvent(stage=stage, message=message, turn_id=reply.turn_id), self._publish)
        if stage != "tts":
            try:
                await self.speech.speak_text(reply, self.cfg.apology)
            except asyncio.CancelledError:
                raise
            except Exception as tts_exc:  # no voice either: say so on the bus, stay up
                self._publish(ErrorEvent(stage="tts", message=str(tts_exc), turn_id=reply.turn_id))
        await self._finish(reply)

    # --- the reply heard, and its end ------------------------------------------------------------

    def _first_text(self, reply: Reply, ms: float) -> None:
        """A chat model that does not report its own first token: the conversation does."""
        reply.publish(LlmFirstToken(ms=ms, turn_id=reply.turn_id, backend=self.llm.name), self._publish)

    def _audio_started(self, reply: Reply) -> None:
        now = self._loop.time()
        self.listener.set_playback_active(True)
        self._publish(AudioOutStart(turn_id=reply.turn_id, audio_t=self._audio_t()))
        self.turn.to(AgentState.SPEAKING)
        reply.mark_voice_to_voice(now, self.audio_now)
        self.replies += 1

    async def _finish(self, reply: Reply) -> None:
        """Everything queued is heard; publish what was said and how long it took."""
        await reply.go.wait()
        if reply.started:
            await self.playback.drain()
            self._publish(AudioOutEnd(turn_id=reply.turn_id, audio_t=self._audio_t()))
        text = reply.finish()
        self._history.remember(reply.user_text, text, self.cfg.history_turns)
        if text:
            self._publish(ReplyText(text=text, turn_id=reply.turn_id, **reply.reply_to_fields()))
        self._turn_done(reply, text)

    def _finish_interrupted(self, reply: Reply) -> None:
        """Barge-in or cancel: keep what was actually heard."""
        if not reply.interruptible:
            return  # a speculation thrown away: nothing was heard or published
        self.playback.stop()
        heard = reply.interrupt(self.playback.played())
        self._history.remember(reply.user_text, heard, self.cfg.history_turns)
        if reply.started:
            self._publish(ReplyText(text=heard, truncated=True, turn_id=reply.turn_id, **reply.reply_to_fields()))
            self._publish(AudioOutEnd(interrupted=True, turn_id=reply.turn_id, audio_t=self._audio_t()))
        self._turn_done(reply, heard)

    def _turn_done(self, reply: Reply, text: str) -> None:
        v2v, stages = reply.timings()
        route = self._router.last_route if self._router is not None else None
        self._publish(TurnDone(voice_to_voice_ms=v2v, stages=stages, text=reply.user_text or None,
                               reply=text or None, backend=route.backend if route else self.llm.name,
                               region=route.region if route else None, turn_id=reply.turn_id))

    def _after_reply(self, spoke: bool) -> None:
        self.turn.speech_start_t = None
        if spoke and self.cfg.follow_up_s > 0:
            self.turn.open_follow_up(self.cfg.follow_up_s + FOLLOW_UP_GRACE_S, self._follow_up_expired)
            self.listener.listen(self.cfg.follow_up_s)
        else:
            self.listener.stop_listening()
            self.turn.to(AgentState.IDLE)

    def _follow_up_expired(self) -> None:
        if self.turn.state is AgentState.LISTENING and not self.busy:
            self.listener.stop_listening()
            self.turn.to(AgentState.IDLE)

    def _interrupt(self) -> None:
        if self._reply_task is not None and not self._reply_task.done():
            self._reply_task.cancel()
        self.playback.stop()

    # --- helpers --------------------------------------------------------------------------------

    def _audio_t(self) -> float | None:
        return round(self.audio_clock(), 4) if self.audio_clock is not None else None

    def _publish(self, event: Event) -> None:
        if event.turn_id is None and self.turn.turn_id and not isinstance(event, StateChanged):
            event = dataclasses.replace(event, turn_id=self.turn.turn_id)
        self.bus.publish(event)

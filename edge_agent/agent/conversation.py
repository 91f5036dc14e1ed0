"""The conversation: one voice turn after another, on the asyncio loop.

- Listener events arrive from the listener thread through :meth:`Conversation.post`
  (``loop.call_soon_threadsafe``); the conversation publishes them on the bus (stamped with the
  turn id) and reacts: ``speech_end`` starts a speculative reply (:mod:`.speculation`),
  ``speech_start`` throws it away, ``turn_end`` promotes it or starts the reply, ``barge_in``
  interrupts one.
- The conversation decides when a reply starts and stops, and runs one at a time; what a reply
  does (transcribe, answer, speak, publish its end) is the :class:`~.responder.Responder`'s, and a
  :class:`~.reply.Reply` keeps what was voiced and heard. Every state change goes through
  :class:`~.state.TurnState`.
- Every time is read from ``loop.time()``, so the tests' virtual clock works throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np

from edge_agent.agent.engines import (
    ListenerControl,
    NullListener,
    Playback,
    Speaker,
    Transcriber,
    TurnAnswerer,
)
from edge_agent.agent.reply import Reply
from edge_agent.agent.responder import STT_TAIL_S, Responder
from edge_agent.agent.settings import ConversationSettings
from edge_agent.agent.speculation import Speculation, Speculative
from edge_agent.agent.speech_out import SpeechOut
from edge_agent.agent.state import TurnState
from edge_agent.agent.tasks import TrackedTasks
from edge_agent.answers.answer import Answer, Control
from edge_agent.bus import EventBus
from edge_agent.control import ToolRunner
from edge_agent.events import (
    AgentState,
    AudioOutStart,
    BargeIn,
    ErrorEvent,
    Event,
    SpeechEnd,
    SpeechStart,
    StateChanged,
    TurnEnd,
    Wake,
)
from edge_agent.listen.hint import Hint
from edge_agent.llm.base import ChatModel, Message

__all__ = ["Conversation", "ConversationSettings"]

FOLLOW_UP_GRACE_S = 0.5
"""The follow-up window closes this long after the listener's own timeout for it."""


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
        completeness: Callable[[str], float | Hint | None] | None = None,
        answers: TurnAnswerer | None = None,
        chime: np.ndarray | None = None,
    ) -> None:
        self.bus = bus
        self.llm = llm
        self.playback = playback
        self.listener: ListenerControl = listener or NullListener()
        self.audio_now = audio_now
        self.audio_clock = audio_clock or audio_now
        self.on_reload = on_reload
        self._loop = asyncio.get_running_loop()
        self.turn = TurnState(bus.publish, self._loop)
        self.speculation = Speculation()
        self._tasks = TrackedTasks(lambda exc: self._publish(
            ErrorEvent(stage="conversation", message=f"{type(exc).__name__}: {exc}")))
        self.speech = SpeechOut(speaker, playback, clock=self._loop.time, on_audio_start=self._audio_started)
        self.responder = Responder(
            cfg=settings or ConversationSettings(), llm=llm, speech=self.speech, playback=playback,
            transcriber=transcriber, listener=self.listener, tools=tools, turn=self.turn, tasks=self._tasks,
            publish=self._publish, audio_t=self._audio_t, completeness=completeness,
            answers=answers, on_control=self._apply_control)
        router = self.responder.router
        if router is None:
            self.speech.on_first_text = self.responder.first_text
        self._unsubscribe = router.subscribe(self.responder.on_llm_event) if router is not None else None
        self.chime = chime
        """Played (at the playback's rate) when a wake word opens a turn; None: no chime."""
        self._reply: Reply | None = None
        self._reply_task: asyncio.Task[None] | None = None
        self.replies = 0
        """Replies fully or partly spoken (for the ``run`` command's exit decision and tests)."""

    # --- public: state and events ----------------------------------------------------------

    @property
    def state(self) -> AgentState:
        return self.turn.state

    @property
    def cfg(self) -> ConversationSettings:
        return self.responder.cfg

    @cfg.setter
    def cfg(self, settings: ConversationSettings) -> None:
        """Takes effect from the next event (a config reload)."""
        self.responder.cfg = settings

    @property
    def completeness(self) -> Callable[[str], float | Hint | None] | None:
        return self.responder.completeness

    @completeness.setter
    def completeness(self, completeness: Callable[[str], float | Hint | None] | None) -> None:
        self.responder.completeness = completeness

    @property
    def history(self) -> list[Message]:
        return self.responder.history.messages

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
        self._start_reply(reply, self.responder.say(reply, text))

    def ask(self, text: str, reply_to: Any = None) -> None:
        reply = Reply(self.turn.next_turn(), user_text=text, reply_to=reply_to)
        self._start_reply(reply, self.responder.answer(reply, text))

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

    def _apply_control(self, answer: Answer) -> None:
        """A local intent's action on the agent itself, after its spoken reply."""
        if answer.control is Control.VOLUME and answer.volume is not None:
            self.set_volume(answer.volume)
        elif answer.control is Control.MUTE:
            self._loop.call_soon(self.mute)  # once the reply that said so has ended
        elif answer.control is Control.UNMUTE:
            self.unmute()

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
        if self.chime is not None and not event.user_talking:  # never over the user's first words
            self._tasks.spawn(play_chime(self.chime, self.playback, self.listener, replying=lambda: self.busy))

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
            self._start_reply(reply, self.responder.turn_reply(reply, start, last + STT_TAIL_S))

    def _speculate(self, event: SpeechEnd) -> None:
        """Silence began: transcribe, and start thinking and synthesizing the answer now."""
        start, end = self.turn.speech_start_t, event.audio_t
        if (not self.cfg.speculative_stt or self.responder.transcriber is None
                or self.turn.state is not AgentState.LISTENING or end is None or start is None):
            return
        reply = Reply(self.turn.turn_id)
        work = self.responder.turn_reply(reply, start, end + STT_TAIL_S)
        task = self._tasks.spawn(self._run_reply(reply, work), report=True)
        self.speculation.start(Speculative(start, end, reply, task, self._loop.time()))

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
            self.responder.finish_interrupted(reply)
            raise
        finally:
            self.listener.set_playback_active(False)
            if self._reply is reply:
                self._reply = None
        if self.turn.state in (AgentState.SPEAKING, AgentState.THINKING, AgentState.LISTENING):
            self._after_reply(spoke=reply.started)

    def _audio_started(self, reply: Reply) -> None:
        now = self._loop.time()
        self.listener.set_playback_active(True)
        self._publish(AudioOutStart(turn_id=reply.turn_id, audio_t=self._audio_t()))
        self.turn.to(AgentState.SPEAKING)
        reply.mark_voice_to_voice(now, self.audio_now)
        self.replies += 1

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


async def play_chime(chime: np.ndarray, playback: Playback, listener: ListenerControl,
                     replying: Callable[[], bool]) -> None:
    """The acknowledge sound, through the playback (so the echo reference has it); the listener
    treats it as playback while it sounds, in case echo cancellation is off."""
    listener.set_playback_active(True)
    try:
        await playback.write(chime)
        await playback.drain()
    finally:
        if not replying():  # a reply that started meanwhile keeps the playback state
            listener.set_playback_active(False)

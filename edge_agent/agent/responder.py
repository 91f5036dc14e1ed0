"""The work of one reply: transcribe the turn, answer it (the LLM, tool calls in between), speak
the answer, and publish how it ended (what was said or heard, and how long each stage took).

The :class:`Responder` does not decide when a reply starts or stops: the conversation does, and
runs these coroutines in its reply task. A reply that is not confirmed (speculation) does all it
can without side effects: no event is published (they are held on the reply), no tool runs, no
confirmation is consumed, and nothing is heard until it is confirmed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from edge_agent.agent.engines import (
    ListenerControl,
    Playback,
    RoutedChat,
    ScoredTranscriber,
    SemanticHintSink,
    Transcriber,
    TurnAnswerer,
)
from edge_agent.agent.history import History
from edge_agent.agent.reply import Reply
from edge_agent.agent.settings import ConversationSettings
from edge_agent.agent.speech_out import SpeechOut, has_words
from edge_agent.agent.state import TurnState
from edge_agent.agent.tasks import TrackedTasks
from edge_agent.agent.tool_calls import MAX_TOOL_ROUNDS, confirm_question, is_yes, run_tool, with_tool_result
from edge_agent.answers.brevity import bounded
from edge_agent.config import LlmPolicy
from edge_agent.control import ToolRunner
from edge_agent.errors import EdgeAgentError
from edge_agent.events import (
    AgentState,
    AudioOutEnd,
    ErrorEvent,
    Event,
    LlmFirstToken,
    ReplyText,
    ToolCall,
    Transcript,
    TurnDone,
)
from edge_agent.listen.hint import Hint
from edge_agent.llm.base import ChatModel, Delta, Message, ToolCallRequest
from edge_agent.stt.base import Transcription

if TYPE_CHECKING:
    from edge_agent.answers.answer import Answer

log = logging.getLogger(__name__)

STT_TAIL_S = 0.2
"""Silence after the last word handed to STT with the speech (Whisper likes a tail)."""


class Responder:
    """``publish`` stamps the turn id and puts an event on the bus; ``audio_t`` is where the
    listener is in the input. ``cfg`` may be replaced while running (a config reload)."""

    def __init__(self, *, cfg: ConversationSettings, llm: ChatModel, speech: SpeechOut, playback: Playback,
                 transcriber: Transcriber | None, listener: ListenerControl, tools: ToolRunner | None,
                 turn: TurnState, tasks: TrackedTasks, publish: Callable[[Event], None],
                 audio_t: Callable[[], float | None],
                 completeness: Callable[[str], float | Hint | None] | None,
                 answers: TurnAnswerer | None = None,
                 on_control: Callable[[Answer], None] | None = None) -> None:
        self.cfg = cfg
        self.llm = llm
        self.speech = speech
        self.playback = playback
        self.transcriber = transcriber
        self.listener = listener
        self.tools = tools
        self.turn = turn
        self.tasks = tasks
        self.publish = publish
        self.audio_t = audio_t
        self.completeness = completeness
        self.answers = answers
        """Who answers a turn before the LLM (intents, knowledge, "I don't know"); None: the LLM always."""
        self.on_control = on_control
        self.history = History()
        self.router = llm if isinstance(llm, RoutedChat) else None
        self._llm_reply: Reply | None = None  # whose LLM call the router's events belong to
        self._spoken_before: tuple[int, str] | None = None
        """(turn id, text) of the latest speculative transcript: a later one of the same turn that
        changed its words makes the hint less sure."""

    # --- the router's events ----------------------------------------------------------------------

    def on_llm_event(self, event: Event) -> None:
        """The LLM router's events (route, first token): the turn id added, held with a speculation."""
        reply = self._llm_reply
        if reply is None:
            self.publish(event)
            return
        reply.publish(event if event.turn_id is not None else dataclasses.replace(event, turn_id=reply.turn_id),
                      self.publish)

    def first_text(self, reply: Reply, ms: float) -> None:
        """A chat model that does not report its own first token: it is reported here."""
        reply.publish(LlmFirstToken(ms=ms, turn_id=reply.turn_id, backend=self.llm.name), self.publish)

    # --- the work ---------------------------------------------------------------------------------

    async def turn_reply(self, reply: Reply, start_t: float, end_t: float) -> None:
        """Transcribe the user's speech between two audio times, then answer it."""
        if reply.confirmed:
            self.turn.to(AgentState.THINKING)
        assert self.transcriber is not None
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        scores: Transcription | None = None
        try:
            audio = self.listener.utterance(start_t, end_t)
            if isinstance(self.transcriber, ScoredTranscriber):
                scores = await self.transcriber.transcribe_scored(audio)
                text = scores.text.strip()
            else:
                text = (await self.transcriber.transcribe(audio)).strip()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an engine failure must not end the agent
            await reply.go.wait()
            await self.fail(reply, "stt", exc)
            return
        reply.t_transcript = loop.time()
        if not reply.confirmed and self.completeness is not None and has_words(text):
            confidence = self._hint_confidence(reply, text, scores)
            self.tasks.spawn(self._semantic_hint(text, end_t - STT_TAIL_S, confidence, scores))  # the turn decision may use it
        stt_ms = round((reply.t_transcript - t0) * 1000, 1)
        reply.stages["stt_compute"] = stt_ms  # the decode itself ("stt" is what the user waited for it)
        reply.publish(Transcript(text=text, stt_ms=stt_ms, audio_t=round(end_t - STT_TAIL_S, 4),
                                 turn_id=reply.turn_id), self.publish)
        if not has_words(text):
            return  # silence or noise: no reply
        reply.user_text = text
        if self.turn.pending_confirmation is not None:
            await reply.go.wait()  # a confirmation is a side effect: only for a confirmed turn
            call = self.turn.take_confirmation()
            if call is not None and is_yes(text, self.cfg.confirm_words):
                await self.answer(reply, text, confirmed=call)
                return
        await self.answer(reply, text)

    def _hint_confidence(self, reply: Reply, text: str, scores: Transcription | None) -> float:
        """How far the speculative transcript can be trusted (``cfg.hint_trust``; 1.0 without it)."""
        before = self._spoken_before
        earlier = before[1] if before is not None and before[0] == reply.turn_id else None
        self._spoken_before = (reply.turn_id, text)
        trust = self.cfg.hint_trust
        if trust is None:
            return 1.0
        return trust.confidence(scores.avg_logprob if scores else None, scores.no_speech_prob if scores else None,
                                text, earlier)

    async def _semantic_hint(self, text: str, speech_end_t: float, confidence: float = 1.0,
                             scores: Transcription | None = None) -> None:
        assert self.completeness is not None
        p = await asyncio.get_running_loop().run_in_executor(None, self.completeness, text)
        if p is not None and isinstance(self.listener, SemanticHintSink):
            hint = p if isinstance(p, Hint) else Hint(p, text=text)
            hint = dataclasses.replace(hint, confidence=confidence,  # the STT's scores, for a trained decision
                                       avg_logprob=scores.avg_logprob if scores else None,
                                       no_speech_prob=scores.no_speech_prob if scores else None)
            self.listener.set_semantic_hint(hint, speech_end_t, confidence)

    async def answer(self, reply: Reply, text: str, confirmed: ToolCallRequest | None = None) -> None:
        """User text -> (answer router) -> LLM -> spoken answer; tool calls in between."""
        if reply.confirmed:
            self.turn.to(AgentState.THINKING)
        messages = self.history.prompt(self.cfg.system_prompt, text)
        offered = self.tools.specs() if self.tools is not None else None
        policy: LlmPolicy | None = None
        routed: Answer | None = None
        try:
            if self.answers is not None and confirmed is None:
                routed = await self.answers.answer(text, before_acting=reply.go.wait)
                reply.publish(dataclasses.replace(routed.event(), turn_id=reply.turn_id), self.publish)
                if routed.llm is None:  # answered here: an intent's result, a passage, "I don't know"
                    if routed.text:
                        await self.speech.speak_text(reply, routed.text)
                    await self.finish(reply)
                    self._control(reply, routed)
                    return
                messages = list(routed.llm.messages)  # type: ignore[arg-type]
                policy = LlmPolicy(routed.llm.policy)
                if routed.source != "cloud":
                    offered = None  # small talk: the local model is offered no tools to misuse
            if confirmed is not None:
                messages = await self._run_tool(reply, confirmed, messages)
                offered = None
            for _ in range(MAX_TOOL_ROUNDS):
                self._llm_reply = reply
                stream = self._stream(messages, offered or None, policy)
                if routed is not None and routed.llm is not None and routed.llm.bound is not None:
                    stream = bounded(stream, routed.llm.bound)  # small talk stays short
                call = await self.speech.speak(reply, stream)
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
            await self.fail(reply, exc.stage if isinstance(exc, EdgeAgentError) else "llm", exc)
            return
        await self.finish(reply)

    def _stream(self, messages: list[Message], tools: list[dict[str, object]] | None,
                policy: LlmPolicy | None) -> AsyncIterator[Delta]:
        if policy is not None and self.router is not None:
            return self.router.stream(messages, tools, policy=policy)
        return self.llm.stream(messages, tools)

    def _control(self, reply: Reply, routed: Answer) -> None:
        """An intent's action on the agent itself (volume, mute), once its reply is done."""
        if routed.control is not None and reply.confirmed and self.on_control is not None:
            self.on_control(routed)

    async def _run_tool(self, reply: Reply, call: ToolCallRequest, messages: list[Message]) -> list[Message]:
        assert self.tools is not None
        ok, result = await run_tool(self.tools, call)
        if not self.tools.publishes_events:
            self.publish(ToolCall(name=call.name, arguments=dict(call.arguments), ok=ok, result=result,
                                  turn_id=reply.turn_id))
        return with_tool_result(messages, call, result)

    async def say(self, reply: Reply, text: str) -> None:
        await self.speech.speak_text(reply, text)
        await self.finish(reply)

    async def fail(self, reply: Reply, stage: str, exc: BaseException) -> None:
        """A stage failed: say so on the bus, apologise (unless the voice itself failed), end."""
        message = exc.message if isinstance(exc, EdgeAgentError) else f"{type(exc).__name__}: {exc}"
        log.warning("%s failed: %s", stage, message, exc_info=not isinstance(exc, EdgeAgentError))
        reply.publish(ErrorEvent(stage=stage, message=message, turn_id=reply.turn_id), self.publish)
        if stage != "tts":
            try:
                await self.speech.speak_text(reply, self.cfg.apology)
            except asyncio.CancelledError:
                raise
            except Exception as tts_exc:  # no voice either: say so on the bus, stay up
                self.publish(ErrorEvent(stage="tts", message=str(tts_exc), turn_id=reply.turn_id))
        await self.finish(reply)

    # --- the end ----------------------------------------------------------------------------------

    async def finish(self, reply: Reply) -> None:
        """Everything queued is heard; publish what was said and how long it took."""
        await reply.go.wait()
        if reply.started:
            await self.playback.drain()
            self.publish(AudioOutEnd(turn_id=reply.turn_id, audio_t=self.audio_t()))
        text = reply.finish()
        self.history.remember(reply.user_text, text, self.cfg.history_turns)
        if text:
            self.publish(ReplyText(text=text, turn_id=reply.turn_id, **reply.reply_to_fields()))
        self._turn_done(reply, text)

    def finish_interrupted(self, reply: Reply) -> None:
        """Barge-in or cancel: keep what was actually heard."""
        if not reply.interruptible:
            return  # a speculation thrown away: nothing was heard or published
        self.playback.stop()
        heard = reply.interrupt(self.playback.played())
        self.history.remember(reply.user_text, heard, self.cfg.history_turns)
        if reply.started:
            self.publish(ReplyText(text=heard, truncated=True, turn_id=reply.turn_id, **reply.reply_to_fields()))
            self.publish(AudioOutEnd(interrupted=True, turn_id=reply.turn_id, audio_t=self.audio_t()))
        self._turn_done(reply, heard)

    def _turn_done(self, reply: Reply, text: str) -> None:
        v2v, stages = reply.timings()
        route = self.router.last_route if self.router is not None else None
        self.publish(TurnDone(voice_to_voice_ms=v2v, stages=stages, text=reply.user_text or None,
                              reply=text or None, backend=route.backend if route else self.llm.name,
                              region=route.region if route else None, turn_id=reply.turn_id))

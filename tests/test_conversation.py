"""The conversation state machine, driven by scripted fake engines on a virtual clock.

Every engine here sleeps on the event loop's clock, and the loop jumps straight to the next timer
when nothing is ready, so a 30 s conversation runs in milliseconds and every latency is exact."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from edge_agent.agent import Conversation, ConversationSettings
from edge_agent.agent.speech_out import make_splitter, relax_splitter
from edge_agent.audio import SAMPLE_RATE as RATE
from edge_agent.bus import EventBus
from edge_agent.errors import LlmError
from edge_agent.events import (
    AgentState,
    BargeIn,
    Event,
    LlmFirstToken,
    LlmRoute,
    SpeechEnd,
    SpeechStart,
    StateChanged,
    TurnEnd,
    Wake,
)
from edge_agent.listen.hint import Hint
from edge_agent.llm.base import Delta, ToolCallRequest

# --- the virtual clock ------------------------------------------------------------------------


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """``time()`` is virtual: when nothing is ready, the loop jumps to its next timer at once."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        real_select = self._selector.select  # type: ignore[attr-defined]

        def select(timeout: float | None = None) -> Any:
            events = real_select(0)
            if not events and timeout is not None and timeout > 0:
                self._now += timeout
            return events

        self._selector.select = select  # type: ignore[attr-defined]

    def time(self) -> float:
        return self._now


@pytest.fixture
def run_virtual() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Runs a coroutine on a virtual-clock loop; fails if it leaves any task behind."""
    loops: list[VirtualClockLoop] = []

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        loop = VirtualClockLoop()
        loops.append(loop)
        asyncio.set_event_loop(loop)
        try:
            result = loop.run_until_complete(coro)
            leaked = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in leaked:
                t.cancel()
            if leaked:
                loop.run_until_complete(asyncio.gather(*leaked, return_exceptions=True))
            assert not leaked, f"leaked asyncio tasks: {leaked}"
            return result
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    return run


# --- fakes -------------------------------------------------------------------------------------


class FakeListener:
    """Says what was spoken when (``said``: (start_t, end_t, text)); records what it is told."""

    def __init__(self, said: list[tuple[float, float, str]] | None = None) -> None:
        self.said = said or []
        self.playback: list[bool] = []
        self.listens: list[float | None] = []
        self.stops = 0
        self.hints: list[tuple[float | None, float | None]] = []
        self.confidences: list[float] = []
        self.hinted = asyncio.Event()

    def set_playback_active(self, active: bool) -> None:
        self.playback.append(active)

    def listen(self, timeout_s: float | None) -> None:
        self.listens.append(timeout_s)

    def stop_listening(self) -> None:
        self.stops += 1

    def utterance(self, start_t: float, end_t: float) -> np.ndarray:
        return np.array([start_t, end_t])

    def set_semantic_hint(self, p: float | Hint | None, speech_end_t: float | None = None,
                          confidence: float = 1.0) -> None:
        self.hints.append((p, speech_end_t))
        self.confidences.append(confidence)
        self.hinted.set()


class FakeStt:
    def __init__(self, listener: FakeListener, delay: float = 0.15) -> None:
        self.listener = listener
        self.delay = delay
        self.calls: list[tuple[float, float]] = []

    async def transcribe(self, audio: np.ndarray) -> str:
        start, end = float(audio[0]), float(audio[1])
        self.calls.append((start, end))
        await asyncio.sleep(self.delay)
        return " ".join(t for s, e, t in self.listener.said if s >= start - 0.01 and e <= end + 0.01)


class FakeLlm:
    """Each call takes the next scripted answer: text (streamed word by word), a ToolCallRequest,
    or an exception. ``first`` s to the first token, ``per_token`` s per token after."""

    name = "fake"

    def __init__(self, answers: list[Any], first: float = 0.1, per_token: float = 0.02) -> None:
        self.answers = list(answers)
        self.first = first
        self.per_token = per_token
        self.calls: list[tuple[list[dict[str, Any]], Any]] = []
        self.closed_early = 0

    async def stream(self, messages: list[dict[str, Any]], tools: Any = None) -> AsyncIterator[Delta]:
        self.calls.append(([dict(m) for m in messages], tools))
        answer = self.answers.pop(0) if self.answers else "Okay."
        finished = False
        try:
            await asyncio.sleep(self.first)
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, ToolCallRequest):
                yield Delta(tool_call=answer)
            else:
                for i, word in enumerate(answer.split(" ")):
                    if i:
                        await asyncio.sleep(self.per_token)
                    yield Delta(text=(" " if i else "") + word)
            yield Delta(finish_reason="stop")
            finished = True
        finally:
            if not finished:
                self.closed_early += 1


class FakeRouter(FakeLlm):
    """A chat model that reports its own route and first token to subscribers (as the LLM router)."""

    name = "router"

    def __init__(self, answers: list[Any]) -> None:
        super().__init__(answers)
        self.subscribers: list[Callable[[Event], object]] = []
        self.last_route: Any = None

    def subscribe(self, callback: Callable[[Event], object]) -> Callable[[], None]:
        self.subscribers.append(callback)
        return lambda: self.subscribers.remove(callback)

    async def stream(self, messages: list[dict[str, Any]], tools: Any = None) -> AsyncIterator[Delta]:
        for callback in self.subscribers:
            callback(LlmRoute(backend="cloud", region="eu", reason="policy"))
        first = True
        async for delta in super().stream(messages, tools):
            if first and delta.text:
                first = False
                self.last_route = SimpleNamespace(backend="cloud", region="eu")
                for callback in self.subscribers:
                    callback(LlmFirstToken(ms=100.0, backend="cloud", region="eu"))
            yield delta


class FakeSpeaker:
    """0.3 s of audio per word, after ``delay`` s per clause."""

    sample_rate = RATE

    def __init__(self, delay: float = 0.05, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.clauses: list[str] = []

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        self.clauses.append(text)
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("onnxruntime exploded")
        yield np.ones(int(0.3 * RATE * len(text.split())), np.int16)


class FakePlayback:
    """Plays in real (virtual) time: ``played()`` grows at the sample rate while audio is queued."""

    sample_rate = RATE

    def __init__(self) -> None:
        self.queued = 0
        self.base = 0
        self.t0 = 0.0
        self.stops = 0
        self.writes: list[float] = []

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def played(self) -> int:
        return min(self.queued, self.base + int((self._now() - self.t0) * RATE))

    async def write(self, chunk: np.ndarray) -> None:
        if self.played() >= self.queued:  # was idle: playing starts now
            self.base, self.t0 = self.queued, self._now()
        self.writes.append(self._now())
        self.queued += int(chunk.size)

    async def drain(self) -> None:
        await asyncio.sleep(max(0, self.queued - self.played()) / RATE)

    def stop(self) -> None:
        self.stops += 1
        self.queued = self.base = self.played()
        self.t0 = self._now()


class FakeTools:
    publishes_events = False  # the conversation publishes the tool events

    def __init__(self, confirm: tuple[str, ...] = ()) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []
        self.confirm = confirm

    def specs(self) -> list[dict[str, Any]]:
        return [{"type": "function", "function": {"name": "set_light", "description": "light",
                                                  "parameters": {"type": "object", "properties": {}}}},
                {"type": "function", "function": {"name": "unlock_door", "description": "door",
                                                  "parameters": {"type": "object", "properties": {}}}}]

    def needs_confirmation(self, name: str) -> bool:
        return name in self.confirm

    async def run(self, name: str, arguments: dict[str, Any]) -> str:
        await asyncio.sleep(0.01)
        if name == "broken":
            raise ValueError("unknown tool broken")
        self.ran.append((name, arguments))
        return "done"


class Rig:
    def __init__(self, answers: list[Any], said: list[tuple[float, float, str]], *, follow_up_s: float = 4.0,
                 tools: FakeTools | None = None, speaker: FakeSpeaker | None = None, answerer: Any = None,
                 chime: np.ndarray | None = None, **cfg: Any) -> None:
        loop = asyncio.get_running_loop()
        self.bus = EventBus(clock=loop.time)
        self.events: list[Event] = []
        self.bus.subscribe(self.events.append)
        self.listener = FakeListener(said)
        self.stt = FakeStt(self.listener)
        self.llm = FakeLlm(answers)
        self.speaker = speaker or FakeSpeaker()
        self.playback = FakePlayback()
        self.conv = Conversation(
            bus=self.bus, llm=self.llm, speaker=self.speaker, playback=self.playback, transcriber=self.stt,
            listener=self.listener, tools=tools, audio_now=loop.time, answers=answerer, chime=chime,
            settings=ConversationSettings(system_prompt="Be brief.", follow_up_s=follow_up_s, **cfg),
        )

    async def at(self, t: float, event: Event) -> None:
        await asyncio.sleep(max(0.0, t - asyncio.get_running_loop().time()))
        self.conv.handle(event)

    async def turn(self, start: float, end: float, *, turn_end_after: float = 0.2, wake: float | None = None) -> None:
        if wake is not None:
            await self.at(wake, Wake(keyword="okay_nabu", audio_t=wake))
        await self.at(start, SpeechStart(audio_t=start))
        await self.at(end, SpeechEnd(audio_t=end))
        await self.at(end + turn_end_after, TurnEnd(audio_t=end + turn_end_after, speech_start_t=start,
                                                    last_speech_t=end, probability=0.9))

    async def settle(self) -> None:
        await self.conv.wait_idle()
        await asyncio.sleep(0)

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if str(e.type) == kind]

    def states(self) -> list[str]:
        return [str(e.state) for e in self.events if isinstance(e, StateChanged)]


# --- tests -------------------------------------------------------------------------------------


def test_one_voice_turn_publishes_every_stage_and_exact_latency(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["I can answer questions, set timers and tell jokes. Just ask."],
                  [(1.5, 3.0, "what can you do")])
        await rig.turn(1.5, 3.0, wake=1.0)
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    kinds = [str(e.type) for e in rig.events if str(e.type) != "state"]
    assert kinds == ["wake", "speech_start", "speech_end", "turn_end", "transcript", "llm_first_token",
                     "audio_out_start", "audio_out_end", "reply_text", "turn_done"]
    assert rig.states()[:4] == ["listening", "thinking", "speaking", "listening"]
    assert rig.of("transcript")[0].text == "what can you do"
    assert rig.of("reply_text")[0].text == "I can answer questions, set timers and tell jokes. Just ask."
    # the reply starts when silence begins (3.0): transcript at 3.15, first token 3.25, first
    # clause ("I can answer questions,") known when the next token arrives (3.33), TTS 0.05 ->
    # audio ready at 3.38; the turn end (3.2) confirmed it meanwhile: 380 ms after the last word.
    done = rig.of("turn_done")[0]
    assert done.voice_to_voice_ms == pytest.approx(380, abs=1)
    assert done.stages["head_start"] == pytest.approx(200, abs=1)
    assert done.stages["endpoint"] == pytest.approx(200)
    assert done.stages["stt"] == pytest.approx(0, abs=1)
    assert done.stages["llm_first_token"] == pytest.approx(100, abs=1)
    assert done.stages["tts_first_chunk"] == pytest.approx(50, abs=1)
    assert rig.stt.calls == [(1.5, 3.2)]
    assert rig.speaker.clauses[0] == "I can answer questions"  # as spoken: normalised
    assert rig.llm.calls[0][0][0] == {"role": "system", "content": "Be brief."}
    assert rig.conv.history == [{"role": "user", "content": "what can you do"},
                                {"role": "assistant", "content": rig.of("reply_text")[0].text}]
    assert rig.listener.playback == [True, False]
    assert all(e.turn_id == 1 for e in rig.events if not isinstance(e, StateChanged))


def test_the_chime_plays_through_the_playback_when_the_wake_word_opens_a_turn(run_virtual) -> None:  # type: ignore[no-untyped-def]
    chime = np.zeros(int(0.16 * RATE), np.int16)

    async def main() -> Rig:
        rig = Rig(["Hello."], [(1.5, 2.5, "hello")], chime=chime)
        await rig.turn(1.5, 2.5, wake=1.0)
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    # written at the wake word (before the reply), and the listener told playback was on meanwhile
    assert rig.playback.writes[0] == pytest.approx(1.0, abs=0.01)
    assert rig.playback.queued >= chime.size
    assert rig.listener.playback[:2] == [True, False]
    assert rig.of("reply_text")[0].text == "Hello."


def test_no_chime_when_the_user_is_already_talking_at_the_wake(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["Hello."], [(1.5, 2.5, "hello")], chime=np.zeros(int(0.16 * RATE), np.int16))
        await rig.at(1.0, Wake(keyword="okay_nabu", audio_t=1.0, user_talking=True))
        await rig.turn(1.5, 2.5)
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert rig.playback.writes[0] > 2.0  # the first write is the reply, not a chime at the wake
    assert rig.of("reply_text")[0].text == "Hello."


def test_speculation_is_thrown_away_when_the_user_goes_on(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["Sure."], [(1.5, 2.0, "set a timer"), (2.6, 3.0, "for ten minutes")])
        await rig.at(1.0, Wake(keyword="okay_nabu", audio_t=1.0))
        await rig.at(1.5, SpeechStart(audio_t=1.5))
        await rig.at(2.0, SpeechEnd(audio_t=2.0))
        await rig.at(2.6, SpeechStart(audio_t=2.6))
        await rig.at(3.0, SpeechEnd(audio_t=3.0))
        await rig.at(3.2, TurnEnd(audio_t=3.2, speech_start_t=1.5, last_speech_t=3.0))
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert rig.stt.calls == [(1.5, 2.2), (1.5, 3.2)]
    # the thrown-away speculation published nothing and never reached the LLM's history
    assert [e.text for e in rig.of("transcript")] == ["set a timer for ten minutes"]
    assert len(rig.of("turn_done")) == 1 and len(rig.of("reply_text")) == 1


def test_turn_end_before_speculation_finishes_waits_for_it(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["Yes."], [(1.5, 3.0, "hello")])
        rig.stt.delay = 0.5
        await rig.turn(1.5, 3.0, wake=1.0)
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert len(rig.stt.calls) == 1
    assert rig.of("turn_done")[0].stages["stt"] == pytest.approx(300, abs=1)


def test_follow_up_needs_no_wake_word_then_times_out_to_idle(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["It is sunny.", "Tomorrow too."], [(1.5, 2.5, "weather"), (6.0, 6.8, "and tomorrow")])
        await rig.turn(1.5, 2.5, wake=1.0)
        await rig.turn(6.0, 6.8)  # no wake word: inside the follow-up window
        await rig.settle()
        await asyncio.sleep(10)  # nothing said: the window closes
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert [e.text for e in rig.of("reply_text")] == ["It is sunny.", "Tomorrow too."]
    assert rig.conv.state == AgentState.IDLE
    assert rig.listener.listens == [4.0, 4.0]
    # the second call saw the first exchange in its history
    assert [m["content"] for m in rig.llm.calls[1][0]] == ["Be brief.", "weather", "It is sunny.", "and tomorrow"]
    assert [e.turn_id for e in rig.of("turn_done")] == [1, 2]


def test_barge_in_stops_playback_at_once_and_keeps_what_was_heard(run_virtual) -> None:  # type: ignore[no-untyped-def]
    long_answer = ("Once upon a time there was a dragon who lived in a cave, and every morning he flew "
                   "over the hills to look for breakfast, and every evening he came back tired.")

    async def main() -> tuple[Rig, float]:
        rig = Rig([long_answer, "Okay, stopping."], [(1.5, 2.5, "tell me a story"), (7.2, 7.7, "stop")])
        rig.llm.per_token = 0.2  # still writing when the user interrupts
        await rig.turn(1.5, 2.5, wake=1.0)
        await asyncio.sleep(4.5)  # mid-reply: the first clause is being heard, the LLM still writes
        assert rig.conv.state == AgentState.SPEAKING
        t = asyncio.get_running_loop().time()
        rig.conv.handle(BargeIn(audio_t=t))
        stopped_after = rig.playback.stops
        await asyncio.sleep(0)
        assert rig.playback.stops >= 1 and stopped_after >= 1, "stop must happen inside handle()"
        await rig.at(t + 0.5, SpeechEnd(audio_t=t + 0.5))
        await rig.at(t + 0.7, TurnEnd(audio_t=t + 0.7, speech_start_t=t, last_speech_t=t + 0.5))
        await rig.settle()
        await rig.conv.close()
        return rig, t

    rig, t = run_virtual(main())
    barge = rig.of("barge_in")[0]
    assert barge.stop_ms is not None and barge.stop_ms < 100
    first = rig.of("reply_text")[0]
    assert first.truncated
    heard = first.text
    assert heard and long_answer.startswith(heard.rstrip(",")) and len(heard) < len(long_answer) / 2
    assert rig.of("audio_out_end")[0].interrupted
    assert rig.llm.closed_early == 1, "the LLM stream is cancelled"
    # what was heard, not what was planned, is in the history the next turn sees
    assert rig.llm.calls[1][0][2] == {"role": "assistant", "content": heard}
    assert rig.of("reply_text")[1].text == "Okay, stopping."


def test_own_voice_barge_in_is_ignored_when_disabled(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["One two three four five six seven eight."], [(1.5, 2.5, "count")], barge_in=False)
        await rig.turn(1.5, 2.5, wake=1.0)
        await asyncio.sleep(1.0)
        rig.conv.handle(BargeIn(audio_t=4.0))
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert not rig.of("barge_in")
    assert not rig.of("reply_text")[0].truncated


def test_llm_error_gives_a_spoken_apology_and_an_error_event(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig([LlmError("local LLM failed: boom")], [(1.5, 2.5, "hello")], apology="Sorry, try again.")
        await rig.turn(1.5, 2.5, wake=1.0)
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    err = rig.of("error")[0]
    assert err.stage == "llm" and "boom" in err.message
    assert rig.of("reply_text")[0].text == "Sorry, try again."
    assert rig.of("turn_done")[0].reply == "Sorry, try again."


def test_tts_failure_is_an_error_event_and_the_agent_stays_up(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["Hello there."], [(1.5, 2.5, "hi"), (9.0, 9.5, "hi")], speaker=FakeSpeaker(fail=True))
        await rig.turn(1.5, 2.5, wake=1.0)
        await rig.settle()
        rig.speaker.fail = False
        await rig.turn(9.0, 9.5, wake=8.5)
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert rig.of("error")[0].stage == "tts"
    assert [e.text for e in rig.of("reply_text")] == ["Okay."]


def test_silence_only_gives_no_reply(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["never said"], [])
        await rig.at(1.0, Wake(keyword="okay_nabu", audio_t=1.0))
        await rig.at(9.0, TurnEnd(audio_t=9.0, reason="timeout"))
        await rig.settle()
        # a noise burst that transcribes to nothing: no reply either
        await rig.turn(11.0, 11.4, wake=10.5)
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert not rig.of("reply_text") and not rig.llm.calls
    assert rig.conv.state == AgentState.IDLE


def test_tool_call_runs_and_its_result_feeds_the_spoken_answer(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        tools = FakeTools()
        rig = Rig([ToolCallRequest("set_light", {"room": "kitchen", "on": True}), "The kitchen light is on."],
                  [(1.5, 2.5, "kitchen light on")], tools=tools)
        await rig.turn(1.5, 2.5, wake=1.0)
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    tool = rig.of("tool")[0]
    assert (tool.name, tool.arguments, tool.ok, tool.result) == ("set_light", {"room": "kitchen", "on": True}, True, "done")
    assert rig.llm.calls[0][1] is not None and rig.llm.calls[1][1] is None
    assert rig.llm.calls[1][0][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "done"}
    assert rig.of("reply_text")[0].text == "The kitchen light is on."


def test_confirm_marked_tool_asks_first_and_runs_on_yes(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        tools = FakeTools(confirm=("unlock_door",))
        rig = Rig([ToolCallRequest("unlock_door", {}), "The door is unlocked."],
                  [(1.5, 2.5, "unlock the door"), (6.0, 6.4, "yes please")], tools=tools)
        await rig.turn(1.5, 2.5, wake=1.0)
        await rig.settle()
        assert not tools.ran
        await rig.turn(6.0, 6.4)
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert rig.of("reply_text")[0].text == "Should I unlock door? Say yes to confirm."
    assert rig.of("tool")[0].name == "unlock_door"
    assert rig.of("reply_text")[1].text == "The door is unlocked."


def test_agent_control_say_ask_mute_cancel(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["Paris."], [])
        rig.conv.say("Hello, I am ready.")
        await rig.settle()
        rig.conv.ask("What is the capital of France?", reply_to="corr-1")
        await rig.settle()
        rig.conv.mute()
        rig.conv.handle(Wake(keyword="okay_nabu", audio_t=1.0))
        assert rig.conv.state == AgentState.MUTED
        rig.conv.unmute()
        rig.conv.say("A long sentence that will be cut short by the cancel command.")
        await asyncio.sleep(0.5)
        rig.conv.cancel()
        await rig.settle()
        rig.conv.set_volume(0.5)
        rig.conv.wake()
        assert rig.conv.state == AgentState.LISTENING
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    replies = rig.of("reply_text")
    assert replies[0].text == "Hello, I am ready."
    assert replies[1].text == "Paris." and replies[1].reply_to == "corr-1"
    assert replies[2].truncated
    assert [e.keyword for e in rig.of("wake")] == ["push_to_talk"]  # the muted wake was not even published
    assert rig.listener.listens[-1] is None  # push-to-talk asks the listener to listen now


def test_thirty_second_conversation_runs_in_milliseconds(run_virtual) -> None:  # type: ignore[no-untyped-def]
    said = [(1.5 + 5 * i, 2.5 + 5 * i, f"question {i}") for i in range(6)]

    async def main() -> Rig:
        rig = Rig([f"Answer {i}." for i in range(6)], said, follow_up_s=4.0, history_turns=3)
        await rig.at(1.0, Wake(keyword="okay_nabu", audio_t=1.0))
        for start, end, _ in said:
            await rig.turn(start, end)
        await rig.settle()
        await rig.conv.close()
        return rig

    t0 = time.perf_counter()
    rig = run_virtual(main())
    wall = time.perf_counter() - t0
    assert len(rig.of("turn_done")) == 6
    assert [e.text for e in rig.of("transcript")] == [t for _, _, t in said]
    assert len(rig.conv.history) == 6  # history_turns=3 bounds it
    print(f"30 s of conversation in {wall * 1000:.0f} ms of wall time")


def test_the_reply_splitter_cuts_early_at_commas_and_sentences() -> None:
    s = make_splitter()
    out: list[str] = []
    for tok in ["Sure", ",", " I", " can", " help", ",", " no", " problem", ".", " Bye", "!"]:
        clauses = s.feed(tok)
        if clauses:
            relax_splitter(s)  # as the speech-out path does after the first clause
        out += clauses
    out += s.flush()
    assert out == ["Sure, I can help,", "no problem.", "Bye!"]


def test_a_speculative_reply_waits_for_the_turn_end_before_it_is_heard(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["Sure, here it is."], [(1.5, 3.0, "read me the news")])
        await rig.turn(1.5, 3.0, wake=1.0, turn_end_after=1.5)  # the turn model hesitated
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert rig.playback.writes[0] == pytest.approx(4.5)  # ready long before, played at the turn end
    done = rig.of("turn_done")[0]
    assert done.voice_to_voice_ms == pytest.approx(1500, abs=1)
    kinds = [str(e.type) for e in rig.events if str(e.type) != "state"]
    assert kinds.index("turn_end") < kinds.index("transcript")  # held events follow the turn end


def test_a_monologue_cut_by_the_listener_is_still_answered(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["That was a lot."], [(1.5, 31.5, "blah " * 80)])
        await rig.at(1.0, Wake(keyword="okay_nabu", audio_t=1.0))
        await rig.at(1.5, SpeechStart(audio_t=1.5))
        await rig.at(31.5, TurnEnd(audio_t=31.5, speech_start_t=1.5, last_speech_t=31.5, reason="max_length"))
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert rig.of("turn_done")[0].stages["endpoint"] == 0
    assert rig.of("reply_text")[0].text == "That was a lot."


def test_the_speculative_transcript_gives_the_turn_policy_a_semantic_hint(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["Sure."], [(1.5, 3.0, "set a timer for ten minutes")])
        rig.conv.completeness = lambda text: 0.8 if text.endswith("minutes") else 0.1
        await rig.at(1.0, Wake(keyword="okay_nabu", audio_t=1.0))
        await rig.at(1.5, SpeechStart(audio_t=1.5))
        await rig.at(3.0, SpeechEnd(audio_t=3.0))
        await rig.listener.hinted.wait()  # computed on a worker thread
        await rig.at(3.6, TurnEnd(audio_t=3.6, speech_start_t=1.5, last_speech_t=3.0))
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    (hint, end_t), = rig.listener.hints  # a whole hint: the words it was computed on, for a trained decision
    assert (hint.p, hint.text, end_t) == (0.8, "set a timer for ten minutes", 3.0)
    assert rig.of("reply_text")[0].text == "Sure."


def test_a_routing_chat_model_reports_its_own_events_with_the_turn_id(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> tuple[Rig, FakeRouter]:
        rig = Rig([], [(1.5, 3.0, "what can you do")])
        router = FakeRouter(["I can answer questions."])
        rig.conv = Conversation(bus=rig.bus, llm=router, speaker=rig.speaker, playback=rig.playback,
                                transcriber=rig.stt, listener=rig.listener, audio_now=asyncio.get_running_loop().time)
        await rig.turn(1.5, 3.0, wake=1.0)
        await rig.settle()
        await rig.conv.close()
        return rig, router

    rig, router = run_virtual(main())
    kinds = [str(e.type) for e in rig.events if str(e.type) != "state"]
    # the speculation's route and first token were held, then published after the turn end
    assert kinds == ["wake", "speech_start", "speech_end", "turn_end", "transcript", "llm_route", "llm_first_token",
                     "audio_out_start", "audio_out_end", "reply_text", "turn_done"]
    assert rig.of("llm_route")[0].turn_id == 1 and rig.of("llm_first_token")[0].turn_id == 1
    done = rig.of("turn_done")[0]
    assert (done.backend, done.region) == ("cloud", "eu")
    assert router.subscribers == [], "the conversation unsubscribes when it closes"


def test_muted_stays_muted_until_unmuted(run_virtual) -> None:  # type: ignore[no-untyped-def]
    async def main() -> Rig:
        rig = Rig(["One two three four five six seven eight."], [(1.5, 2.5, "count")])
        await rig.turn(1.5, 2.5, wake=1.0)
        await asyncio.sleep(1.0)
        assert rig.conv.state == AgentState.SPEAKING
        rig.conv.unmute()  # not muted: nothing changes, the reply goes on
        assert rig.conv.state == AgentState.SPEAKING
        rig.conv.mute()
        rig.conv.cancel()  # nothing to cancel: still muted
        rig.conv.wake()
        assert rig.conv.state == AgentState.MUTED
        rig.conv.unmute()
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    assert rig.states()[-3:] == ["idle", "muted", "idle"]
    assert rig.of("reply_text")[0].truncated
    assert [e.keyword for e in rig.of("wake")] == ["okay_nabu"]


# --- the answer router in the turn --------------------------------------------------------------


class FakeAnswerer:
    """Answers as :class:`edge_agent.answers.router.AnswerRouter`: ``answers`` maps a transcript to
    its Answer; an intent "acts" (records the time) only once ``before_acting`` returns."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.decided: list[tuple[str, float]] = []
        self.acted: list[tuple[str, float]] = []

    async def answer(self, text: str, before_acting: Any = None) -> Any:
        from edge_agent.answers.answer import Source

        loop = asyncio.get_running_loop()
        self.decided.append((text, loop.time()))
        answer = self.answers[text]
        if answer.source is Source.INTENT:
            if before_acting is not None:
                await before_acting()
            self.acted.append((text, loop.time()))
        return answer


def test_an_intent_is_spoken_without_the_llm_and_acts_only_once_the_turn_is_final(run_virtual) -> None:  # type: ignore[no-untyped-def]
    from edge_agent.answers.answer import Answer, Source

    intent = Answer(source=Source.INTENT, reason="matched HassTurnOn", intent="HassTurnOn",
                    text="Done: the kitchen light is on.")

    async def main() -> tuple[Rig, FakeAnswerer]:
        answerer = FakeAnswerer({"turn on the kitchen light": intent})
        rig = Rig([], [(1.5, 3.0, "turn on the kitchen light")], answerer=answerer)
        await rig.turn(1.5, 3.0, wake=1.0)
        await rig.settle()
        await rig.conv.close()
        return rig, answerer

    rig, answerer = run_virtual(main())
    assert rig.llm.calls == []  # the LLM is never asked
    assert [e.text for e in rig.of("reply_text")] == ["Done: the kitchen light is on."]
    routed = rig.of("answer_routed")
    assert len(routed) == 1 and routed[0].source == "intent" and routed[0].turn_id is not None
    # decided on the speculative transcript (3.15), acted only after the turn end (3.2) confirmed it
    assert answerer.decided[0][1] == pytest.approx(3.15, abs=0.01)
    assert answerer.acted[0][1] >= 3.2


def test_a_speculative_intent_the_user_talks_over_never_acts(run_virtual) -> None:  # type: ignore[no-untyped-def]
    from edge_agent.answers.answer import Answer, Source

    intent = Answer(source=Source.INTENT, reason="matched HassTurnOn", text="Done.")
    later = Answer(source=Source.DECLINE, reason="no passage", text="I don't know that.")

    async def main() -> tuple[Rig, FakeAnswerer]:
        answerer = FakeAnswerer({"turn on the": intent, "turn on the kitchen light please": later,
                                 "kitchen light please": later})
        rig = Rig([], [(1.5, 3.0, "turn on the"), (3.4, 4.5, "kitchen light please")], answerer=answerer)
        await rig.at(1.0, Wake(keyword="okay_nabu", audio_t=1.0))
        await rig.at(1.5, SpeechStart(audio_t=1.5))
        await rig.at(3.0, SpeechEnd(audio_t=3.0))  # a pause: speculation starts
        await rig.at(3.4, SpeechStart(audio_t=3.4))  # the user goes on: it is dropped
        await rig.at(4.5, SpeechEnd(audio_t=4.5))
        await rig.at(4.7, TurnEnd(audio_t=4.7, speech_start_t=1.5, last_speech_t=4.5, probability=0.9))
        await rig.settle()
        await rig.conv.close()
        return rig, answerer

    rig, answerer = run_virtual(main())
    assert answerer.acted == []  # the half-sentence's intent was decided, never carried out
    assert [e.source for e in rig.of("answer_routed")] == ["decline"]


def test_small_talk_goes_to_the_llm_with_the_routers_prompt_and_no_tools(run_virtual) -> None:  # type: ignore[no-untyped-def]
    from edge_agent.answers.answer import Answer, LlmRequest, Source

    chat = Answer(source=Source.CHITCHAT, reason="small talk",
                  llm=LlmRequest(messages=[{"role": "system", "content": "No facts."},
                                           {"role": "user", "content": "how are you"}], policy="local_only"))

    async def main() -> Rig:
        rig = Rig(["I'm well, thanks."], [(1.5, 3.0, "how are you")], tools=FakeTools(),
                  answerer=FakeAnswerer({"how are you": chat}))
        await rig.turn(1.5, 3.0, wake=1.0)
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    [(messages, tools)] = rig.llm.calls
    assert messages[0] == {"role": "system", "content": "No facts."} and tools is None
    assert [e.text for e in rig.of("reply_text")] == ["I'm well, thanks."]


class ScoredStt(FakeStt):
    """A fake STT that also scores its transcripts: every decode is doubtful (mean log-prob -0.7)."""

    async def transcribe_scored(self, audio: np.ndarray):  # type: ignore[no-untyped-def]
        from edge_agent.stt.base import Transcription

        return Transcription(await self.transcribe(audio), -0.7, 0.0)


def test_the_hint_carries_the_transcript_confidence_when_the_trust_is_on(run_virtual) -> None:  # type: ignore[no-untyped-def]
    from edge_agent.listen.hint import HintTrust

    async def main() -> Rig:
        rig = Rig(["Sure."], [(1.5, 3.0, "set a timer for ten minutes")],
                  hint_trust=HintTrust(doubt_logprob=-1.2, sure_logprob=-0.2))
        rig.conv.responder.transcriber = ScoredStt(rig.listener)
        rig.conv.completeness = lambda text: 0.8
        await rig.at(1.0, Wake(keyword="okay_nabu", audio_t=1.0))
        await rig.at(1.5, SpeechStart(audio_t=1.5))
        await rig.at(3.0, SpeechEnd(audio_t=3.0))
        await rig.listener.hinted.wait()
        await rig.at(3.6, TurnEnd(audio_t=3.6, speech_start_t=1.5, last_speech_t=3.0))
        await rig.settle()
        await rig.conv.close()
        return rig

    rig = run_virtual(main())
    (hint, end_t), = rig.listener.hints
    assert (hint.p, end_t, hint.confidence, hint.avg_logprob, hint.no_speech_prob) == (0.8, 3.0, pytest.approx(0.5),
                                                                                         -0.7, 0.0)
    assert rig.listener.confidences == [pytest.approx(0.5)]  # -0.7 is halfway between -1.2 and -0.2
